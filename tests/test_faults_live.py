"""Each fault kind of harness/faults/ does what its docstring says, against a real
nats-server behind a real Toxiproxy (the local backend's "nats-single" topology).

The client side is a raw TCP socket on the n1-client link: a nats-server sends a
line starting with b"INFO " as soon as a connection is accepted, and answers
b"PING\\r\\n" with b"PONG\\r\\n". Timing assertions use lower bounds a fault must
cause (scheduling can only make things slower); the "fast without the fault"
bounds take the best of a few attempts so that a busy CI host does not flake them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import poll, topology_fixture

from harness import topology
from harness.backends.local import LocalTopology
from harness.errors import EnvironmentFault, UsageError
from harness.faults import Fault, FaultLog
from harness.ports import process_start_time
from harness.wire import open_connections

LINK = "n1-client"
FAST_S = 0.2  # an unfaulted INFO/PONG on loopback arrives well within this
CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\n'


# -- fixtures --


_single = topology_fixture("nats-single")


@pytest.fixture
def live(_single: LocalTopology) -> LocalTopology:
    """The module's topology with every fault of an earlier test undone."""
    _single.reset()
    return _single


@pytest.fixture
def connect(live: LocalTopology) -> Iterator[Callable[..., socket.socket]]:
    """Open a TCP connection to a link of `live`; every socket is closed at the end."""
    opened: list[socket.socket] = []

    def _connect(link: str = LINK, timeout: float = 5.0) -> socket.socket:
        host, port = live.addrs.link(link).rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
        opened.append(s)
        return s

    try:
        yield _connect
    finally:
        for s in opened:
            with contextlib.suppress(OSError):
                s.close()


# -- helpers --


@dataclass
class Read:
    data: bytes
    closed: bool  # the peer closed (EOF) or reset the connection
    chunks: int  # how many recv() calls returned data
    elapsed: float  # seconds from the start of the read to its end


def read(sock: socket.socket, timeout: float, done: Callable[[bytes], bool] | None = None) -> Read:
    """Read until `done(data)` (default: a full line), the peer closes, or `timeout` passes."""
    done = done or (lambda d: b"\r\n" in d)
    start = time.monotonic()
    deadline = start + timeout
    data, chunks, closed = b"", 0, False
    while not done(data):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        except ConnectionError:  # reset by peer, broken pipe
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        chunks += 1
    return Read(data, closed, chunks, time.monotonic() - start)


def is_info(data: bytes) -> bool:
    return data.startswith(b"INFO {") and data.endswith(b"\r\n")


def server_id(info_line: bytes) -> str:
    return json.loads(info_line[len(b"INFO ") :])["server_id"]


def read_info(sock: socket.socket, timeout: float = 5.0) -> Read:
    r = read(sock, timeout)
    assert is_info(r.data), f"expected a full INFO line, got {r}"
    return r


def fastest_info(connect: Callable[..., socket.socket], attempts: int = 3) -> Read:
    """The quickest of a few fresh connections' INFO reads (a busy host can stall one)."""
    best: Read | None = None
    for _ in range(attempts):
        r = read_info(connect())
        if best is None or r.elapsed < best.elapsed:
            best = r
        if best.elapsed < FAST_S:
            break
    assert best is not None
    return best


def ping(sock: socket.socket, timeout: float) -> Read:
    sock.sendall(CONNECT + b"PING\r\n")
    return read(sock, timeout, lambda d: b"PONG\r\n" in d)


def read_new(connect: Callable[..., socket.socket], refused_ok: bool = False) -> Read:
    """Open a new connection and read until it closes (5 s at most). On a busy host the
    proxy's reset can come before connect() returns: it then counts as closed, empty."""
    try:
        sock = connect()
    except ConnectionResetError:
        return Read(b"", True, 0, 0.0)
    except ConnectionRefusedError:
        if not refused_ok:
            raise
        return Read(b"", True, 0, 0.0)
    return read(sock, 5.0, lambda d: False)


def stat_fields(path: str) -> list[str]:
    """Fields of a /proc stat file after the command name: state first, utime at index 11."""
    return Path(path).read_text().rsplit(")", 1)[1].split()


def thread_states(pid: int) -> list[str]:
    states = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            states.append(stat_fields(f"/proc/{pid}/task/{tid}/stat")[0])
    return states


def stopped(pid: int) -> bool:
    """Every thread of `pid` is stopped by a signal (SIGSTOP has fully taken effect)."""
    states = thread_states(pid)
    return bool(states) and all(st == "T" for st in states)


def running(pid: int, start: str | None) -> bool:
    """The process `pid` that started at `start` still exists (a reused pid does not count)."""
    return process_start_time(pid) is not None and process_start_time(pid) == start


# -- link faults --


def test_refuse_closes_open_connections_and_refuses_new_ones(live, connect):
    old = connect()
    read_info(old)
    fault = Fault("refuse", LINK)
    fault.apply(live)
    try:
        r = read(old, 5.0)
        assert r.closed and r.data == b"", f"the open connection was not closed: {r}"
        with pytest.raises(ConnectionRefusedError):
            connect()
    finally:
        fault.revert(live)
    read_info(connect())


def test_reset_closes_open_connections_and_resets_new_ones_before_info(live, connect):
    old = connect()
    read_info(old)
    fault = Fault("reset", LINK)  # drop_existing defaults to True
    fault.apply(live)
    try:
        r = read(old, 5.0)
        assert r.closed and r.data == b"", f"the open connection was not closed: {r}"
        since = time.monotonic_ns()
        r = read_new(connect)  # a refused connection (ConnectionRefusedError) fails here
        assert r.closed, f"the new connection was not reset within 5s: {r}"
        assert b"INFO" not in r.data, f"INFO got through a reset link: {r.data!r}"
        poll(
            lambda: [e for e in live.wire_events(since) if e["kind"] == "conn_accepted" and e["link"] == LINK],
            5.0,
            "the proxy to log that it accepted the new connection",
        )
    finally:
        fault.revert(live)
    read_info(connect())


def test_blackhole_keeps_connections_open_but_silent(live, connect):
    old = connect()
    read_info(old)
    fault = Fault("blackhole", LINK, {"drop_existing": False})
    fault.apply(live)
    try:
        r = ping(old, 1.5)
        assert not r.closed, f"blackhole closed an open connection: {r}"
        assert r.data == b"", f"data got through a blackhole: {r.data!r}"
        new = connect()  # the proxy still accepts
        r = read(new, 1.0)
        assert not r.closed and r.data == b"", f"a new connection should hang without INFO: {r}"
    finally:
        fault.revert(live)
    read_info(connect())


def test_blackhole_with_drop_existing_closes_open_connections(live, connect):
    old = connect()
    read_info(old)
    fault = Fault("blackhole", LINK, {"drop_existing": True})
    fault.apply(live)
    try:
        r = read(old, 5.0)
        assert r.closed and r.data == b"", f"the open connection was not closed: {r}"
    finally:
        fault.revert(live)


def test_latency_downstream_delays_info(live, connect):
    assert fastest_info(connect).elapsed < FAST_S
    fault = Fault("latency", LINK, {"latency_ms": 300, "stream": "downstream"})
    fault.apply(live)
    try:
        r = read_info(connect())
        assert r.elapsed >= 0.25, f"INFO arrived {r.elapsed:.3f}s after connect despite 300 ms of latency"
    finally:
        fault.revert(live)
    assert fastest_info(connect).elapsed < FAST_S


def test_latency_upstream_delays_only_the_client_to_server_direction(live, connect):
    fault = Fault("latency", LINK, {"latency_ms": 300, "stream": "upstream"})
    fault.apply(live)
    try:
        assert live.toxiproxy.toxics(LINK) == [f"latency-{fault.id}-upstream"]
        info = fastest_info(connect)
        assert info.elapsed < FAST_S, f"INFO (downstream) took {info.elapsed:.3f}s under an upstream fault"
        sock = connect()
        read_info(sock)
        pong = ping(sock, 5.0)
        assert b"PONG\r\n" in pong.data, f"no PONG: {pong}"
        assert pong.elapsed >= 0.25, f"PONG came {pong.elapsed:.3f}s after PING despite 300 ms upstream latency"
    finally:
        fault.revert(live)


def test_bandwidth_slows_info_down(live, connect):
    size = len(fastest_info(connect).data)
    assert size > 100, "the INFO line should be a few hundred bytes"
    fault = Fault("bandwidth", LINK, {"rate_kbps": 1, "stream": "downstream"})
    fault.apply(live)
    try:
        r = read_info(connect())
    finally:
        fault.revert(live)
    # 1 KB/s is one byte per millisecond in Toxiproxy; allow a quarter off for timer slack.
    floor = max(0.1, 0.75 * size / 1000)
    assert r.elapsed >= floor, f"{size} bytes at 1 KB/s took only {r.elapsed:.3f}s (expected >= {floor:.3f}s)"


def test_slicer_delivers_info_in_small_delayed_pieces(live, connect):
    size = len(fastest_info(connect).data)
    fault = Fault("slicer", LINK, {"average_size": 1, "delay_us": 20000, "stream": "downstream"})
    fault.apply(live)
    try:
        r = read(connect(), 5.0, lambda d: len(d) >= 10)
    finally:
        fault.revert(live)
    assert not r.closed and len(r.data) >= 10, f"the slicer should pass data on: {r}"
    assert r.data.startswith(b"INFO {")
    # One byte every 20 ms: the first ten bytes take at least 9 x 20 ms.
    assert r.elapsed >= 0.15, f"10 sliced bytes arrived in {r.elapsed:.3f}s"
    assert r.chunks >= 2, f"the sliced bytes arrived in a single recv(): {r}"
    assert len(r.data) < size, "the whole INFO line arrived at once"


def test_limit_data_closes_the_connection_after_the_limit(live, connect):
    assert len(fastest_info(connect).data) > 10
    fault = Fault("limit_data", LINK, {"bytes": 10, "stream": "downstream"})
    fault.apply(live)
    try:
        r = read(connect(), 5.0, lambda d: False)
    finally:
        fault.revert(live)
    assert r.closed, f"the connection was not closed: {r}"
    assert 0 < len(r.data) <= 10, f"limit_data of 10 bytes delivered {len(r.data)} bytes"
    assert b'INFO {"server_id"'.startswith(r.data), r.data


def test_fault_rejects_unknown_kind_and_stream():
    with pytest.raises(UsageError) as e:
        Fault("explode", LINK)
    assert "explode" in e.value.line() and "latency" in e.value.line()
    with pytest.raises(UsageError) as e:
        Fault("latency", LINK, {"latency_ms": 1, "stream": "sideways"})
    assert "sideways" in e.value.line()
    for stream in ("upstream", "downstream", "both"):
        Fault("latency", LINK, {"latency_ms": 1, "stream": stream})


# -- service faults --


def test_kill_stops_the_server_and_revert_starts_it_again(live, connect):
    old = connect()
    old_info = read_info(old).data
    proc = live.services["n1"]
    pid, start = proc.pid, proc.start
    since = time.monotonic_ns()
    fault = Fault("kill", "n1")
    fault.apply(live)
    try:
        assert not running(pid, start), "n1 is still running after kill"
        assert "n1" not in live.pids()
        r = read(old, 5.0)
        assert r.closed, f"the open connection survived its server: {r}"
        r = read_new(connect, refused_ok=True)
        assert r.closed and b"INFO" not in r.data, f"a killed server answered: {r}"
        poll(
            lambda: [e for e in live.wire_events(since) if e["kind"] == "upstream_failed" and e["link"] == LINK],
            5.0,
            "the proxy to log that n1 cannot be reached",
        )
    finally:
        fault.revert(live)
    assert live.services["n1"].pid != pid
    assert server_id(read_info(connect()).data) != server_id(old_info), "the same server process answers"


def test_pause_freezes_the_server_and_revert_thaws_it(live, connect):
    pid = live.services["n1"].pid
    fault = Fault("pause", "n1")
    fault.apply(live)
    try:
        assert stopped(pid), "pause returned before every thread of n1 was stopped"
        sock = connect()
        r = read(sock, 1.0)
        assert not r.closed and r.data == b"", f"a paused server answered: {r}"
    finally:
        fault.revert(live)
    read_info(sock)  # the connection made during the pause is served now
    read_info(connect())
    assert live.services["n1"].pid == pid


# Keeps CPU 0 busy; gives up by itself after 15 s should the test die before killing it.
SPIN = """
import os, time
os.sched_setaffinity(0, {0})
end = time.monotonic() + 15
while time.monotonic() < end:
    pass
"""


def test_pause_has_taken_effect_when_apply_returns(tmp_path):
    """Make the race certain: the server's threads get the CPU only when nothing else wants
    it (SCHED_IDLE on a CPU kept busy by a spinning process), as on a busy host."""
    live = LocalTopology.up(topology.get("nats-single"), tmp_path / "w")
    hog = None
    try:
        pid = live.services["n1"].pid
        hog = subprocess.Popen([sys.executable, "-c", SPIN])
        poll(lambda: int(stat_fields(f"/proc/{hog.pid}/stat")[11]) > 0, 5, "the spinner to use CPU 0")
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(tid), {0})
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
        for _ in range(5):
            fault = Fault("pause", "n1")
            fault.apply(live)
            states = thread_states(pid)
            fault.revert(live)
            assert all(st == "T" for st in states), f"n1's threads right after pause was applied: {states}"
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        live.down()


def test_restart_gives_a_new_server_process(live, connect):
    old = connect()
    old_info = read_info(old).data
    proc = live.services["n1"]
    pid, start = proc.pid, proc.start
    fault = Fault("restart", "n1")
    fault.apply(live)
    new_info = read_info(connect()).data
    assert live.services["n1"].pid != pid
    assert not running(pid, start), "the old n1 process is still there"
    assert read(old, 5.0).closed, "the connection to the old process stayed open"
    assert server_id(new_info) != server_id(old_info)
    fault.revert(live)  # nothing to undo
    assert live.services["n1"].pid != pid and live.services["n1"].alive()


# -- the record of faults and undoing them --


def test_fault_log_stamps_start_applied_end_reverted_in_order(live):
    log = FaultLog()
    fault = Fault("latency", LINK, {"latency_ms": 50})
    before = time.monotonic_ns()
    rec = log.begin(fault, live)
    assert sorted(live.toxiproxy.toxics(LINK)) == [f"latency-{fault.id}-downstream", f"latency-{fault.id}-upstream"]
    assert rec["end_ns"] is None
    log.end(fault, rec, live)
    after = time.monotonic_ns()
    assert live.toxiproxy.toxics(LINK) == []
    assert before <= rec["start_ns"] < rec["applied_ns"] <= rec["end_ns"] < rec["reverted_ns"] <= after
    assert log.records == [rec]
    assert rec["kind"] == "latency" and rec["target"] == LINK and rec["params"] == {"latency_ms": 50}


def test_fault_log_restart_ends_when_applied(live):
    log = FaultLog()
    fault = Fault("restart", "n1")
    pid = live.services["n1"].pid
    rec = log.begin(fault, live)
    assert live.services["n1"].pid != pid
    assert rec["start_ns"] < rec["applied_ns"] == rec["end_ns"]
    log.end(fault, rec, live)
    assert "reverted_ns" not in rec


def test_live_reset_undoes_every_fault(live, connect):
    for fault in (
        Fault("latency", LINK, {"latency_ms": 300}),
        Fault("refuse", "n1-observer"),
        Fault("pause", "n1"),
    ):
        fault.apply(live)
    assert live.toxiproxy.proxies()["n1-observer"]["enabled"] is False
    live.reset()
    assert live.toxiproxy.toxics(LINK) == []
    assert all(p["enabled"] for p in live.toxiproxy.proxies().values())
    assert fastest_info(connect).elapsed < FAST_S
    read_info(connect("n1-observer"))


@pytest.mark.parametrize("busy", ["n1-client", "n1-observer"])
def test_links_cut_together_cut_the_busy_one_last(live, connect, busy):
    """A fault on several links cuts those carrying open connections last, so a client
    dropped from its link cannot reconnect through one that is about to be cut."""
    sock = connect(busy)
    read_info(sock)
    poll(lambda: busy in open_connections(live.wire_events(0)), 5.0, f"the wire log to show the open {busy}")
    fault = Fault("refuse", "n1-client,n1-observer")
    now_busy = open_connections(live.wire_events(0))
    order = fault.action.links(live)
    flags = [link in now_busy for link in order]
    assert busy in now_busy and flags == sorted(flags), f"idle links first, busy last: {order}, busy {now_busy}"
    fault.apply(live)
    try:
        for link in ("n1-client", "n1-observer"):
            with pytest.raises(ConnectionRefusedError):
                connect(link)
    finally:
        fault.revert(live)
    read_info(connect("n1-observer"))


def test_a_fault_naming_an_unknown_link_is_a_usage_error(live):
    with pytest.raises(UsageError, match="no link"):
        Fault("refuse", "n1-client,n9-client").apply(live)


# -- a fault that did not take --


@contextlib.contextmanager
def squatter(address: str) -> Iterator[socket.socket]:
    """Another process's listener on a proxy's port while the proxy is disabled (as a
    user saw: Toxiproxy could not listen again, answered 500, and logged "bind:
    address already in use")."""
    host, port = address.rsplit(":", 1)
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the closed connections' TIME_WAIT
        s.bind((host, int(port)))
        s.listen()
        yield s
    finally:
        s.close()


def test_a_refuse_that_cannot_be_reverted_is_an_environment_fault(live, connect):
    log = FaultLog()
    fault = Fault("refuse", LINK)
    rec = log.begin(fault, live)
    assert "applied_ns" in rec
    listen = live.toxiproxy.proxy(LINK)["listen"]
    with squatter(listen), pytest.raises(EnvironmentFault) as e:
        log.end(fault, rec, live)
    line = e.value.line()
    assert line.startswith(f"fault refuse on {LINK} was not reverted: toxiproxy refused to enable proxy {LINK}: "), line
    assert "address already in use" in line and "\n" not in line
    assert "reverted_ns" not in rec, "an unconfirmed revert must not be stamped"
    assert live.toxiproxy.proxy(LINK)["enabled"] is False
    live.reset()  # the port is free again: nothing is left disabled
    read_info(connect())


def test_a_confirmation_reads_the_real_state(live):
    """Each kind's confirmation measures the state, not the call: asked while the fault
    is not in force, it names what it saw."""
    latency = Fault("latency", LINK, {"latency_ms": 1, "stream": "upstream"})
    assert (
        latency.action.confirm_applied(live)
        == f"proxy {LINK} has no toxic latency-{latency.id}-upstream (it has: none)"
    )
    assert Fault("refuse", LINK).action.confirm_applied(live) == f"proxy {LINK} is still enabled"
    assert Fault("refuse", LINK).action.confirm_reverted(live) is None
    with pytest.raises(EnvironmentFault, match="fault kill on n1 was not applied: n1 is running, not stopped"):
        Fault("kill", "n1")._confirmed("applied", live, lambda live: None, Fault("kill", "n1").action.confirm_applied)
    assert Fault("pause", "n1").action.confirm_reverted(live) is None
