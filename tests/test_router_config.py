"""The router topology's generated configuration, held to the rules of the AMQ
Interconnect chapter "Configuring network connections"
(../shared/seeds/amq-interconnect-network-connections.txt), and the router
scenarios skipped, with the reason, on the local backend.

The configuration is read back with a small parser of the qdrouterd.conf block
syntax written here, independent of the code that renders it, and checked as a
network: each connector is followed through the proxy it dials to the listener
it reaches. The checker must also reject broken networks, or it proves nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from harness import baseline, paths, results
from harness.backends.local import LocalTopology
from harness.drivers import registry
from harness.errors import Unavailable
from harness.judging.entry import judge
from harness.report import terminal
from harness.runner import TopologyPool, run_entry
from harness.scenario import load_all
from harness.services import KINDS, Addresses, artemis_ha, router, router_binary
from harness.topology import ROUTER_HA_QUEUE, get

ROUTERS = ("r1", "r2", "e1")

# -- a parser of the block syntax ----------------------------------------------------


class ConfigError(ValueError):
    pass


def parse(text: str) -> list[tuple[str, dict[str, str]]]:
    """`entity {` alone on a line, `key: value` lines, `}` alone; `#` starts a comment."""
    out: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if m := re.fullmatch(r"([\w-]+)\s*\{", line):
            if current is not None:
                raise ConfigError(f"line {number}: {m[1]} opens inside another entity")
            current = {}
            out.append((m[1], current))
        elif line == "}":
            if current is None:
                raise ConfigError(f"line {number}: }} closes nothing")
            current = None
        elif m := re.fullmatch(r"([\w-]+)\s*:\s*(\S.*)", line):
            if current is None:
                raise ConfigError(f"line {number}: attribute {m[1]} outside an entity")
            if m[1] in current:
                raise ConfigError(f"line {number}: attribute {m[1]} given twice")
            current[m[1]] = m[2]
        else:
            raise ConfigError(f"line {number}: cannot read {line!r}")
    if current is not None:
        raise ConfigError("the last entity is never closed")
    return out


# -- the seed's rules, checked on a network of routers -------------------------------

# "Each URL must use the following form: [(amqp|amqps|ws|wss)://](HOST|IP ADDRESS)[:port]"
FAILOVER_URL = re.compile(r"(?:(?:amqp|amqps|ws|wss)://)?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?")
# The roles the seed names: for router connections inter-router or edge, for clients
# normal, for an external AMQP container (a broker) route-container.
LISTENER_ROLES = {"normal", "inter-router", "edge"}
CONNECTOR_ROLES = {"inter-router", "edge", "route-container"}


@dataclass
class Router:
    name: str
    mode: str | None = None
    listeners: list[dict[str, str]] = field(default_factory=list)
    connectors: list[dict[str, str]] = field(default_factory=list)
    addresses: list[dict[str, str]] = field(default_factory=list)
    autolinks: list[dict[str, str]] = field(default_factory=list)


def load(name: str, text: str, problems: list[str]) -> Router:
    r = Router(name)
    sections = parse(text)
    found = [attrs for entity, attrs in sections if entity == "router"]
    if len(found) != 1:
        problems.append(f"{name}: {len(found)} router entities, not one")
    else:
        r.mode = found[0].get("mode")
        if r.mode not in ("interior", "edge"):
            problems.append(f"{name}: mode {r.mode!r} is neither interior nor edge")
        if found[0].get("id") != name:
            problems.append(f"{name}: router id {found[0].get('id')!r}")
    for entity, attrs in sections:
        if entity == "listener":
            r.listeners.append(attrs)
        elif entity == "connector":
            r.connectors.append(attrs)
        elif entity == "address":
            r.addresses.append(attrs)
        elif entity == "autoLink":
            r.autolinks.append(attrs)
        elif entity != "router":
            problems.append(f"{name}: unexpected entity {entity}")
    return r


def check(configs: dict[str, str], proxies: dict[str, str]) -> list[str]:
    """Problems of a network of router configurations. `proxies` maps each address a
    connector may dial (a Toxiproxy listen address) to the address it leads to."""
    problems: list[str] = []
    routers = {name: load(name, text, problems) for name, text in configs.items()}
    where = {f"{x['host']}:{x['port']}": (r, x) for r in routers.values() for x in r.listeners if "host" in x}
    for r in routers.values():
        for x in r.listeners:
            missing = {"host", "port", "role"} - set(x)
            if missing:
                problems.append(f"{r.name}: a listener lacks {', '.join(sorted(missing))}")
            if x.get("role") not in LISTENER_ROLES:
                problems.append(f"{r.name}: listener role {x.get('role')!r}")
            if r.mode == "edge" and x.get("role") in ("inter-router", "edge"):
                problems.append(f"{r.name}: an edge router listens for {x['role']} connections")
            if "failoverUrls" in x:
                # Clients reconnect (normal), and so do edge routers' connectors (edge):
                # "A router can use connection failover for both incoming and outgoing connections."
                if x.get("role") not in ("normal", "edge"):
                    problems.append(f"{r.name}: failoverUrls on a {x.get('role')} listener")
                for url in (u.strip() for u in x["failoverUrls"].split(",")):
                    if not FAILOVER_URL.fullmatch(url):
                        problems.append(f"{r.name}: failover URL {url!r} is not of the documented form")
    for r in routers.values():
        # An autoLink is attached on the connection its connector makes: it must name
        # a route-container connector of this router, for a waypoint address.
        brokers = {c.get("name") for c in r.connectors if c.get("role") == "route-container"}
        waypoints = {a.get("prefix") for a in r.addresses if a.get("waypoint") == "yes"}
        for a in r.autolinks:
            if a.get("connection") not in brokers:
                problems.append(f"{r.name}: autoLink on {a.get('connection')!r}, no route-container connector")
            if a.get("address") not in waypoints:
                problems.append(f"{r.name}: autoLink for {a.get('address')!r}, which is no waypoint address")
            if a.get("direction") not in ("in", "out"):
                problems.append(f"{r.name}: autoLink direction {a.get('direction')!r}")
    pairs: dict[frozenset[str], int] = {}
    for r in routers.values():
        for c in r.connectors:
            missing = {"host", "port", "role"} - set(c)
            if missing:
                problems.append(f"{r.name}: a connector lacks {', '.join(sorted(missing))}")
                continue
            role = c["role"]
            if role not in CONNECTOR_ROLES:
                problems.append(f"{r.name}: connector role {role!r}")
                continue
            upstream = proxies.get(f"{c['host']}:{c['port']}")
            if upstream is None:
                problems.append(f"{r.name}: connector to {c['host']}:{c['port']} goes around the proxies")
                continue
            if role == "route-container":
                if not c.get("name"):
                    problems.append(f"{r.name}: a route-container connector has no name")
                if upstream in where:
                    problems.append(f"{r.name}: a route-container connector reaches router {where[upstream][0].name}")
                continue
            if upstream not in where:
                problems.append(f"{r.name}: {role} connector reaches no router listener")
                continue
            peer, listener = where[upstream]
            if listener.get("role") != role:
                problems.append(f"{r.name}: {role} connector reaches a {listener.get('role')} listener on {peer.name}")
            if role == "inter-router" and "edge" in (r.mode, peer.mode):
                problems.append(f"{r.name}-{peer.name}: inter-router is for two interior routers")
            if role == "edge" and (r.mode, peer.mode) != ("edge", "interior"):
                # "Edge routers can only connect to interior routers. They cannot connect to other edge routers."
                problems.append(f"{r.name}-{peer.name}: an edge connection goes from an edge router to an interior one")
            pair = frozenset((r.name, peer.name))
            pairs[pair] = pairs.get(pair, 0) + 1
    for pair, n in pairs.items():
        if n > 1:
            # "there should only be one connection between any pair of routers"
            problems.append(f"{' and '.join(sorted(pair))}: {n} connections")
    return problems


# -- the generated network -----------------------------------------------------------


def local_addresses(name: str = "router") -> Addresses:
    """Addresses as the local backend gives them (made-up ports, no claims)."""
    topo = get(name)
    a = Addresses()
    numbers = iter(range(21001, 21100))
    a.api, a.sink = next(numbers), next(numbers)
    a.services = {(s.name, p): next(numbers) for s in topo.services for p in s.ports}
    a.links = {x.name: next(numbers) for x in topo.links}
    return a


def network() -> tuple[dict[str, str], dict[str, str], Addresses]:
    topo, at = get("router"), local_addresses()
    configs = {name: router.config(topo.service(name), topo, at) for name in ROUTERS}
    # What the proxies do: each link's address leads to its service's port.
    proxies = {at.link(x.name): at.service(x.to, x.port) for x in topo.links if x.to and x.port}
    return configs, proxies, at


def test_the_parser_reads_the_seeds_example_and_refuses_nonsense():
    seed = "connector {\n    host: 192.0.2.1\n    port: 5001\n    role: inter-router\n}\n"
    assert parse(seed) == [("connector", {"host": "192.0.2.1", "port": "5001", "role": "inter-router"})]
    assert parse("# only a comment\nrouter {  # trailing\n  mode: edge\n}\n") == [("router", {"mode": "edge"})]
    for bad in (
        "router {\n  mode: edge\n",  # never closed
        "router {\n  listener {\n  }\n}\n",  # nested
        "mode: edge\n",  # outside an entity
        "router {\n  id: a\n  id: b\n}\n",  # twice
        "router {\n  mode edge\n}\n",  # no colon
        "}\n",
    ):
        with pytest.raises(ConfigError):
            parse(bad)


def test_the_generated_network_follows_the_seed():
    configs, proxies, _ = network()
    assert check(configs, proxies) == []


def test_each_router_is_configured_as_the_topology_says():
    configs, proxies, at = network()
    r1, r2, e1 = (dict(parse(configs[n])[0][1]) for n in ROUTERS)
    assert (r1, r2, e1) == (
        {"mode": "interior", "id": "r1"},
        {"mode": "interior", "id": "r2"},
        {"mode": "edge", "id": "e1"},
    )
    blocks = {n: parse(configs[n]) for n in ROUTERS}
    roles = {n: sorted(a["role"] for e, a in blocks[n] if e == "listener") for n in ROUTERS}
    assert roles == {"r1": ["edge", "inter-router", "normal"], "r2": ["edge", "normal"], "e1": ["normal"]}
    connectors = {n: [(a["name"], a["role"]) for e, a in blocks[n] if e == "connector"] for n in ROUTERS}
    assert connectors == {"r1": [("b1", "route-container")], "r2": [("r1", "inter-router")], "e1": [("r1", "edge")]}
    # Every connector dials its own link (a proxy), never a server directly.
    for n in ROUTERS:
        for e, a in blocks[n]:
            if e == "connector":
                assert f"{a['host']}:{a['port']}" == at.link(f"route-{n}-{a['name']}")
    # r1's clients are told r2's client link, the address clients use.
    normal = next(a for e, a in blocks["r1"] if e == "listener" and a["role"] == "normal")
    assert normal["failoverUrls"] == f"amqp://{at.public('r2-client')}"
    assert proxies[at.public("r2-client")] == at.service("r2", "amqp")
    # e1 is told r2's edge listener, through its own proxy, and dials it nowhere else.
    edge = next(a for e, a in blocks["r1"] if e == "listener" and a["role"] == "edge")
    assert edge["failoverUrls"] == f"amqp://{at.dial('route-e1-r2')}"
    assert proxies[at.dial("route-e1-r2")] == at.service("r2", "edge")
    assert "failoverUrls" not in next(a for e, a in blocks["r2"] if e == "listener" and a["role"] == "edge")


def test_the_router_in_front_of_the_pair_dials_the_primary_and_carries_its_queue():
    topo, at = get("router-ha"), local_addresses("router-ha")
    text = router.config(topo.service("r1"), topo, at)
    proxies = {at.link(x.name): at.service(x.to, x.port) for x in topo.links if x.to and x.port}
    assert check({"r1": text}, proxies) == []
    blocks = parse(text)
    connectors = [a for e, a in blocks if e == "connector"]
    # One connector, to the primary only, through its own proxy: the backup is
    # learnt from the primary's Open, as the "second consumer" of that list.
    assert connectors == [
        {"name": "a1", "host": "127.0.0.1", "port": str(at.links["route-r1-a1"]), "role": "route-container"}
    ]
    assert proxies[at.dial("route-r1-a1")] == at.service("a1", "amqp")
    assert [a for e, a in blocks if e == "address"] == [{"prefix": ROUTER_HA_QUEUE, "waypoint": "yes"}]
    assert [a for e, a in blocks if e == "autoLink"] == [
        {"address": ROUTER_HA_QUEUE, "direction": "out", "connection": "a1"}
    ]
    # The primary announces the backup as its client link, which reaches the backup.
    backup = topo.service("a2")
    assert artemis_ha.client_link(backup, topo) == "a2-client"
    assert proxies[at.public("a2-client")] == at.service("a2", "amqp")


def test_the_router_network_has_no_waypoint():
    """Only router-ha carries a queue: in the router topology an autoLink would take
    the messages the inter-router scenarios send from r2 to r1's observer."""
    configs, _, _ = network()
    assert not any(e in ("address", "autoLink") for text in configs.values() for e, _ in parse(text))


def test_an_autolink_on_no_broker_connector_is_rejected():
    topo, at = get("router-ha"), local_addresses("router-ha")
    proxies = {at.link(x.name): at.service(x.to, x.port) for x in topo.links if x.to and x.port}
    text = router.config(topo.service("r1"), topo, at).replace("connection: a1", "connection: a2")
    assert check({"r1": text}, proxies) == ["r1: autoLink on 'a2', no route-container connector"]
    text = router.config(topo.service("r1"), topo, at).replace("waypoint: yes", "waypoint: no")
    assert check({"r1": text}, proxies) == [f"r1: autoLink for {ROUTER_HA_QUEUE!r}, which is no waypoint address"]


def test_a_waypoint_is_only_on_a_connector_to_a_broker():
    topo = get("router")
    link = replace(topo.link("route-r2-r1"), waypoint="q")
    with pytest.raises(ValueError, match="reached by a route-container connector"):
        router.waypoint(link, topo)


def test_what_dials_a_pair_starts_after_its_backup(tmp_path):
    """The router of router-ha waits for a2 (announced, named in a1's Open) before it
    starts; the routers of the router topology wait for no pair."""
    ha = LocalTopology(get("router-ha"), tmp_path)
    assert ha._pairs_dialled(ha.topology.service("r1")) == ["a2"]
    assert ha._pairs_dialled(ha.topology.service("a1")) == []
    plain = LocalTopology(get("router"), tmp_path)
    assert [plain._pairs_dialled(s) for s in plain.topology.services] == [[], [], [], []]


def broken(change) -> list[str]:
    configs, proxies, at = network()
    change(configs, proxies, at)
    return check(configs, proxies)


def add(configs: dict[str, str], name: str, text: str) -> None:
    configs[name] += "\n" + text + "\n"


def test_a_second_connection_between_two_routers_is_rejected():
    def both_ways(configs, proxies, at):
        # r1 also dials r2, over a new proxy to a new inter-router listener on r2.
        add(configs, "r2", "listener {\n host: 127.0.0.1\n port: 21900\n role: inter-router\n}")
        add(configs, "r1", "connector {\n name: r2\n host: 127.0.0.1\n port: 21901\n role: inter-router\n}")
        proxies["127.0.0.1:21901"] = "127.0.0.1:21900"

    def twice(configs, proxies, at):
        link = at.link("route-r2-r1")
        host, port = link.rsplit(":", 1)
        add(configs, "r2", f"connector {{\n name: r1-again\n host: {host}\n port: {port}\n role: inter-router\n}}")

    for change in (both_ways, twice):
        assert any("r1 and r2: 2 connections" in p for p in broken(change)), change.__name__


def test_an_edge_router_connecting_to_an_edge_router_is_rejected():
    def second_edge(configs, proxies, at):
        configs["e2"] = (
            "router {\n mode: edge\n id: e2\n}\n"
            "listener {\n host: 127.0.0.1\n port: 21910\n role: edge\n}\n"
            "connector {\n name: e1\n host: 127.0.0.1\n port: 21911\n role: edge\n}\n"
        )
        add(configs, "e1", "listener {\n host: 127.0.0.1\n port: 21912\n role: edge\n}")
        proxies["127.0.0.1:21911"] = "127.0.0.1:21912"

    found = broken(second_edge)
    assert any("e2-e1: an edge connection goes from an edge router to an interior one" in p for p in found), found
    assert any("an edge router listens for edge connections" in p for p in found), found


@pytest.mark.parametrize(
    ("router_name", "old", "new", "expect"),
    [
        ("r2", "role: inter-router", "role: spoke", "connector role 'spoke'"),
        ("r1", "role: normal", "role: client", "listener role 'client'"),
        ("e1", "role: edge", "role: inter-router", "inter-router is for two interior routers"),
        ("r1", "    name: b1\n", "", "a route-container connector has no name"),
        ("r1", "mode: interior", "mode: standalone", "neither interior nor edge"),
        ("r2", "id: r2", "id: r1", "router id 'r1'"),
        ("r1", "failoverUrls: amqp://", "failoverUrls: http://", "is not of the documented form"),
        ("r1", "failoverUrls: amqp://", "failoverUrls: amqp://host:1:2, amqp://", "is not of the documented form"),
        ("r2", "role: inter-router", "role: edge", "edge connector reaches a inter-router listener"),
    ],
)
def test_a_broken_configuration_is_rejected(router_name, old, new, expect):
    def change(configs, proxies, at):
        assert old in configs[router_name]
        configs[router_name] = configs[router_name].replace(old, new, 1)

    found = broken(change)
    assert any(expect in p for p in found), found


def test_a_connector_around_the_proxies_is_rejected():
    def direct(configs, proxies, at):
        link, server = at.link("route-r2-r1"), at.service("r1", "inter-router")
        configs["r2"] = configs["r2"].replace(f"port: {link.rsplit(':', 1)[1]}", f"port: {server.rsplit(':', 1)[1]}")

    assert any("goes around the proxies" in p for p in broken(direct))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("secondary.example.com:20000", True),  # the seed's own examples
        ("tertiary.example.com", True),
        ("amqps://192.0.2.1:5671", True),
        ("wss://router-r2", True),
        ("http://example.com", False),
        ("amqp://", False),
        ("amqp://host:port", False),
        ("amqp:/host", False),
    ],
)
def test_the_failover_url_form(url, ok):
    assert bool(FAILOVER_URL.fullmatch(url)) is ok


class ContainerAddressing:
    """How a container backend places things: fixed ports in each container,
    connectors dialling the topology's Toxiproxy by name."""

    def listen(self, service: str, port: str) -> str:
        return f"0.0.0.0:{router.PORTS[port]}"

    def dial(self, link: str) -> str:
        return f"router-toxiproxy:{30000 + [x.name for x in get('router').links].index(link)}"

    def public(self, link: str) -> str:
        return "127.0.0.1:${HARNESS_ROUTER_" + link.upper().replace("-", "_") + "}"


def test_in_a_container_the_router_listens_on_its_fixed_ports():
    topo = get("router")
    blocks = parse(router.config(topo.service("r1"), topo, ContainerAddressing()))
    listeners = {a["role"]: a for e, a in blocks if e == "listener"}
    assert {a["host"] for a in listeners.values()} == {"0.0.0.0"}
    assert {r: a["port"] for r, a in listeners.items()} == {"normal": "5672", "inter-router": "55672", "edge": "45672"}
    assert listeners["normal"]["failoverUrls"] == "amqp://127.0.0.1:${HARNESS_ROUTER_R2_CLIENT}"
    assert [(a["host"], a["role"]) for e, a in blocks if e == "connector"] == [("router-toxiproxy", "route-container")]
    assert router.failover_links(topo.service("r1"), topo) == ["r2-client"]
    assert router.failover_links(topo.service("e1"), topo) == []


def test_the_router_module_has_what_the_backends_use():
    assert KINDS["skupper-router"] is router
    assert re.fullmatch(r"quay\.io/skupper/skupper-router:\d+\.\d+\.\d+", router.IMAGE)
    assert router.healthcheck(get("router").service("e1"))[:2] == ["CMD", "skstat"]
    assert set(router.PORTS) >= {p for s in get("router").services if s.kind == router.KIND for p in s.ports}


# -- the local backend: skipped, with the reason --------------------------------------


def path_without_routers() -> str:
    """PATH less the folders that hold a router binary."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in folders if not any(Path(d, n).exists() for n in router_binary.SEARCHED))


@pytest.fixture
def no_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as CI sees it: no router binary, whatever is installed here."""
    monkeypatch.delenv(router_binary.ENV, raising=False)
    monkeypatch.setenv("PATH", path_without_routers())


def test_launch_on_the_local_backend_says_why_not(tmp_path, no_router):
    topo = get("router")
    with pytest.raises(Unavailable) as e:
        router.launch(topo.service("r1"), topo, local_addresses(), tmp_path, "x")
    assert e.value.line() == router.REASON
    assert e.value.exit_code == 2


def test_a_router_scenario_is_skipped_and_judged_nothing(tmp_path, spawned, no_router):
    """The real bring-up on the local backend without a router: nothing is started at
    all, and each entry says why it did not run."""
    scenarios = load_all()
    names = ("amqp.router.broker-lost", "amqp.router.failover-urls", "amqp.router.ha-failover")
    for name in names:
        (tmp_path / name).mkdir()
    pool = TopologyPool("local", tmp_path / "work")
    try:
        entries = [
            run_entry(scenarios[name], registry.get("proton-python"), pool, tmp_path / name, 1) for name in names
        ]
    finally:
        pool.close()
    assert set(pool.unavailable) == {"router", "router-ha"}
    for e in entries:
        assert (e["status"], e["error"], e["skipped"], e["unsupported"]) == ("ok", None, router.REASON, None)
        assert e["outcome"] == {"result": "skipped", "reason": router.REASON, "counts": e["outcome"]["counts"]}
        assert e["checks"] == [] and e["events"] == []
        assert terminal.entry_line(e) == f"skipped: {router.REASON}"
    doc = results.new("local", 1)
    doc["entries"] = entries
    results.finish(doc, True)
    assert results.validate(doc) == []
    assert f"skipped (not run on this backend): {router.REASON}" in terminal.render(doc)
    assert spawned == []


def test_pytest_reports_the_router_scenarios_as_skipped(tmp_path):
    argv = [sys.executable, "-m", "pytest", str(paths.SCENARIOS / "amqp_router.py"), "-q", "-rs"]
    argv += ["-p", "no:cacheprovider", "--harness-out", str(tmp_path / "out"), "--harness-client", "rhea"]
    env = {k: v for k, v in os.environ.items() if k != router_binary.ENV} | {"PATH": path_without_routers()}
    started = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=paths.ROOT, env=env)
    took = time.monotonic() - started
    out = r.stdout + r.stderr
    n = len([s for s in load_all().values() if s.topology == "router"])
    assert r.returncode == 0, out
    assert f"{n} skipped" in out and not re.search(r"\d+ (passed|failed|errors?)\b", out), out
    assert router.REASON in out, out
    assert took < 60, f"skipping took {took:.0f} s"  # nothing is started, so skipping is quick
    # The baseline's router entries (rhea's) gated nothing, and the summary says so.
    # Those of the scenarios in that file (amqp.router.ha-failover, on router-ha, is in amqp_ha.py).
    ran = {s.name for s in load_all().values() if s.topology == "router"}
    known = [k for k in baseline.load().values() if k.client == "rhea" and k.scenario in ran]
    note = f"baseline: {len(known)} known deviations not judged, their scenarios skipped ({router.REASON})"
    assert known and note in out, out
    assert note in (tmp_path / "out" / "summary.md").read_text()


# -- the router scenarios' judges, on made-up timelines --------------------------------

S = 1_000_000_000  # one second in ns


def wire(link: str, opened: float, closed: float | None, n: int) -> list[dict]:
    """A connection Toxiproxy saw on `link`, opened and closed at these seconds."""
    base = {"source": "proxy", "actor": link, "link": link, "client": f"10.0.0.1:{40000 + n}"}
    out = [{**base, "t_ns": int(opened * S), "kind": "conn_accepted"}]
    if closed is not None:
        out.append({**base, "t_ns": int(closed * S), "kind": "conn_closed", "closed_first_by": "server"})
    return out


def client(actor: str, kind: str, at: float, **fields) -> dict:
    return {"source": "client", "actor": actor, "kind": kind, "t_ns": int(at * S), **fields}


def verdicts(name: str, events: list[dict], fault: tuple[str, str, float, float]) -> dict[str, str]:
    kind, target, start, end = fault
    entry = {
        "scenario": name,
        "client": "rhea",
        "family": "amqp",
        "events": sorted(events, key=lambda e: e["t_ns"]),
        "faults": [{"kind": kind, "target": target, "params": {}, "start_ns": int(start * S), "end_ns": int(end * S)}],
        "started_ns": 0,
        "ended_ns": 60 * S,
        "links": {},
        "actors": {},
    }
    _, checks = judge(entry, load_all()[name])
    return {c["id"]: c["verdict"] for c in checks}


@pytest.mark.parametrize(("first_attempt_s", "reconnect"), [(3.0, "deviates"), (1.005, "conforms")])
def test_broker_lost_judges_the_first_attempt_and_the_retries(first_attempt_s, reconnect):
    link = "route-r1-b1"
    events = [client("client", "connected", 0.5)]
    events += wire(link, -5.0, 1.0, 0)[1:]  # the established connection, opened before the run, closes
    events += wire(link, first_attempt_s, first_attempt_s + 0.001, 1) + wire(link, 8.0, 8.001, 2)
    events += wire(link, 15.0, None, 3)  # after the broker is back: stays open
    v = verdicts("amqp.router.broker-lost", events, ("kill", "b1", 1.0, 13.0))
    assert v == {"router.connector.reconnect": reconnect, "router.connector.retry": "conforms"}


def test_broker_lost_without_a_lasting_connection_afterwards_deviates():
    link = "route-r1-b1"
    events = [client("client", "connected", 0.5), *wire(link, -5.0, 1.0, 0)[1:]]
    events += wire(link, 1.001, 1.002, 1) + wire(link, 6.0, 6.001, 2) + wire(link, 16.0, 16.001, 3)
    v = verdicts("amqp.router.broker-lost", events, ("kill", "b1", 1.0, 13.0))
    assert v == {"router.connector.reconnect": "conforms", "router.connector.retry": "deviates"}


@pytest.mark.parametrize(("via_r2", "verdict"), [(True, "conforms"), (False, "deviates")])
def test_failover_urls_is_judged_on_where_the_client_reconnected(via_r2, verdict):
    events = [client("client", "connected", 0.5), *wire("r1-client", -1.0, 1.0, 0)[1:]]
    events += wire("r1-client", 1.1, 1.101, 1) + wire("r1-client", 2.0, 2.001, 2)
    if via_r2:
        events += [*wire("r2-client", 2.5, None, 3), client("client", "reconnected", 2.6, url="amqp://r2")]
    v = verdicts("amqp.router.failover-urls", events, ("reset", "r1-client", 1.0, 11.0))
    assert v == {"router.listener.failoverUrls": verdict}


@pytest.mark.parametrize(("back_at_s", "verdict"), [(12.0, "conforms"), (None, "deviates")])
def test_a_partition_is_judged_on_the_connector_coming_back(back_at_s, verdict):
    link = "route-r2-r1"
    events = [client("observer", "received", 1.0, seq=1), client("client", "published", 0.9, seq=1)]
    events += wire(link, -5.0, 2.0, 0)[1:]
    if back_at_s is not None:
        events += wire(link, back_at_s, None, 1)
    v = verdicts("amqp.router.inter-router.partition", events, ("partition", "r1|r2", 2.0, 10.0))
    assert v == {"router.connector.retry": verdict}


def test_a_drop_with_no_traffic_before_it_is_not_measured():
    v = verdicts("amqp.router.inter-router.drop", wire("route-r2-r1", -5.0, 2.0, 0)[1:], ("reset", "route-r2-r1", 2, 3))
    assert v == {"router.connector.reconnect": "not-measured"}


@pytest.mark.parametrize(("alternate", "verdict"), [(True, "conforms"), (False, "deviates")])
def test_edge_failover_is_judged_on_whether_e1_tried_the_listed_host(alternate, verdict):
    events = [client("client", "connected", 0.5), *wire("route-e1-r1", -5.0, 1.0, 0)[1:]]
    events += wire("route-e1-r1", 2.0, 2.001, 1)
    events += wire("route-e1-r2", 3.0, None, 2) if alternate else wire("route-e1-r1", 7.0, 7.001, 2)
    v = verdicts("amqp.router.edge-failover", events, ("reset", "route-e1-r1", 1.0, 11.0))
    assert v == {"router.connector.failover-list": verdict, "router.connector.reconnect": "deviates"}


def trial_mark(variant: str, refused: bool, opened: list[str], at: float) -> dict:
    error = "Exception: Cannot load configuration file x.conf: role='edge' only allowed" if refused else None
    result = {"refused": refused, "exit_code": 1 if refused else None, "error": error, "opened": opened}
    return {"source": "harness", "actor": "harness", "kind": "mark", "label": "trial", "t_ns": int(at * S)} | {
        "variant": variant,
        **result,
        "edge_links": len(opened),
    }


@pytest.mark.parametrize(
    ("listener_refused", "edge_to_edge_opened", "verdict"),
    [(True, [], "conforms"), (True, ["127.0.0.1:5"], "deviates"), (False, [], "deviates")],
)
def test_a_misconfigured_edge_router_is_judged_on_refusal_and_on_connecting(
    listener_refused, edge_to_edge_opened, verdict
):
    events = [client("client", "connected", 0.5)]
    events += [trial_mark("edge-listener", listener_refused, [], 1.0)]
    events += [trial_mark("edge-to-edge", False, edge_to_edge_opened, 5.0)]
    entry_faults = ("none", "none", 0.0, 0.0)
    v = verdicts("amqp.router.edge-misconfigured", events, entry_faults)
    assert v == {"router.edge.interior-only": verdict}


def mark(label: str, at: float, **fields) -> dict:
    return {"source": "harness", "actor": "harness", "kind": "mark", "label": label, "t_ns": int(at * S), **fields}


def refused(link: str, at: float, n: int) -> list[dict]:
    """An attempt the proxy accepted but could not take on: its server refused the dial."""
    accepted = wire(link, at, None, n)
    return [*accepted, {**accepted[0], "kind": "upstream_failed", "t_ns": int((at + 0.001) * S), "error": "refused"}]


@pytest.mark.parametrize(("follows", "verdict"), [(True, "conforms"), (False, "deviates")])
def test_the_router_in_front_of_the_pair_is_judged_on_trying_the_listed_backup(follows, verdict):
    events = [mark("primary_open", 0.1, failover_server_list=["127.0.0.1:9"], links=["a2-client"])]
    events += [client("client", "connected", 0.5), client("client", "settled", 1.0, seq=1, outcome="accepted")]
    events += wire("route-r1-a1", -5.0, 2.05, 0)
    events += refused("route-r1-a1", 3.05, 1)
    events += [mark("backup_serving", 3.5, service="a2", after_kill_ms=1500.0, probe_ms=0.0)]
    # A refused try on the backup before it serves is still a try of the listed host.
    events += refused("a2-client", 3.2, 2) if follows else refused("route-r1-a1", 4.05, 2)
    v = verdicts("amqp.router.ha-failover", events, ("kill", "a1", 2.0, 60.0))
    assert v == {"router.connector.failover-list": verdict}


def test_the_router_in_front_of_the_pair_without_a_listed_backup_is_not_measured():
    events = [mark("primary_open", 0.1, failover_server_list=[], links=[])]
    events += [client("client", "connected", 0.5), client("client", "settled", 1.0, seq=1, outcome="accepted")]
    events += wire("route-r1-a1", -5.0, 2.05, 0)
    v = verdicts("amqp.router.ha-failover", events, ("kill", "a1", 2.0, 60.0))
    assert v == {"router.connector.failover-list": "not-measured"}
