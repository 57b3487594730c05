"""Metrics over timelines built by hand."""

from __future__ import annotations

from harness.judging import metrics
from harness.judging.timeline import Timeline, merge

MS = 1_000_000


def ev(t_ms: float, kind: str, actor: str = "client", **kw) -> dict:
    return {"t_ns": int(t_ms * MS), "kind": kind, "source": "client", "actor": actor, **kw}


def test_intervals_and_summary():
    assert metrics.intervals_ms([0, 2 * 10**9, 5 * 10**9]) == [2000.0, 3000.0]
    assert metrics.intervals_ms([7]) == []
    assert metrics.stats([3.0, 1.0, 2.0]) == {"n": 3, "min": 1.0, "median": 2.0, "max": 3.0}
    assert metrics.stats([]) is None


def test_client_attempts_prefers_attempt_starts():
    tl = Timeline(
        [ev(0, "driver_started"), ev(10, "attempt", url="nats://a"), ev(11, "attempt_failed", url=None, error="x")],
        [],
        0,
        100 * MS,
    )
    assert [e["kind"] for e in metrics.client_attempts(tl, "client", 0)] == ["attempt"]
    tl = Timeline([ev(0, "driver_started"), ev(11, "attempt_failed", url=None, error="x")], [], 0, 100 * MS)
    assert [e["kind"] for e in metrics.client_attempts(tl, "client", 0)] == ["attempt_failed"]


def test_wire_connections_pair_accept_with_close():
    wire = [
        {"t_ns": 10 * MS, "kind": "conn_accepted", "link": "l", "client": "c:1"},
        {"t_ns": 12 * MS, "kind": "conn_accepted", "link": "l", "client": "c:2"},
        {"t_ns": 30 * MS, "kind": "conn_closed", "link": "l", "client": "c:2", "closed_first_by": "client"},
        {"t_ns": 40 * MS, "kind": "conn_closed", "link": "l", "client": "c:1", "closed_first_by": "server"},
    ]
    tl = Timeline(merge([], wire, [], []), [], 0, 100 * MS)
    conns = metrics.wire_connections(tl, ["l"], 0)
    assert [(c["client"], c["duration_ms"], c["closed_first_by"]) for c in conns] == [
        ("c:1", 30.0, "server"),
        ("c:2", 18.0, "client"),
    ]


def test_client_wire_gaps_skip_attempts_that_never_reached_the_wire():
    urls = {"l1": "nats://127.0.0.1:1001", "l2": "nats://127.0.0.1:1002"}
    attempts = [
        ev(100, "attempt", url="nats://127.0.0.1:1001"),  # refused: no accept
        ev(400, "attempt", url="nats://127.0.0.1:1001"),
        ev(400.2, "attempt", url="nats://127.0.0.1:1002"),
    ]
    wire = [{"t_ns": int(400.5 * MS), "link": "l1"}, {"t_ns": int(400.9 * MS), "link": "l2"}]
    gaps = metrics.client_wire_gaps(attempts, wire, urls)
    assert [round(g, 3) for g in gaps] == [-0.5, -0.7]


def test_link_of_url():
    urls = {"n1-client": "nats://127.0.0.1:2000"}
    assert metrics.link_of_url("nats://127.0.0.1:2000", urls) == "n1-client"
    assert metrics.link_of_url("nats://127.0.0.1:2000/", urls) == "n1-client"
    assert metrics.link_of_url("nats://127.0.0.1:2001", urls) is None
    assert metrics.link_of_url(None, urls) is None


def test_ledger_fates_and_phases():
    events = [
        ev(1, "published", seq=1, bytes=8),
        ev(2, "published", seq=2, bytes=8),
        ev(5, "published", seq=3, bytes=8),
        ev(6, "publish_failed", seq=4, bytes=8, error="full"),
        ev(9, "published", seq=5, bytes=8),
        ev(3, "received", actor="obs", seq=1),
        ev(10, "received", actor="obs", seq=3),
        ev(11, "received", actor="obs", seq=3),
        ev(12, "received", actor="obs", seq=5),
        ev(13, "received", actor="other", seq=2),
    ]
    tl = Timeline(sorted(events, key=lambda e: e["t_ns"]), [], 0, 20 * MS)
    led = metrics.ledger(tl, "client", ["obs"], {"before": (0, 4 * MS), "after": (4 * MS, None)})
    assert led["accepted"] == 4 and led["refused"] == 1
    assert led["totals"] == {"delivered": 2, "lost": 1, "duplicated": 1, "refused": 1}
    assert led["phases"]["before"] == {"delivered": 1, "lost": 1}
    assert led["phases"]["after"] == {"duplicated": 1, "refused": 1, "delivered": 1}
    assert led["exceptions"] == {"lost": [2], "duplicated": [3]}


def test_merge_orders_sources_on_one_clock():
    client = [ev(5, "connected", url="u")]
    wire = [{"t_ns": 3 * MS, "kind": "conn_accepted", "link": "l", "client": "c"}]
    faults = [{"kind": "refuse", "target": "l", "params": {}, "start_ns": 7 * MS, "end_ns": 9 * MS}]
    marks = [{"t_ns": 1 * MS, "kind": "mark", "label": "x"}]
    out = merge(client, wire, faults, marks)
    assert [(e["source"], e["kind"]) for e in out] == [
        ("harness", "mark"),
        ("proxy", "conn_accepted"),
        ("client", "connected"),
        ("harness", "fault_start"),
        ("harness", "fault_end"),
    ]
    assert out[1]["actor"] == "l"
