"""`--jobs auto`: how many jobs may run side by side, decided from the machine's
timing noise (harness/noise.py) as it is now.

More jobs finish the suite sooner, since it mostly waits on real reconnect
schedules, but each job adds timer lateness to every other, and lateness the
bands cannot absorb turns verdicts into not-measured. So a run starts with one job
per core, admits one more while the machine stayed well inside the fixed
measurement slack at the current concurrency, sheds one (the next job to finish a
pair stops) when it went beyond the slack, and never runs more than three jobs per
core (docs/decisions.md says why three).

The evidence is a probe of its own beside the jobs (`python -m harness.noise`,
one summary a second): its p99 lateness per second, the median over the last
WINDOWS seconds at this concurrency. A run used to wait for finished entries
instead, and the longest pairs, handed out first, kept it at one job per core for
the first two minutes of the suite; an entry's own figure also counts what its own
process does (a storm's harness is busy reading events), which more jobs do not
add to. An entry's noise still widens its own bands (noise.budget_ms), so whatever
this decides costs verdicts, never wrong ones.
A pure function: the parent (parallel.run_auto) keeps the figures and asks it
whenever one arrives.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from harness.judging.bands import SLACK_MS

# Another job is admitted while the machine's p99 lateness stays within half the
# fixed slack: values land well inside every band. Beyond the whole slack noise
# starts to decide checks, so one job is shed. In between, it holds.
ADMIT_MS = SLACK_MS / 2
SHED_MS = SLACK_MS
# Seconds of probe measured wholly at the current concurrency before it changes
# again: a job admitted starts its servers (a JVM takes seconds), so a shorter
# look would see a machine quieter than it is about to be.
WINDOWS = 10
# Measured on the 85-pair suite, 2 cores, over three runs: three per core came
# within 1.12-1.26x of the floor with 1-3 of 182 checks going to or from
# not-measured and none wrong; two per core took 1.49-1.53x.
JOBS_PER_CORE = 3


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


def machine_ms(machine_p99_ms: Sequence[float]) -> float | None:
    """The figure decided on: the median second's p99 over the last WINDOWS seconds,
    None before there are that many."""
    return statistics.median(machine_p99_ms[-WINDOWS:]) if len(machine_p99_ms) >= WINDOWS else None


def target(running: int, n_cores: int, machine_p99_ms: Sequence[float]) -> int | None:
    """How many jobs should run, given `running` now and the probe's per-second p99
    lateness (ms) since the concurrency last changed; None (nothing decided) before
    there is a figure: fewer running then is a job that ended, not one to shed."""
    now = machine_ms(machine_p99_ms)
    if now is None:
        return None
    if now > SHED_MS:
        want = running - 1
    elif now <= ADMIT_MS:
        want = running + 1
    else:
        want = running
    return max(1, min(want, ceiling(n_cores)))
