"""Schedules: deterministic expansion from the seed, validation, and playing them."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import FAULT_PARAMS, FLOATS, JSON_VALUES, KINDS, SETTINGS, TEXT, Counter, one_line

from harness.errors import UsageError
from harness.faults import LINK_KINDS, SERVICE_KINDS, Fault, FaultLog
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


# -- property: any schedule ----------------------------------------------------

SECONDS = st.one_of(
    st.floats(min_value=0, max_value=1e4, allow_nan=False),
    st.integers(0, 100),
    FLOATS,
    st.sampled_from([-1, -0.0, 1e308, 10**308, 10**400, math.nan, math.inf, True]),
)
GOOD_SECONDS = st.floats(min_value=0, max_value=1e4, allow_nan=False) | st.integers(0, 100)
GOOD_STEP_ARGS = st.fixed_dictionaries(
    {
        "at_s": GOOD_SECONDS,
        "kind": st.sampled_from(["refuse", "reset", "blackhole", "kill", "pause", "restart", "partition"]),
        "target": st.sampled_from(["n1-client", "n1|n2,n3", "n1"]),
        "params": st.sampled_from([{}, {"stream": "upstream"}, {"stream": "both", "drop_existing": True}]),
    },
    optional={"for_s": GOOD_SECONDS | st.none(), "every_s": GOOD_SECONDS.filter(bool), "times": st.integers(1, 20)},
)
RANDOM_STEP_ARGS = st.fixed_dictionaries(
    {"at_s": SECONDS, "kind": KINDS, "target": TEXT, "params": FAULT_PARAMS},
    optional={
        "for_s": SECONDS | st.none(),
        "every_s": SECONDS | st.none(),
        # A count, as the annotation says; bounded: a schedule of a billion repeats is long, not wrong.
        "times": st.integers(-3, 60) | st.sampled_from([0, 10**12, True]) | st.sampled_from([math.nan, 2.0]),
    },
)


def _one_bad(kwargs: dict) -> st.SearchStrategy[dict]:
    """A valid step with one argument replaced by anything."""
    return st.sampled_from(["at_s", "for_s", "every_s", "times", "kind", "params"]).flatmap(
        lambda key: (SECONDS if key.endswith("_s") else JSON_VALUES).map(lambda v: {**kwargs, key: v})
    )


def _step_or_error(kwargs: dict) -> Step | None:
    try:
        step = Step(**kwargs)
    except UsageError as e:
        assert one_line(e.line()), e.line()
        return None
    if step.times > 1000:  # valid and huge: not expanded here (it would take its time, and be right)
        assume(False)
    return step


def test_schedules_expand_to_a_sorted_list_or_refuse(record_property):
    count = Counter(record_property, "schedules")
    schedules = st.tuples(
        st.lists(GOOD_STEP_ARGS | RANDOM_STEP_ARGS | GOOD_STEP_ARGS.flatmap(_one_bad), max_size=4),
        st.integers() | st.sampled_from([None, "seed", 1.5, [1]]),
        GOOD_SECONDS | SECONDS,
    )

    @settings(max_examples=1500, **SETTINGS)
    @given(schedules)
    def prop(args):
        count()
        step_args, seed, jitter = args
        steps = [_step_or_error(kw) for kw in step_args]
        if None in steps:
            count.saw("step refused")
            return
        try:
            sched = Schedule(steps, seed=seed, jitter_s=jitter)
        except UsageError as e:
            assert one_line(e.line()), e.line()
            count.saw("schedule refused")
            return
        count.saw("expanded")
        first, again = sched.expand(), sched.expand()
        assert first == again == sorted(first)
        assert first == Schedule(steps, seed=seed, jitter_s=jitter).expand()  # same seed, same list
        assert all(isinstance(t, float) and not math.isnan(t) and b in (0, 1) for t, b, _ in first)
        assert sum(b for _, b, _ in first) == sum(s.times for s in steps)
        begins = {i: t for t, b, i in first if b}
        assert all(t >= begins[i] for t, b, i in first if not b)  # nothing ends before it begins
        for s in steps:  # every step's fault is one the harness can run
            assert Fault(s.kind, s.target, s.params).kind in LINK_KINDS + SERVICE_KINDS

    prop()
    count.done()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Step(math.nan, "refuse", "a"),  # was accepted: nan in the expanded list, unsorted
        lambda: Step(0, "refuse", "a", times=math.nan),  # was TypeError in expand
        lambda: Step(0, "refuse", "a", every_s=10**400, times=2),  # was OverflowError in expand
        lambda: Step(0, "bogus", "a"),  # was accepted, refused only once the schedule played (servers up)
        lambda: Step(0, "refuse", "a", {"stream": []}),  # was accepted, TypeError once played
        lambda: Fault("refuse", "a", {"stream": []}),  # was TypeError (unhashable)
        lambda: Fault("refuse", "a", None),  # was AttributeError
        lambda: Schedule([], seed=[1]),  # was TypeError in expand
        lambda: Schedule([], seed=None),  # was accepted: a random seed, another list at each expansion
        lambda: Schedule([], jitter_s=math.nan),  # was accepted: nan times
        lambda: Schedule([], jitter_s=-1),  # was accepted: starts before the schedule
    ],
)
def test_regression_schedules(make):
    with pytest.raises(UsageError) as e:
        make()
    assert one_line(e.value.line())


def test_regression_huge_repeat_period_expands():
    s = Schedule([Step(1, "refuse", "a", every_s=10**308, times=3)])  # was OverflowError (int + float)
    assert [t for t, _, _ in s.expand()] == [1.0, 1e308, math.inf]
