"""The local backend with the 3-node NATS cluster ("nats-3"): real nats-servers
behind a real toxiproxy-server, brought up, faulted, torn down, and made to fail.

Processes are tracked precisely (a spy around harness.procs.spawn, and the test's
own workdir in each nats-server's command line) rather than by comparing global
pgrep output: other test workers start the same binaries at the same time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support import poll, topology_fixture

import harness.backends.local as local
from harness import paths, ports, procs, topology
from harness.backends.local import LocalTopology
from harness.clock import now_ns
from harness.errors import EnvironmentFault, UsageError
from harness.faults import Fault
from harness.services import nats_server

NODES = ("n1", "n2", "n3")


# -- fixtures --


_cluster = topology_fixture("nats-3")


@pytest.fixture
def cluster(_cluster: LocalTopology) -> LocalTopology:
    """The module's cluster with every fault of an earlier test undone."""
    _cluster.reset()
    return _cluster


@pytest.fixture
def claimed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every port the backend claims during the test (the real claim, watched)."""
    seen: list[int] = []
    real = ports.claim

    def spy(count: int, label: str, owner: int | None = None) -> list[int]:
        got = real(count, label, owner)
        seen.extend(got)
        return got

    monkeypatch.setattr(ports, "claim", spy)
    return seen


# -- helpers --


def routez(live: LocalTopology, node: str) -> dict | None:
    try:
        url = f"http://{live.addrs.service(node, 'monitor')}/routez"
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def peers(live: LocalTopology, node: str) -> set[str] | None:
    """Names of the nodes `node` has a route to; None if its monitor did not answer."""
    rz = routez(live, node)
    return None if rz is None else {r.get("remote_name") for r in rz.get("routes", [])}


def read_info(addr: str, timeout: float = 5.0) -> dict:
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            assert chunk, f"{addr} closed before a full INFO line: {data!r}"
            data += chunk
    assert data.startswith(b"INFO "), data
    return json.loads(data[len(b"INFO ") :].split(b"\r\n")[0])


def zombie(pid: int) -> bool:
    """Dead, only waiting for its parent to reap it (orphans are reaped by the slow init here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def running(pid: int, start: str | None) -> bool:
    """The process `pid` that started at `start` still exists (a reused pid does not count)."""
    now = ports.process_start_time(pid)
    return now is not None and now == start and not zombie(pid)


def group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid` (every server runs in a group of its own)."""
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in out.split() if not zombie(int(pid))]


def pgrep(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def our_claims(port_list: list[int]) -> list[int]:
    """Ports of `port_list` that still have a claim file owned by this process."""
    left = []
    for port in port_list:
        try:
            rec = json.loads((ports.CLAIMS / str(port)).read_text())
        except (OSError, ValueError):
            continue
        if rec.get("pid") == os.getpid():
            left.append(port)
    return left


def unclaimed_but_busy(port_list: list[int], skip: set[int] = frozenset()) -> list[int]:
    """Ports nobody has claimed that are still bound. Checked under the claims lock, so a
    port another worker claimed (and may bind) right after our release is told apart."""
    busy = []
    with ports._locked():
        for port in port_list:
            if port in skip or (ports.CLAIMS / str(port)).exists():
                continue
            if not ports.bindable(port):
                busy.append(port)
    return busy


def assert_nothing_left(spawned: list[procs.Proc], workdir: Path, port_list: list[int], skip=frozenset()) -> None:
    alive = [f"{p.name} (pid {p.pid})" for p in spawned if running(p.pid, p.start)]
    assert not alive, f"still running after a failed bring-up: {alive}"
    groups = {p.name: group_members(p.pid) for p in spawned if group_members(p.pid)}
    assert not groups, f"processes left in the servers' process groups: {groups}"
    assert not pgrep(str(workdir)), pgrep(str(workdir))
    assert not our_claims(port_list), f"port claims not released: {our_claims(port_list)}"
    assert not unclaimed_but_busy(port_list, skip), f"ports still bound: {unclaimed_but_busy(port_list, skip)}"


# -- bring-up --


def test_bring_up_every_service_ready_one_proxy_per_link(cluster):
    topo = cluster.topology
    for svc in topo.services:
        assert cluster.services[svc.name].alive(), svc.name
        assert nats_server.ready(svc, cluster.addrs, cluster.workdir), f"{svc.name} is not ready"
    proxies = cluster.toxiproxy.proxies()
    assert set(proxies) == {x.name for x in topo.links}
    for link in topo.links:
        p = proxies[link.name]
        assert p["enabled"], link.name
        assert p["listen"] == cluster.addrs.link(link.name)
        if link.role == "sink":
            assert p["upstream"] == f"{cluster.addrs.host}:{cluster.addrs.sink}"
        else:
            assert p["upstream"] == cluster.addrs.service(link.to, link.port), link.name
    assert cluster.versions() == {
        "toxiproxy": paths.binary_version("toxiproxy-server"),
        "nats-server": paths.binary_version("nats-server"),
    }
    assert set(cluster.pids()) == {*NODES, "toxiproxy-server"}


def test_routes_go_through_the_route_links(tmp_path):
    topo = topology.get("nats-3")
    route_links = {x.name for x in topo.links if x.role == "route"}
    assert len(route_links) == 6
    since = now_ns()
    live = LocalTopology.up(topo, tmp_path / "w")
    try:

        def accepted() -> set[str]:
            return {e["link"] for e in live.wire_events(since) if e["kind"] == "conn_accepted"}

        poll(lambda: route_links <= accepted(), 10, f"connections on every route link (saw {accepted()})")

        # Each route connection shows at its dialling end the port it dialled (a route link's,
        # or a node's cluster port if it bypassed the proxy) and at the other end the dialler's
        # own ephemeral port (Toxiproxy's, through a link).
        cluster_ports = {live.addrs.services[(n, "cluster")] for n in NODES}
        link_ports = {live.addrs.links[name] for name in route_links}
        through_links = 0
        for node in NODES:
            rz = routez(live, node)
            assert rz is not None and rz["routes"], f"{node} has no routes"
            for r in rz["routes"]:
                assert r["port"] not in cluster_ports, f"{node} has a route bypassing the proxies: {r}"
                through_links += r["port"] in link_ports
        assert through_links > 0, "no node shows a route dialled through a route link"

        conf = (live.workdir / "n1.conf").read_text()
        advertise = re.search(r'^\s*advertise:\s*"([^"]+)"', conf, re.M)
        assert advertise and advertise[1] == live.addrs.link("route-sink"), conf
        routes = re.findall(r'"nats-route://([^"]+)"', conf)
        assert sorted(routes) == sorted([live.addrs.link("route-n1-n2"), live.addrs.link("route-n1-n3")]), conf
    finally:
        live.down()


# -- faults on the cluster --


def test_partition_cuts_n1_off_and_revert_heals_it(cluster):
    fault = Fault("partition", "n1|n2,n3")
    fault.apply(cluster)
    try:
        enabled = {name: p["enabled"] for name, p in cluster.toxiproxy.proxies().items()}
        cut = {"route-n1-n2", "route-n1-n3", "route-n2-n1", "route-n3-n1"}
        assert {name for name, on in enabled.items() if not on} == cut
        poll(lambda: peers(cluster, "n1") == set(), 10, "n1 to lose its routes")
        poll(
            lambda: peers(cluster, "n2") == {"n3"} and peers(cluster, "n3") == {"n2"},
            10,
            "n2 and n3 to keep only their route to each other",
        )
        # The partition holds: n1 finds no way around it (e.g. through advertised addresses).
        hold_until = time.monotonic() + 1.0
        while time.monotonic() < hold_until:
            assert peers(cluster, "n1") == set(), "n1 reconnected during the partition"
            time.sleep(0.1)
    finally:
        fault.revert(cluster)
    n1 = cluster.topology.service("n1")
    poll(lambda: nats_server.ready(n1, cluster.addrs, cluster.workdir), 10, "n1 to route to both peers again")
    assert peers(cluster, "n1") == {"n2", "n3"}


def test_partition_target_is_checked(cluster):
    for target in ("n1", "n1|n9", "|n2"):
        with pytest.raises(UsageError):
            Fault("partition", target).apply(cluster)
    assert all(p["enabled"] for p in cluster.toxiproxy.proxies().values())


def test_client_links_reach_their_node_and_only_links_are_advertised(cluster):
    client_links = {n: cluster.addrs.link(f"{n}-client") for n in NODES}
    raw = {f"{cluster.addrs.host}:{port}" for port in cluster.addrs.services.values()}
    for node in NODES:
        url = cluster.url(f"{node}-client")
        assert url.startswith("nats://")
        addr = url.removeprefix("nats://")
        assert addr == client_links[node]
        others = {a for n, a in client_links.items() if n != node}

        def info(addr=addr, others=others) -> dict | None:
            i = read_info(addr)
            return i if others <= set(i.get("connect_urls", [])) else None

        i = poll(info, 10, f"{node} to advertise its peers")
        assert i["server_name"] == node
        assert i["port"] == cluster.addrs.links[f"{node}-client"]
        urls = set(i["connect_urls"])
        assert urls <= set(client_links.values()), f"{node} advertises something else than client links: {urls}"
        assert not urls & raw, f"{node} advertises a raw service port: {urls & raw}"


# -- teardown --


def test_down_leaves_no_process_no_port_no_claim(tmp_path):
    live = LocalTopology.up(topology.get("nats-3"), tmp_path / "w")
    try:
        pids = live.pids()
        starts = {name: p.start for name, p in live.services.items()}
        starts["toxiproxy-server"] = live.proxy_proc.start
        all_ports = live.addrs.all_ports()
        assert set(pids) == {*NODES, "toxiproxy-server"}
        assert all(running(pid, starts[name]) for name, pid in pids.items())
        assert len(set(all_ports)) == 2 + 3 * 3 + 13
        assert sorted(our_claims(all_ports)) == sorted(all_ports), "the ports were not claimed"
        in_use = [p for p in all_ports if p != live.addrs.sink and ports.bindable(p)]
        assert not in_use, f"ports that should be listening are not: {in_use}"
    finally:
        live.down()
    left = [f"{name} (pid {pid})" for name, pid in pids.items() if running(pid, starts[name])]
    assert not left, f"still running after down(): {left}"
    assert not our_claims(all_ports), "claims left after down()"
    assert not unclaimed_but_busy(all_ports), "ports still bound after down()"


# -- bad environments --


def test_port_in_use_fails_with_one_line_and_leaves_nothing(tmp_path, monkeypatch, spawned):
    real_claim = ports.claim
    handed: list[int] = []
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]

        def claim_with_busy_port(count: int, label: str, owner: int | None = None) -> list[int]:
            got = real_claim(count, label, owner)
            # After Toxiproxy's API and sink ports comes n1's client port.
            ports.release([got[2]])
            got[2] = busy
            handed.extend(got)
            return got

        monkeypatch.setattr(ports, "claim", claim_with_busy_port)
        workdir = tmp_path / "w"
        with pytest.raises(EnvironmentFault) as e:
            LocalTopology.up(topology.get("nats-3"), workdir)
        line = e.value.line()
        assert f'listen: "127.0.0.1:{busy}"' in (workdir / "n1.conf").read_text()
        assert line.startswith("n1 exited with code"), line
        assert f"127.0.0.1:{busy}" in line and "address already in use" in line, line
        assert "\n" not in line
        assert {p.name for p in spawned} == {"toxiproxy-server", *NODES}
        assert_nothing_left(spawned, workdir, handed, skip={busy})
        assert not ports.bindable(busy), "the test's own listener was disturbed"


def test_server_that_never_gets_ready_times_out_and_is_stopped(tmp_path, monkeypatch, spawned, claimed):
    fake = tmp_path / "fake-nats-server"
    fake.write_text("#!/bin/sh\n# listens on nothing, answers nothing\nwhile true; do sleep 1; done\n")
    fake.chmod(0o755)
    real_binary = paths.binary
    monkeypatch.setattr(paths, "binary", lambda name: str(fake) if name == "nats-server" else real_binary(name))
    monkeypatch.setattr(local, "READY_TIMEOUT_S", 3)
    workdir = tmp_path / "w"
    started = time.monotonic()
    with pytest.raises(EnvironmentFault) as e:
        LocalTopology.up(topology.get("nats-3"), workdir)
    took = time.monotonic() - started
    line = e.value.line()
    assert "timed out after 3s" in line and "n1" in line and "ready" in line, line
    assert took < 20, f"bring-up took {took:.1f}s to give up with a 3 s timeout"
    fakes = [p for p in spawned if p.name in NODES]
    assert len(fakes) == 3 and all(p.argv[0] == str(fake) for p in fakes)
    assert_nothing_left(spawned, workdir, claimed)
    assert not pgrep(str(fake)), "the fake server is still running"


def test_missing_binary_says_run_make_setup(tmp_path, monkeypatch, spawned, claimed):
    monkeypatch.setattr(paths, "manifest", lambda: {})
    with pytest.raises(EnvironmentFault) as e:
        paths.binary("nats-server")
    assert "nats-server" in e.value.line() and "run `make setup`" in e.value.line()
    with pytest.raises(EnvironmentFault) as e:
        LocalTopology.up(topology.get("nats-3"), tmp_path / "w")
    assert "not installed" in e.value.line() and "make setup" in e.value.line()
    assert claimed, "bring-up should have claimed ports before failing"
    assert spawned == []
    assert_nothing_left(spawned, tmp_path / "w", claimed)
