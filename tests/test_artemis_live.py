"""The local backend with three independent ActiveMQ Artemis brokers ("artemis-3"):
real brokers behind a real toxiproxy-server, reached with python-qpid-proton.

Timings are printed (run with -s to see them), never asserted: JVM start-up on a
busy 2-core host varies a lot. Everything else is polled with a deadline.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from proton import Message, Timeout
from proton.utils import BlockingConnection
from support import poll, topology_fixture

from harness import paths, ports, topology
from harness.backends.local import LocalTopology
from harness.errors import EnvironmentFault
from harness.services import artemis

BROKERS = ("a1", "a2", "a3")
NS = {"c": "urn:activemq", "core": "urn:activemq:core"}


# -- fixtures --


_brokers = topology_fixture("artemis-3")


@pytest.fixture
def brokers(_brokers: LocalTopology) -> LocalTopology:
    """The module's brokers with every fault of an earlier test undone."""
    _brokers.reset()
    return _brokers


# -- helpers --


def address() -> str:
    return f"harness.test.{uuid.uuid4().hex[:12]}"


def send(url: str, to: str, body: str) -> None:
    conn = BlockingConnection(url, timeout=10)
    try:
        conn.create_sender(to).send(Message(body=body))
    finally:
        conn.close()


def receive(url: str, at: str, timeout: float) -> str | None:
    """The body of the next message at `at`, or None if none comes within `timeout`."""
    conn = BlockingConnection(url, timeout=10)
    try:
        rcv = conn.create_receiver(at, credit=1)
        try:
            msg = rcv.receive(timeout=timeout)
        except Timeout:
            return None
        rcv.accept()
        return msg.body
    finally:
        conn.close()


def opens(url: str, timeout: float) -> bool:
    """An AMQP connection opens at `url` within `timeout`."""
    try:
        conn = BlockingConnection(url, timeout=timeout)
    except Exception:  # proton's Timeout, ConnectionException, or a socket error
        return False
    conn.close()
    return True


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                hexaddr, hexport = local.split(":")
                raw = bytes.fromhex(hexaddr)
                # /proc shows each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                ip = ipaddress.ip_address(raw)
                # A JVM listens on an IPv6 socket: 127.0.0.1 shows as ::ffff:127.0.0.1.
                ip = getattr(ip, "ipv4_mapped", None) or ip
                found.add((str(ip), int(hexport, 16)))
    return found


def ours(workdir: Path) -> list[str]:
    """Command lines of live processes that name `workdir` (every broker's JVM does)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(workdir) in cmd and state != "Z":
            found.append(f"{proc.name}: {cmd[:160]}")
    return found


def running(pid: int, start: str | None) -> bool:
    now = ports.process_start_time(pid)
    return now is not None and now == start


# -- bring-up --


def test_bring_up_every_broker_ready_and_versions(brokers):
    print(f"\nartemis-3 cold start: {brokers.cold_start_s:.2f}s")
    topo = brokers.topology
    assert topo.description == "3 independent ActiveMQ Artemis brokers"
    for svc in topo.services:
        assert brokers.services[svc.name].alive(), svc.name
        assert artemis.ready(svc, brokers.addrs, brokers.workdir), f"{svc.name} is not ready"
    assert set(brokers.toxiproxy.proxies()) == {f"{b}-{r}" for b in BROKERS for r in ("client", "observer")}
    assert brokers.versions() == {"toxiproxy": paths.binary_version("toxiproxy-server"), "artemis": "2.56.0"}
    assert set(brokers.pids()) == {*BROKERS, "toxiproxy-server"}
    for b in BROKERS:
        assert brokers.url(f"{b}-client") == f"amqp://{brokers.addrs.link(f'{b}-client')}"


def test_message_waits_for_a_receiver_and_brokers_are_independent(brokers):
    to = address()
    send(brokers.url("a1-client"), to, "hello a1")
    # Nobody listens on a2: the message is on a1 only.
    assert receive(brokers.url("a2-observer"), to, timeout=1) is None
    assert receive(brokers.url("a1-observer"), to, timeout=10) == "hello a1"
    assert receive(brokers.url("a1-observer"), to, timeout=0.5) is None, "delivered twice"


def test_the_one_acceptor_is_amqp_on_loopback(brokers):
    for b in BROKERS:
        port = brokers.addrs.services[(b, "amqp")]
        conf = ET.parse(brokers.workdir / b / "etc" / "broker.xml").getroot()
        core = conf.find("core:core", NS)
        assert core is not None and core.findtext("core:name", namespaces=NS) == b
        acceptors = core.findall("core:acceptors/core:acceptor", NS)
        assert len(acceptors) == 1
        url = acceptors[0].text.strip()
        assert url.startswith(f"tcp://127.0.0.1:{port}?") and "protocols=AMQP;" in url, url
        # What the JVM really listens on: that address only (no default 61616, no web console).
        assert listening_sockets(brokers.services[b].pid) == {("127.0.0.1", port)}
        assert opens(f"amqp://127.0.0.1:{port}", timeout=5)


# -- faults --


def test_kill_and_start_comes_back_on_the_same_port(brokers):
    port = brokers.addrs.services[("a2", "amqp")]
    old = brokers.pids()["a2"]
    profile = brokers.workdir / "a2" / "etc" / "artemis.profile"
    created = profile.stat().st_mtime_ns
    brokers.kill("a2")
    assert not brokers.services["a2"].alive()
    assert not ports.listening(port)
    assert not opens(brokers.url("a2-client"), timeout=2)
    started = time.monotonic()
    brokers.start("a2")
    print(f"\na2 start after kill: {time.monotonic() - started:.2f}s")
    assert brokers.pids()["a2"] != old
    assert profile.stat().st_mtime_ns == created, "the restart made the instance again (slow)"
    assert listening_sockets(brokers.pids()["a2"]) == {("127.0.0.1", port)}
    to = address()
    send(brokers.url("a2-client"), to, "after restart")
    assert receive(brokers.url("a2-observer"), to, timeout=10) == "after restart"
    assert brokers.versions()["artemis"] == "2.56.0"


def test_pause_stops_amqp_and_resume_brings_it_back(brokers):
    svc = brokers.topology.service("a3")
    brokers.pause("a3")
    try:
        assert not opens(brokers.url("a3-client"), timeout=1.5), "an AMQP open completed on a paused broker"
        assert not artemis.ready(svc, brokers.addrs, brokers.workdir)
    finally:
        brokers.resume("a3")
    poll(lambda: opens(brokers.url("a3-client"), timeout=5), 20, "a3 to answer AMQP after resume")
    assert artemis.ready(svc, brokers.addrs, brokers.workdir)


def test_reset_restarts_a_killed_broker(brokers):
    brokers.kill("a3")
    assert not brokers.services["a3"].alive()
    brokers.reset()
    assert brokers.services["a3"].alive()
    assert opens(brokers.url("a3-client"), timeout=5)


# -- teardown and bad environments --


def test_down_leaves_no_java_and_no_bound_port(tmp_path):
    workdir = tmp_path / "w"
    started = time.monotonic()
    live = LocalTopology.up(topology.artemis_brokers(1), workdir)
    try:
        print(f"\none broker cold start (toxiproxy, create, JVM): {time.monotonic() - started:.2f}s")
        pids = live.pids()
        starts = {name: p.start for name, p in live.services.items()}
        starts["toxiproxy-server"] = live.proxy_proc.start
        all_ports = live.addrs.all_ports()
        assert ours(workdir), "the broker's command line does not name its workdir"
        assert opens(live.url("a1-client"), timeout=5)
        svc = live.topology.service("a1")
        assert all(artemis.ready(svc, live.addrs, workdir) for _ in range(5))
        # Neither the configuration nor the readiness probe makes the broker complain.
        noise = [x for x in artemis.console(svc, workdir).splitlines() if " WARN " in x or " ERROR " in x]
        assert not noise, noise
    finally:
        stopping = time.monotonic()
        live.down()
        print(f"down: {time.monotonic() - stopping:.2f}s")
    left = [f"{name} (pid {pid})" for name, pid in pids.items() if running(pid, starts[name])]
    assert not left, f"still running after down(): {left}"
    assert not ours(workdir), ours(workdir)
    # A port another worker claimed right after our release may be bound by it now.
    with ports._locked():
        busy = [p for p in all_ports if not (ports.CLAIMS / str(p)).exists() and not ports.bindable(p)]
    assert not busy, f"ports still bound after down(): {busy}"


def test_missing_artemis_says_run_make_setup_and_leaves_nothing(tmp_path, monkeypatch, spawned):
    real = paths.manifest()
    binaries = {k: v for k, v in real.get("binaries", {}).items() if k != "artemis"}
    monkeypatch.setattr(paths, "manifest", lambda: {**real, "binaries": binaries})
    workdir = tmp_path / "w"
    with pytest.raises(EnvironmentFault) as e:
        LocalTopology.up(topology.get("artemis-3"), workdir)
    line = e.value.line()
    assert "\n" not in line
    assert line == "ActiveMQ Artemis is not installed: run `make setup`", line
    assert [p.name for p in spawned] == ["toxiproxy-server"], "only Toxiproxy should have started"
    assert not any(running(p.pid, p.start) for p in spawned), "toxiproxy-server still running"
    assert not ours(workdir), ours(workdir)
