"""Parsing Toxiproxy's log into wire events (lines recorded from toxiproxy-server 2.12.0, and
the same with toxiproxy-harness's in-proxy stamp)."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest

from harness import paths
from harness.wire import WireLog, dial_stalls, open_connections, parse

LOG = Path(__file__).parent / "data" / "toxiproxy-trace.log"


def test_recorded_log_gives_accept_dial_and_half_closes():
    events = [e for line in LOG.read_text().splitlines() if (e := parse(line, 1))]
    kinds = ["conn_accepted", "upstream_connected", "conn_half_closed", "conn_half_closed"]
    assert [e["kind"] for e in events] == kinds
    assert events[0] == {"t_ns": 1, "kind": "conn_accepted", "link": "p1", "client": "127.0.0.1:41594"}
    assert events[1] == {"t_ns": 1, "kind": "upstream_connected", "link": "p1"}
    events = [e for e in events if e["kind"] != "upstream_connected"]
    assert [e["direction"] for e in events[1:]] == ["upstream", "downstream"]
    assert all(e["client"] == "127.0.0.1:41594" for e in events)


def test_lines_that_are_not_connection_events_are_ignored():
    assert parse("not json", 1) is None
    assert parse(json.dumps({"message": "Accepted client"}), 1) is None  # no proxy name
    assert parse(json.dumps({"name": "p", "message": "Started proxy"}), 1) is None


def test_upstream_failure():
    line = json.dumps(
        {
            "name": "route-sink",
            "client": "127.0.0.1:5",
            "error": "refused",
            "message": "Unable to open connection to upstream",
        }
    )
    assert parse(line, 7) == {
        "t_ns": 7,
        "kind": "upstream_failed",
        "link": "route-sink",
        "client": "127.0.0.1:5",
        "error": "refused",
    }


def _log(lines: list[dict], tmp_path: Path) -> WireLog:
    stream = io.BytesIO(b"".join((json.dumps(x) + "\n").encode() for x in lines))
    w = WireLog(stream, tmp_path / "raw.log")
    w.join()
    return w


def test_half_closes_fold_into_one_close_and_ports_can_be_reused(tmp_path):
    acc = {"name": "l", "client": "c:9", "message": "Accepted client"}
    up = {"name": "l", "message": "Remove link c:9upstream from ToxicCollection"}
    down = {"name": "l", "message": "Remove link c:9downstream from ToxicCollection"}
    w = _log([acc, down, up, acc, up, down], tmp_path)
    kinds = [(e["kind"], e.get("closed_first_by")) for e in w.events()]
    assert kinds == [
        ("conn_accepted", None),
        ("conn_closed", "server"),
        ("conn_accepted", None),
        ("conn_closed", "client"),
    ]
    assert (tmp_path / "raw.log").read_text().count("\n") == 6


def test_events_are_stamped_in_read_order(tmp_path):
    w = _log([{"name": "l", "client": f"c:{i}", "message": "Accepted client"} for i in range(5)], tmp_path)
    stamps = [e["t_ns"] for e in w.events()]
    assert stamps == sorted(stamps)
    assert w.events(since_ns=stamps[2]) == w.events()[2:]


def test_a_line_stamped_in_the_proxy_keeps_its_stamp():
    # toxiproxy-harness (harness/proxy) adds mono_ns; toxiproxy-server's lines have none.
    line = {"name": "l", "client": "c:9", "message": "Accepted client", "mono_ns": 42}
    assert parse(json.dumps(line), 1000)["t_ns"] == 42
    assert parse(json.dumps({**line, "mono_ns": "42"}), 1000)["t_ns"] == 1000  # not a stamp
    assert parse(json.dumps([line]), 1000) is None


def test_proxy_stamped_events_come_in_time_order(tmp_path):
    # The proxy's goroutines may write lines out of the order they were stamped in.
    acc = {"name": "l", "client": "c:9", "message": "Accepted client", "mono_ns": 10}
    up = {"name": "l", "message": "Remove link c:9upstream from ToxicCollection", "mono_ns": 30}
    down = {"name": "l", "message": "Remove link c:9downstream from ToxicCollection", "mono_ns": 20}
    w = _log([acc, up, down], tmp_path)
    assert [(e["t_ns"], e["kind"], e.get("closed_first_by")) for e in w.events()] == [
        (10, "conn_accepted", None),
        (20, "conn_closed", "server"),
    ]
    assert w.events(since_ns=15) == w.events()[1:]


def test_the_proxy_build_pins_the_toxiproxy_of_pins_toml():
    pins = tomllib.loads(paths.PINS_FILE.read_text())
    go_mod = (paths.ROOT / pins["go-driver"]["toxiproxy-harness"]["dir"] / "go.mod").read_text()
    want = pins["go"]["toxiproxy-server"]
    assert f"{want['module']} v{want['version']}\n" in go_mod


def test_a_failed_upstream_dial_is_not_an_open_connection():
    """Toxiproxy logs no close for a connection whose upstream dial failed (the server
    down): it must not count as open, or a wait for an established connection ends on a
    refused attempt (amqp.router.broker-lost once stopped before the router was back)."""
    acc = {"t_ns": 1, "kind": "conn_accepted", "link": "route", "client": "127.0.0.1:5000"}
    failed = {"t_ns": 2, "kind": "upstream_failed", "link": "route", "client": "127.0.0.1:5000", "error": "refused"}
    later = {"t_ns": 3, "kind": "conn_accepted", "link": "route", "client": "127.0.0.1:5001"}
    assert open_connections([acc, failed]) == {}
    assert open_connections([acc, failed, later]) == {"route": 1}


def test_the_proxy_s_own_timer_lateness_is_an_event_of_no_link():
    # toxiproxy-harness logs it once a second (harness/proxy/main.go).
    line = {"interval_ms": 50, "n": 20, "p50_ms": 0.2, "p99_ms": 116.5, "max_ms": 116.5, "message": "lateness"}
    assert parse(json.dumps({**line, "mono_ns": 42}), 1000) == {
        "t_ns": 42,
        "kind": "lateness",
        "interval_ms": 50,
        "n": 20,
        "p50_ms": 0.2,
        "p99_ms": 116.5,
        "max_ms": 116.5,
    }
    assert parse(json.dumps(line), 1000) is None  # stamped on read it would measure nothing
    assert parse(json.dumps({**line, "mono_ns": 42, "max_ms": "116.5"}), 1000) is None


def test_the_proxy_build_says_how_late_its_own_timer_woke(tmp_path):
    import subprocess
    import time

    from harness import ports
    from harness.services import toxiproxy_server

    if "toxiproxy-harness" not in toxiproxy_server.binary():
        pytest.skip("toxiproxy-harness is not built (run the set-up)")
    port = ports.claim(1, "test-proxy-lateness")[0]
    proc = subprocess.Popen(
        toxiproxy_server.argv("127.0.0.1", port), stdout=subprocess.PIPE, env=toxiproxy_server.env()
    )
    try:
        assert proc.stdout is not None
        wire = WireLog(proc.stdout, tmp_path / "toxiproxy.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not [e for e in wire.events() if e["kind"] == "lateness"]:
            time.sleep(0.1)
        late = [e for e in wire.events() if e["kind"] == "lateness"]
        assert late and late[0]["interval_ms"] == 50 and late[0]["n"] >= 1
        assert 0 <= late[0]["p50_ms"] <= late[0]["p99_ms"] <= late[0]["max_ms"]
    finally:
        proc.terminate()
        proc.wait(10)
        ports.release([port])


def proxy_line(message: str, **fields: object) -> str:
    return json.dumps({"level": "debug", "name": "a1-client", "message": message, **fields})


def test_a_successful_dial_is_its_upstream_link_set_up():
    """Toxiproxy logs "Setup connection" once per direction after the dial succeeded."""
    up = parse(proxy_line("Setup connection", direction="upstream", mono_ns=7), 9)
    assert up == {"t_ns": 7, "kind": "upstream_connected", "link": "a1-client"}
    assert parse(proxy_line("Setup connection", direction="downstream", mono_ns=8), 9) is None


S = 10**9


def accepted(t: float, client: str = "c:1") -> dict:
    return {"t_ns": int(t * S), "kind": "conn_accepted", "link": "a1-client", "client": client}


def test_a_dial_that_hung_is_found_and_quick_ones_are_not():
    """As recorded on compose: the broker's container killed as its name was resolved,
    one dial hung 72 s (its kernel gave up: no route to host); refused dials take ms."""
    connected = {"t_ns": int(1.002 * S), "kind": "upstream_connected", "link": "a1-client"}
    failed = {"kind": "upstream_failed", "link": "a1-client"}
    refused = {**failed, "t_ns": int(4.693 * S), "client": "c:2", "error": "refused"}
    gone = {**failed, "t_ns": int(76.8 * S), "client": "c:3", "error": "no route"}
    events = [accepted(1.0), connected, accepted(4.69, "c:2"), refused, accepted(4.774, "c:3"), gone]
    assert dial_stalls(events, 80 * S) == [
        {"link": "a1-client", "from_ns": int(4.774 * S), "ms": 72026.0, "outcome": "failed: no route"}
    ]
    # Cut short by the end of the record: still dialling then.
    assert dial_stalls(events[:5], 50 * S)[0]["outcome"] == "still dialling"
    # A record made before the harness read successful dials says nothing.
    assert dial_stalls([e for e in events if e is not connected], 80 * S) == []
    assert dial_stalls(events[:4], 80 * S) == []
