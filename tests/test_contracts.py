"""The contracts' schemas accept what the docs describe and refuse what they do not."""

from __future__ import annotations

import pytest

from harness.contracts import problems

GOOD_EVENTS = [
    {"t_ns": 1, "kind": "driver_started", "library": "l", "library_version": "1", "language": "go", "runtime": "r"},
    {"t_ns": 1, "kind": "attempt", "url": "nats://x:1"},
    {"t_ns": 1, "kind": "attempt_failed", "url": None, "error": "refused"},
    {"t_ns": 1, "kind": "disconnected", "error": None},
    {"t_ns": 1, "kind": "servers_discovered", "servers": ["nats://a:1"]},
    {"t_ns": 1, "kind": "reconnect_delay_cb", "attempts": 2, "delay_ms": 300},
    {"t_ns": 1, "kind": "published", "seq": 1, "bytes": 64},
    {"t_ns": 1, "kind": "publish_failed", "seq": 2, "bytes": 64, "error": "full"},
    {"t_ns": 1, "kind": "received", "seq": 1},
    {"t_ns": 1, "kind": "stopped"},
]

BAD_EVENTS = [
    {"kind": "stopped"},  # no t_ns
    {"t_ns": -1, "kind": "stopped"},  # negative clock
    {"t_ns": 1, "kind": "teleported"},  # unknown kind
    {"t_ns": 1, "kind": "attempt"},  # no url
    {"t_ns": 1, "kind": "published", "seq": "1", "bytes": 64},  # seq as a string
    {"t_ns": 1, "kind": "received", "seq": -3},
    {"t_ns": 1.5, "kind": "stopped"},
]


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["kind"])
def test_documented_events_are_accepted(event):
    assert problems("driver-event", event) == []


@pytest.mark.parametrize("event", BAD_EVENTS, ids=str)
def test_broken_events_are_refused(event):
    assert problems("driver-event", event)


def config(**over):
    base = {
        "contract": 1,
        "client": "nats-go",
        "servers": ["nats://127.0.0.1:1"],
        "options": {},
        "workload": {"subject": "s", "subscribe": False, "publish": None},
    }
    return base | over


def test_driver_config():
    assert problems("driver-config", config()) == []
    assert problems("driver-config", config(options={"ReconnectWait": 500, "AllowReconnect": False})) == []
    assert problems("driver-config", config(servers=[]))
    assert problems("driver-config", config(contract=2))
    assert problems("driver-config", config(extra=1))
    assert problems(
        "driver-config", config(workload={"subject": "s", "subscribe": False, "publish": {"rate": 0, "size": 10}})
    )
    for settlement, ok in (("awaited", True), ("presettled", True), ("unsettled", True), ("sometimes", False)):
        publish = {"rate": 10, "size": 10, "settlement": settlement}
        wl = {"subject": "s", "subscribe": False, "publish": publish}
        assert (problems("driver-config", config(workload=wl)) == []) is ok
