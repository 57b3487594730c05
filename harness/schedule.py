"""Schedules: faults placed in time (at, for, repeat), seeded, replayable.

A schedule is data. Expanding it gives a plain, sorted list of (time, begin/end,
fault) actions; the same schedule and seed always expand to the same list, which
is what a replay runs again.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from harness.backends import Live
from harness.clock import now_ns
from harness.errors import UsageError
from harness.faults import Fault, FaultLog


@dataclass
class Step:
    at_s: float  # first start, seconds after the schedule starts
    kind: str
    target: str
    params: dict = field(default_factory=dict)
    for_s: float | None = None  # None: lasts until the schedule ends
    every_s: float | None = None  # repeat period
    times: int = 1  # how many starts in all

    def __post_init__(self) -> None:
        Fault(self.kind, self.target, self.params)  # a bad fault is refused now, not once servers run
        what = f"schedule step {self.kind} on {self.target!r}"
        for name in ("at_s", "for_s", "every_s"):
            value = getattr(self, name)
            if value is not None or name == "at_s":
                _check_seconds(f"{what}: {name}", value)
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise UsageError(f"{what}: times must be a whole number, at least 1, not {self.times!r}")
        if self.times > 1 and not self.every_s:
            raise UsageError(f"{what}: repeating needs every_s")


def _check_seconds(what: str, value: object) -> None:
    """A number of seconds: finite (also as a float: nan, inf and ints beyond a float's range are refused)
    and not negative."""
    try:
        finite = not isinstance(value, bool) and isinstance(value, int | float) and abs(float(value)) < math.inf
    except OverflowError:
        finite = False
    if not finite:
        raise UsageError(f"{what} = {value!r} is not a finite number of seconds")
    if value < 0:
        raise UsageError(f"{what} must not be negative")


@dataclass
class Schedule:
    steps: list[Step]
    seed: int = 0
    jitter_s: float = 0.0  # each start moves by up to this much, drawn from the seed

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"schedule seed must be a whole number, not {self.seed!r}")
        _check_seconds("schedule jitter_s", self.jitter_s)

    def expand(self) -> list[tuple[float, int, int]]:
        """(seconds, 0=end/1=begin, occurrence index) sorted; ends before begins at a tie."""
        rng = random.Random(self.seed)
        self._occurrences: list[tuple[Step, float, float | None]] = []
        actions: list[tuple[float, int, int]] = []
        for step in self.steps:
            for n in range(step.times):
                # In floats: a huge whole number of seconds must not overflow when a float is added.
                start = float(step.at_s) + n * float(step.every_s or 0)
                start += rng.uniform(0, self.jitter_s) if self.jitter_s else 0
                end = start + step.for_s if step.for_s is not None else None
                i = len(self._occurrences)
                self._occurrences.append((step, start, end))
                actions.append((start, 1, i))
                if end is not None:
                    actions.append((end, 0, i))
        return sorted(actions)

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "jitter_s": self.jitter_s,
            "steps": [
                {
                    "at_s": s.at_s,
                    "kind": s.kind,
                    "target": s.target,
                    "params": s.params,
                    "for_s": s.for_s,
                    "every_s": s.every_s,
                    "times": s.times,
                }
                for s in self.steps
            ],
        }

    def duration_s(self) -> float:
        return max((t for t, _, _ in self.expand()), default=0.0)

    def play(self, live: Live, log: FaultLog, until_s: float | None = None) -> None:
        """Run the schedule now, blocking; every fault still on at the end is reverted."""
        actions = self.expand()
        t0 = now_ns()
        active: dict[int, tuple[Fault, dict]] = {}
        try:
            for at, begin, i in actions:
                delay = t0 / 1e9 + at - now_ns() / 1e9
                if delay > 0:
                    time.sleep(delay)
                if begin:
                    step = self._occurrences[i][0]
                    fault = Fault(step.kind, step.target, dict(step.params))
                    active[i] = (fault, log.begin(fault, live))
                elif i in active:
                    fault, rec = active.pop(i)
                    log.end(fault, rec, live)
            if until_s is not None:
                delay = t0 / 1e9 + until_s - now_ns() / 1e9
                if delay > 0:
                    time.sleep(delay)
        except BaseException:
            _end_all(active, log, live)  # what went wrong first is what is raised
            raise
        first = _end_all(active, log, live)
        if first is not None:
            raise first


def _end_all(active: dict[int, tuple[Fault, dict]], log: FaultLog, live: Live) -> Exception | None:
    """End every fault still on, also when one will not end; the first such failure."""
    failed: list[Exception] = []
    for fault, rec in active.values():
        try:
            log.end(fault, rec, live)
        except Exception as e:
            failed.append(e)
    return failed[0] if failed else None
