"""The harness's environment failing is never a verdict about a client library:
Toxiproxy dying, a server dying by itself, a driver crashing or printing garbage
all end the entry as status 'error', with no checks, and one line saying why."""

from __future__ import annotations

import json
import signal
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from harness.drivers import registry
from harness.drivers.registry import DriverSpec
from harness.runner import TopologyPool, run_entry
from harness.scenario import Run, Scenario


def scenario(script, name: str = "test.environment") -> Scenario:
    s = Scenario(name, "nats", "nats-single", "a test of the harness's environment", ("AutoReconnect",), script)
    s.judge_fn = lambda j: j.conforms("AutoReconnect", True, "a judge that would pass if it were asked")
    return s


@pytest.fixture
def pool(tmp_path: Path):
    p = TopologyPool("local", tmp_path / "topologies")
    try:
        yield p
    finally:
        p.close()


def connected_then(action):
    def script(run: Run) -> None:
        run.start("client", ["n1-client"])
        assert run.wait("client", "connected", 10) is not None
        action(run)
        run.sleep(0.5)

    return script


def assert_environment_error(entry: dict, *words: str) -> None:
    assert entry["status"] == "error", entry["error"]
    assert entry["checks"] == [], "an environment failure must not produce verdicts"
    assert "\n" not in entry["error"]
    for w in words:
        assert w in entry["error"], entry["error"]


def test_toxiproxy_dying_is_an_environment_error(pool, tmp_path):
    kill_proxy = connected_then(lambda run: run.live.proxy_proc.signal(signal.SIGKILL))
    entry = run_entry(scenario(kill_proxy), registry.get("nats-go"), pool, tmp_path / "w", 1)
    assert_environment_error(entry, "toxiproxy-server died")


def test_a_server_dying_by_itself_is_an_environment_error(pool, tmp_path):
    kill_server = connected_then(lambda run: run.live.services["n1"].signal(signal.SIGKILL))
    entry = run_entry(scenario(kill_server), registry.get("nats-go"), pool, tmp_path / "w", 1)
    assert_environment_error(entry, "n1 exited by itself")


def test_a_kill_fault_is_not_a_death(pool, tmp_path):
    def script(run: Run) -> None:
        run.start("client", ["n1-client"])
        run.wait("client", "connected", 10)
        run.fault("kill", "n1")
        run.sleep(0.5)  # still down when the run ends: finish() starts it again

    entry = run_entry(scenario(script), registry.get("nats-go"), pool, tmp_path / "w", 1)
    assert entry["status"] == "ok", entry["error"]
    assert [c["verdict"] for c in entry["checks"]] == ["conforms"]


FAKE = textwrap.dedent("""
    import json, sys, time
    MODE = {mode!r}
    if sys.argv[1:] == ["--describe"]:
        print(json.dumps({{"contract": 1, "client": "fake", "library": "fake", "library_version": "0",
                          "language": "python", "runtime": "python", "options": {{}},
                          "observes": ["driver_started", "connected", "stopped"]}}))
        sys.exit(0)
    def emit(kind, **kw):
        print(json.dumps({{"t_ns": time.monotonic_ns(), "kind": kind, **kw}}), flush=True)
    emit("driver_started", library="fake", library_version="0", language="python", runtime="python")
    if MODE == "garbage":
        print("hello, this is not JSON", flush=True)
    elif MODE == "contract":
        emit("published", seq="one", bytes=4)
    elif MODE == "crash":
        sys.exit(3)
    elif MODE == "driver_error":
        emit("driver_error", error="the library refused its own config")
    emit("connected", url="nats://x")
    for line in sys.stdin:
        if "stop" in line:
            break
    emit("stopped")
""")


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("garbage", ["not JSON"]),
        ("contract", ["breaks the contract"]),
        ("crash", ["exited with code 3", "before it was told to stop"]),
        ("driver_error", ["reported an error", "refused its own config"]),
    ],
)
def test_a_misbehaving_driver_is_an_environment_error(pool, tmp_path, mode, words):
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "driver.py").write_text(FAKE.format(mode=mode))
    spec = DriverSpec(f"fake-{mode}", "nats", "python", (sys.executable, "{here}/driver.py"), folder)

    def script(run: Run) -> None:
        run.start("client", ["n1-client"])
        run.wait("client", "connected", 5)
        run.sleep(0.5)

    entry = run_entry(scenario(script), spec, pool, tmp_path / "w", 1)
    assert_environment_error(entry, *words)
    raw = (tmp_path / "w" / "client.events.jsonl").read_text()
    assert json.loads(raw.splitlines()[0])["kind"] == "driver_started"  # the raw lines are kept for a look


def test_a_fault_that_cannot_be_reverted_is_an_environment_error(pool, tmp_path):
    """A user's case: while a link was refused another process took the proxy's port, so
    re-enabling it failed. The entry is an error with that line, never a deviation, and
    everything else (the other fault, the driver) is still cleaned up."""
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "driver.py").write_text(FAKE.format(mode="ok"))
    spec = DriverSpec("fake-ok", "nats", "python", (sys.executable, "{here}/driver.py"), folder)
    squatters: list[socket.socket] = []

    def script(run: Run) -> None:
        run.start("client", ["n1-client"])
        run.wait("client", "connected", 5)
        run.fault("refuse", "n1-client")
        run.fault("latency", "n1-observer", latency_ms=10)
        host, port = run.live.toxiproxy.proxy("n1-client")["listen"].rsplit(":", 1)
        s = socket.socket()
        squatters.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen()
        # Both faults are still on when the script ends: Run.finish() ends them.

    try:
        entry = run_entry(scenario(script), spec, pool, tmp_path / "w", 1)
        live = pool.live["nats-single"]
        assert live.toxiproxy.toxics("n1-observer") == [], "the other fault was not ended"
    finally:
        for s in squatters:
            s.close()
    assert_environment_error(entry, "fault refuse on n1-client was not reverted", "address already in use")
    assert entry["outcome"]["result"] == "error"
    refuse, latency = entry["faults"]
    assert "reverted_ns" not in refuse and "reverted_ns" in latency
    assert [e["kind"] for e in entry["events"] if e.get("actor") == "client"][-1] == "stopped"
