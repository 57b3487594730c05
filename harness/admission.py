"""`--jobs auto`: how many jobs may run side by side, decided from the timing noise
the latest entries measured (harness/noise.py).

More jobs finish the suite sooner, since it mostly waits on real reconnect
schedules, but each job adds timer lateness to every other, and lateness the
bands cannot absorb turns verdicts into not-measured. So a run starts with one job
per core, admits one more while every entry that ran wholly at the current
concurrency stayed well inside the fixed measurement slack, sheds one (the next
job to finish a pair stops) when one went beyond it, and never runs more than
two jobs per core. The figure is each entry's p99 lateness (noise.p99_ms): the
sustained load more jobs add to. Its maximum is a single spike, which anything
on the machine can cause and fewer jobs would not prevent; it still widens that
entry's bands (noise.budget_ms), so a spike costs verdicts, never wrong ones.
A pure function: the parent (parallel.run_auto) keeps the figures and asks it
after every finished entry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.judging.bands import SLACK_MS

# Another job is admitted while the recent entries' p99 lateness all stay within
# half the fixed slack: their values land well inside every band. Beyond the whole
# slack noise starts to decide checks, so one job is shed. In between, it holds.
ADMIT_MS = SLACK_MS / 2
SHED_MS = SLACK_MS
# Entries measured wholly at the current concurrency before it grows again.
EVIDENCE = 2
JOBS_PER_CORE = 2


def cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def ceiling(n_cores: int) -> int:
    return JOBS_PER_CORE * max(1, n_cores)


def initial(n_cores: int, pairs: int) -> int:
    """Jobs to start with, before anything is measured: one per core."""
    return max(1, min(n_cores, pairs))


def target(running: int, n_cores: int, recent_ms: Sequence[float]) -> int:
    """How many jobs should run, given `running` now and the p99 lateness (ms) of the
    entries that ran wholly at this concurrency (since it last changed)."""
    if recent_ms and max(recent_ms) > SHED_MS:
        want = running - 1
    elif len(recent_ms) >= EVIDENCE and max(recent_ms) <= ADMIT_MS:
        want = running + 1
    else:
        want = running
    return max(1, min(want, ceiling(n_cores)))
