"""`--jobs auto`: the admission decision (a pure function) and the hand-out order."""

from __future__ import annotations

import pytest

from harness import admission, shards
from harness.admission import ADMIT_MS, SHED_MS, WINDOWS


def test_a_run_starts_with_one_job_per_core_and_never_more_than_its_pairs():
    assert admission.initial(2, 72) == 2
    assert admission.initial(8, 3) == 3
    assert admission.initial(2, 1) == 1


def test_a_quiet_machine_admits_one_more_job_up_to_three_per_core():
    quiet = [ADMIT_MS / 2] * WINDOWS
    assert admission.target(2, 2, quiet) == 3
    assert admission.target(5, 2, quiet) == 6
    assert admission.target(6, 2, quiet) == 6  # the ceiling: 3 x cores


def test_fewer_seconds_than_the_window_are_not_evidence_enough_to_change():
    assert admission.target(2, 2, [0.5] * (WINDOWS - 1)) is None
    assert admission.target(3, 2, [500.0] * (WINDOWS - 1)) is None
    assert admission.target(2, 2, []) is None


@pytest.mark.parametrize("late", [ADMIT_MS + 0.1, SHED_MS])
def test_noise_between_the_admit_and_shed_budgets_holds_the_concurrency(late: float):
    assert admission.target(3, 2, [late] * WINDOWS) == 3


def test_noise_beyond_the_slack_sheds_a_job_but_never_the_last():
    assert admission.target(4, 2, [SHED_MS + 0.1] * WINDOWS) == 3
    assert admission.target(1, 2, [500.0] * WINDOWS) == 1


def test_the_median_second_decides_so_one_spike_neither_sheds_nor_hides_a_loaded_machine():
    spike = [1.0] * (WINDOWS - 1) + [500.0]
    assert admission.target(3, 2, spike) == 4
    loaded = [SHED_MS * 2] * (WINDOWS - 1) + [0.1]
    assert admission.target(3, 2, loaded) == 2
    # Only the latest window counts: a loud start long ago does not hold a quiet machine back.
    assert admission.target(2, 2, [500.0] * WINDOWS + [1.0] * WINDOWS) == 3


def test_the_budgets_sit_inside_the_fixed_measurement_slack():
    from harness.judging.bands import SLACK_MS

    assert 0 < ADMIT_MS < SHED_MS <= SLACK_MS


def test_pairs_are_handed_out_longest_first_ties_in_order():
    keys = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")]
    cost = {("b", "x"): 186.0, ("d", "x"): 40.0}
    assert shards.longest_first(keys, cost) == [1, 3, 0, 2]  # a and c count DEFAULT_COST (15 s) each
