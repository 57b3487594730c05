"""`--jobs auto`: the admission decision (a pure function) and the hand-out order."""

from __future__ import annotations

import pytest

from harness import admission, shards
from harness.admission import ADMIT_MS, EVIDENCE, SHED_MS


def test_a_run_starts_with_one_job_per_core_and_never_more_than_its_pairs():
    assert admission.initial(2, 72) == 2
    assert admission.initial(8, 3) == 3
    assert admission.initial(2, 1) == 1


def test_quiet_entries_admit_one_more_job_up_to_two_per_core():
    quiet = [ADMIT_MS / 2] * EVIDENCE
    assert admission.target(2, 2, quiet) == 3
    assert admission.target(3, 2, quiet) == 4
    assert admission.target(4, 2, quiet) == 4  # the ceiling: 2 x cores


def test_one_entry_is_not_evidence_enough_to_grow():
    assert admission.target(2, 2, [0.5] * (EVIDENCE - 1)) == 2
    assert admission.target(2, 2, []) == 2


@pytest.mark.parametrize("late", [ADMIT_MS + 0.1, SHED_MS])
def test_noise_between_the_admit_and_shed_budgets_holds_the_concurrency(late: float):
    assert admission.target(3, 2, [1.0, late]) == 3


def test_noise_beyond_the_slack_sheds_a_job_but_never_the_last():
    assert admission.target(4, 2, [1.0, SHED_MS + 0.1]) == 3
    assert admission.target(1, 2, [500.0]) == 1
    # One late entry is enough: its checks may already be lost to noise.
    assert admission.target(3, 2, [SHED_MS + 5]) == 2


def test_the_budgets_sit_inside_the_fixed_measurement_slack():
    from harness.judging.bands import SLACK_MS

    assert 0 < ADMIT_MS < SHED_MS <= SLACK_MS


def test_pairs_are_handed_out_longest_first_ties_in_order():
    keys = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")]
    cost = {("b", "x"): 186.0, ("d", "x"): 40.0}
    assert shards.longest_first(keys, cost) == [1, 3, 0, 2]  # a and c count DEFAULT_COST (15 s) each
