"""Schedules: deterministic expansion from the seed, validation, and playing them."""

from __future__ import annotations

import time

import pytest

from harness.errors import UsageError
from harness.faults import FaultLog
from harness.schedule import Schedule, Step
from harness.topology import Link, Topology


def test_expansion_is_sorted_and_ends_before_begins_at_a_tie():
    s = Schedule([Step(1.0, "refuse", "a", for_s=1.0), Step(2.0, "refuse", "b", for_s=0.5)])
    assert s.expand() == [(1.0, 1, 0), (2.0, 0, 0), (2.0, 1, 1), (2.5, 0, 1)]
    assert s.duration_s() == 2.5


def test_repeats():
    s = Schedule([Step(0.5, "latency", "a", {"latency_ms": 10}, for_s=0.2, every_s=1.0, times=3)])
    begins = [t for t, b, _ in s.expand() if b]
    assert begins == [0.5, 1.5, 2.5]


def test_same_seed_same_schedule_other_seed_other_schedule():
    def make(seed):
        return Schedule([Step(0.0, "refuse", "a", for_s=0.1, every_s=1.0, times=5)], seed=seed, jitter_s=0.5)

    assert make(1).expand() == make(1).expand()
    assert make(1).expand() != make(2).expand()
    assert all(0 <= t - i * 1.0 <= 0.5 for i, t in enumerate(t for t, b, _ in make(3).expand() if b))


def test_to_json_round_trips_the_steps():
    s = Schedule([Step(1.0, "kill", "n1", for_s=2.0)], seed=4)
    assert s.to_json() == {
        "seed": 4,
        "jitter_s": 0.0,
        "steps": [
            {"at_s": 1.0, "kind": "kill", "target": "n1", "params": {}, "for_s": 2.0, "every_s": None, "times": 1}
        ],
    }


def test_invalid_steps_are_usage_errors():
    with pytest.raises(UsageError):
        Step(-1.0, "refuse", "a")
    with pytest.raises(UsageError):
        Step(0.0, "refuse", "a", times=2)


class RecordingTopology:
    """Stands in for a running topology: records the faults' calls (the schedule's
    own timing logic is what is under test here, not a server)."""

    proxies_on_host = False  # nothing to listen on: a proxy's state is its enabled flag

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str, bool]] = []
        self.enabled = {"a": True, "b": True}
        self.t0 = time.monotonic()
        self.toxiproxy = self
        self.topology = Topology(
            "t", "two links", (), (Link("a", None, None, "client"), Link("b", None, None, "client"))
        )

    def wire_events(self, since_ns: int) -> list[dict]:
        return []

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append((time.monotonic() - self.t0, "set_enabled", name, enabled))
        self.enabled[name] = enabled

    def proxy(self, name: str) -> dict:
        return {"enabled": self.enabled[name], "listen": "127.0.0.1:1"}


def test_play_applies_and_reverts_on_time_and_reverts_what_is_left():
    live = RecordingTopology()
    log = FaultLog()
    Schedule([Step(0.1, "refuse", "a", for_s=0.2), Step(0.2, "refuse", "b")]).play(live, log)
    assert [(c[2], c[3]) for c in live.calls] == [("a", False), ("b", False), ("a", True), ("b", True)]
    assert 0.08 <= live.calls[0][0] <= 0.25
    assert 0.28 <= live.calls[2][0] <= 0.5
    assert [r["target"] for r in log.records] == ["a", "b"]
    assert all(r["start_ns"] < r["applied_ns"] <= r["end_ns"] < r["reverted_ns"] for r in log.records)
