"""An entry's outcome: decided once, when the entry is judged, and stored in it.

Every report, the terminal table, compare, the baseline gate and the pytest
plugin read `entry["outcome"]`; none of them works it out again from the
entry's status, its checks or its reasons. Vocabulary: docs/judging.md.

  error          the harness's environment failed; nothing is judged
  interrupted    the run was stopped before the entry finished
  skipped        the backend cannot run the scenario's topology; nothing ran
  not-applicable the library lacks what the scenario needs (no check applies)
  metrics-only   measured, but nothing to judge here
  violated       at least one invariant is violated (harness/judging/invariants.py)
  deviates       no invariant is violated, and at least one check deviates
  not-measured   nothing violated or deviates, and at least one check could not be measured
  conforms       every claim of the documentation conforms (and every invariant holds)
  holds          no claim applies, and every invariant holds

Checks merge as Jepsen's checker merges validity: a failure outweighs an
unknown, and an unknown outweighs a pass, so a partly measured entry never
reads "conforms".
"""

from __future__ import annotations

from collections import Counter

from harness import noise
from harness.judging.judge import ALL_VERDICTS, NOISE

OUTCOMES = (
    "error",
    "interrupted",
    "skipped",
    "not-applicable",
    "metrics-only",
    "violated",
    "deviates",
    "not-measured",
    "conforms",
    "holds",
)
# The outcomes of entries whose checks were judged, worst first: the merge of
# several verdicts is the first that occurs.
JUDGED = ("violated", "deviates", "not-measured", "conforms", "holds")


def counts(checks: list[dict]) -> dict[str, int]:
    """How many checks have each verdict (every verdict named, zeros included)."""
    c = Counter(x["verdict"] for x in checks)
    return {v: c.get(v, 0) for v in ALL_VERDICTS}


def merge(verdicts: list[str]) -> str:
    """One word for several verdicts: the worst of them."""
    for v in JUDGED:
        if v in verdicts:
            return v
    raise ValueError("no verdicts to merge")


def decide(entry: dict) -> dict:
    """The outcome of a judged (or failed) entry: its word, why (one line, or
    None), and the verdict counts."""
    tally = counts(entry["checks"])
    if entry["status"] in ("error", "interrupted"):
        return _outcome(entry["status"], entry["error"], tally)
    if entry.get("skipped"):
        return _outcome("skipped", entry["skipped"], tally)
    if not entry["checks"]:
        if entry.get("unsupported"):
            return _outcome("not-applicable", entry["unsupported"], tally)
        return _outcome("metrics-only", "measured only: the documentation makes no claim here", tally)
    return _outcome(merge([c["verdict"] for c in entry["checks"]]), entry.get("unsupported"), tally)


def _outcome(result: str, reason: str | None, tally: dict[str, int]) -> dict:
    return {"result": result, "reason": reason, "counts": tally}


# A run is "too loaded to judge" when more than this share of its timing checks
# could not be told from the measured noise (docs/judging.md, "Too loaded to judge").
TOO_LOADED_SHARE = 0.10


def is_timing(check: dict) -> bool:
    """A claim judged on times (in ms): the checks the machine's noise can blur."""
    return check.get("kind", "claim") == "claim" and check.get("unit") == "ms"


def run_noise(entries: list[dict]) -> dict:
    """The run's timing noise, for every report to print as it is: `noise` checks
    not-measured because of noise (`why: noise`), `timing` checks in all, `max_ms`
    the worst noise budget of any entry (None if none was measured), `too_loaded`
    when more than TOO_LOADED_SHARE of the timing checks could not be decided, and
    `line`, the sentence to print (None when no check was lost to noise)."""
    checks = [c for e in entries for c in e.get("checks", [])]
    timing = sum(1 for c in checks if is_timing(c))
    noisy = sum(1 for c in checks if c.get("why") == NOISE)
    budgets = [noise.budget_ms(e.get("noise")) for e in entries if e.get("noise")]
    worst = max(budgets) if budgets else None
    too_loaded = noisy > TOO_LOADED_SHARE * timing
    line = None
    if noisy:
        of = f"{noisy} of {timing} timing checks"
        lateness = f" (worst timer lateness {worst:g} ms)" if worst is not None else ""
        line = f"{of} could not be told from the machine's timing noise{lateness}"
        if too_loaded:
            line = (
                f"TOO LOADED TO JUDGE: {line}, more than {TOO_LOADED_SHARE:.0%}; "
                "run again on a quieter machine or with fewer --jobs"
            )
        else:
            line += ": those are not-measured"
    return {"noise": noisy, "timing": timing, "max_ms": worst, "too_loaded": too_loaded, "line": line}
