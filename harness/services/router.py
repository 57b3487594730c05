"""skupper-router: the maintained successor of Qpid Dispatch Router and AMQ
Interconnect, configured in the same language (qdrouterd.conf, called
skrouterd.conf here). Source of the rules: ../shared/seeds/amq-interconnect-
network-connections.txt.

Everything in a router's configuration comes from the topology (harness/topology.py):
- its mode: edge when it dials an interior router's edge listener (an edge router
  connects to an interior router), interior otherwise;
- a listener for each named port, the name giving its role: amqp is `normal`
  (clients), inter-router and edge are the roles of the same name;
- a connector for each route link it dials, named after the service it reaches;
  its role is that of the listener it reaches on another router (inter-router or
  edge), or route-container for any other server (a broker);
- failoverUrls on an interior router's normal listener: the client links of the
  routers it shares an inter-router connection with, as clients reach them;
- failoverUrls on its edge listener: the advertised links (topology.Link) of the
  edge routers that dial it, so that an edge router's connector gets a failover
  list from its peer, as the seed describes for outgoing connections;
- for a route link with a waypoint (a queue on a broker): a waypoint address and an
  outgoing autoLink on that connector, so that clients send to the queue through
  the router and their links stay attached to the router while the connector is
  lost (a link route would detach them with it).

On the local backend the router is a binary found on this machine (router_binary.py):
HARNESS_ROUTER, else skrouterd or qdrouterd on PATH (distributions package them).
Where none is found, available() raises Unavailable with how to get one, and the
runner skips the scenario with that reason (nothing is judged). A container backend
runs the pinned image and mounts what config() renders at CONFIG_PATH.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness import procs
from harness.services import router_binary
from harness.services.artemis import handshake
from harness.services.router_binary import QDROUTERD, SKROUTERD, find

if TYPE_CHECKING:
    from harness.services import Addresses, Addressing
    from harness.topology import Link, Service, Topology

KIND = "skupper-router"
SCHEME = "amqp"
# The router that Skupper 2.2.1, a released Skupper, runs by default
# (skupperproject/skupper, internal/images/images.go); pinned like every other server.
VERSION = "3.5.1"
IMAGE = f"quay.io/skupper/skupper-router:{VERSION}"
# The image's start script (launch.sh, its default command) copies the file that
# QDROUTERD_CONF names to /tmp/skrouterd.conf, expands ${VARIABLES} in it (so a
# container backend can put run-time ports into failoverUrls), and runs skrouterd
# on the copy. The mounted file lives beside the image's own default config.
CONFIG_PATH = "/etc/skupper-router/config/skrouterd.conf"
ENVIRONMENT = {"QDROUTERD_CONF": CONFIG_PATH}
# Fixed ports inside the container, by the names the topology gives them; the
# image exposes 5672 and 55672, 45672 follows the same pattern for edge routers.
PORTS = {"amqp": 5672, "inter-router": 55672, "edge": 45672}
LISTENER_ROLES = {"amqp": "normal", "inter-router": "inter-router", "edge": "edge"}
REASON = router_binary.REASON  # why router scenarios are skipped on the local backend
HEADER = "# Written by harness/services/router.py from the topology; edits here are lost."
# "ROUTER (info) Version: 3.5.1", logged once the router is up (both flavours).
STARTED = re.compile(r"ROUTER \(info\) Version: (\S+)")


def scheme(svc: Service) -> str:
    """The URL scheme clients use for this router (no TLS listener is configured yet)."""
    return "amqps" if svc.tls else SCHEME


def dialled(svc: Service, topo: Topology) -> list[Link]:
    """The route links this router dials: one connector each (not the advertised
    ones, which it learns only from a peer's failover list)."""
    return [x for x in topo.links if x.role == "route" and x.origin == svc.name and not x.advertised]


def edge_failover_urls(svc: Service, topo: Topology, at: Addressing) -> list[str]:
    """failoverUrls on this router's edge listener: the advertised links of the edge
    routers that dial it, as a router reaches them (dial), since routers use them."""
    edges = {x.origin for x in topo.links_to(svc.name, "route") if x.port == "edge" and not x.advertised}
    return [f"{SCHEME}://{at.dial(x.name)}" for x in topo.links if x.advertised and x.origin in edges]


def mode(svc: Service, topo: Topology) -> str:
    return "edge" if any(x.port == "edge" for x in dialled(svc, topo)) else "interior"


def connector_role(link: Link, topo: Topology) -> str:
    if link.to is None or link.port is None:
        raise ValueError(f"{link.name} leads nowhere: a connector needs a service to reach")
    target = topo.service(link.to)
    if target.kind != KIND:
        return "route-container"  # a broker: an AMQP container that holds known addresses
    if link.port not in ("inter-router", "edge"):
        raise ValueError(f"{link.name}: a router connects to another router's inter-router or edge listener")
    return LISTENER_ROLES[link.port]


def inter_router_peers(svc: Service, topo: Topology) -> list[str]:
    """Routers at the other end of this router's inter-router connections, in link order."""
    peers: list[str] = []
    for x in topo.links:
        if x.role == "route" and x.port == "inter-router" and svc.name in (x.origin, x.to):
            peer = x.to if x.origin == svc.name else x.origin
            if peer is not None and peer not in peers:
                peers.append(peer)
    return peers


def _advertised(svc: Service, topo: Topology) -> list[tuple[Service, Link]]:
    if mode(svc, topo) != "interior":
        return []
    peers = [topo.service(p) for p in inter_router_peers(svc, topo)]
    return [(peer, x) for peer in peers for x in topo.links_to(peer.name, "client")]


def failover_links(svc: Service, topo: Topology) -> list[str]:
    """The links whose public addresses this router's normal listener advertises
    as failoverUrls: the client links of its inter-router peers. A container
    backend publishes these ports at run time, so it passes them in as variables."""
    return [x.name for _, x in _advertised(svc, topo)]


def failover_urls(svc: Service, topo: Topology, at: Addressing) -> list[str]:
    """failoverUrls in the seed's form, [(amqp|amqps|ws|wss)://](HOST|IP ADDRESS)[:port]."""
    return [f"{scheme(peer)}://{at.public(x.name)}" for peer, x in _advertised(svc, topo)]


def _split(address: str) -> tuple[str, str]:
    host, port = address.rsplit(":", 1)
    return host, port


def _block(entity: str, attributes: dict[str, str]) -> list[str]:
    """One entity: `name {` alone on its line, `key: value` lines, `}` alone (the
    router's parser needs exactly this; a `#` starts a comment anywhere)."""
    return [f"{entity} {{", *(f"    {k}: {v}" for k, v in attributes.items()), "}", ""]


def config(svc: Service, topo: Topology, at: Addressing, flavour: str = SKROUTERD) -> str:
    """The router's configuration file (skrouterd.conf, or qdrouterd.conf for a 1.x
    qdrouterd). `at` places it: where it listens, how it dials a link, and the
    public address of a link (what clients are told)."""
    if svc.tls or svc.users:
        raise ValueError(f"{svc.name}: TLS and users are not configured for routers yet")
    if "amqp" not in svc.ports:
        raise ValueError(f"{svc.name}: a router needs a normal listener (port 'amqp'); its health check uses it")
    if flavour not in (QDROUTERD, SKROUTERD):
        raise ValueError(f"unknown router flavour {flavour!r}")
    lines = [HEADER, ""]
    lines += _block("router", {"mode": mode(svc, topo), "id": svc.name})
    if flavour == QDROUTERD:
        # qdrouterd 1.x logs only notice and above by default; the version line and
        # each connection's open and close (evidence beside the wire log) are info.
        # skrouterd logs info by default, and its log entity differs.
        lines += _block("log", {"module": "DEFAULT", "enable": "info+"})
    for port in svc.ports:
        host, number = _split(at.listen(svc.name, port))
        attributes = {"host": host, "port": number, "role": LISTENER_ROLES[port]}
        urls: list[str] = []
        if port == "amqp":
            urls = failover_urls(svc, topo, at)
        elif port == "edge":
            urls = edge_failover_urls(svc, topo, at)
        if urls:
            attributes["failoverUrls"] = ", ".join(urls)
        lines += _block("listener", attributes)
    for link in dialled(svc, topo):
        host, number = _split(at.dial(link.name))
        role = connector_role(link, topo)
        lines += _block("connector", {"name": link.to or "", "host": host, "port": number, "role": role})
    for link in dialled(svc, topo):
        if link.waypoint:
            lines += waypoint(link, topo)
    return "\n".join(lines)


def waypoint(link: Link, topo: Topology) -> list[str]:
    """The address and autoLink that send what clients send to `link.waypoint` on to
    the broker over this connector. The autoLink names the connector, not an
    address: once the connector reconnects (to the same broker or, by a failover
    list, to another), the router attaches it again there."""
    if connector_role(link, topo) != "route-container":
        raise ValueError(f"{link.name}: a waypoint is a queue on a broker, reached by a route-container connector")
    address = {"prefix": link.waypoint, "waypoint": "yes"}
    auto = {"address": link.waypoint, "direction": "out", "connection": link.to or ""}
    return _block("address", address) + _block("autoLink", auto)


def healthcheck(svc: Service) -> list[str]:
    """A container health test over AMQP: skstat (in the image) opens an AMQP
    connection to the normal listener and asks the router's management for its
    general statistics; it exits non-zero unless the router answers."""
    return ["CMD", "skstat", "-b", f"127.0.0.1:{PORTS['amqp']}", "-g"]


def available() -> None:
    """Unavailable, with how to get one, when this machine has no router binary;
    EnvironmentFault when the one found cannot be used (too old, --version fails)."""
    find()


def launch(
    svc: Service, topo: Topology, addrs: Addresses, workdir: Path, instance: str
) -> tuple[list[str], dict | None]:
    """Write the router's configuration into `workdir`, in the language of the
    binary found (Unavailable when there is none); the command that runs it."""
    binary = find()
    conf = workdir / f"{svc.name}.conf"
    conf.write_text(config(svc, topo, addrs, binary.flavour))
    return [binary.path, "-c", str(conf)], None


def ready(svc: Service, addrs: Addresses, workdir: Path) -> bool:
    """An AMQP open and close completes on the router's normal listener."""
    return handshake(addrs.service(svc.name, "amqp"))


# "MAIN (critical) Router start-up failed: Python: Exception: Cannot load
# configuration file ...: role='edge' only allowed ... for {...}" (both flavours).
FAILED = re.compile(r"(?:critical|error)\) Router start-up failed: (.*)")


def startup_error(svc: Service, workdir: Path) -> str | None:
    """The router's own line saying why it did not start, without the attribute dump
    that follows the entity it refused; None when it logged none."""
    try:
        return startup_error_in((workdir / f"{svc.name}.log").read_text(errors="replace"))
    except OSError:
        return None


def startup_error_in(text: str) -> str | None:
    found = FAILED.findall(text)
    if not found:
        return None
    return re.sub(r" for \{.*", "", found[-1]).removeprefix("Python: ").strip()


def version(svc: Service, addrs: Addresses, workdir: Path) -> str | None:
    """The version the router logged at start (its log: <workdir>/<name>.log), named
    "qdrouterd 1.x" for a Qpid Dispatch router, whose versions are numbered apart."""
    try:
        m = STARTED.search((workdir / f"{svc.name}.log").read_text(errors="replace"))
    except OSError:
        return None
    if not m:
        return None
    # skupper-router's versions start at 2: a 1.x is Qpid Dispatch's qdrouterd.
    return f"{QDROUTERD} {m[1]}" if m[1].startswith("1.") else m[1]


# What a router's log says of a connection it opened and of the links an edge
# router attaches on its uplink (qdrouterd 1.x and skrouterd log the same words).
OPENED_OUT = re.compile(r"Connection Opened: dir=out host=(\S+)")
EDGE_LINK = re.compile(r"Link attached: .*qd\.router-edge-downlink")


def trial(text: str, workdir: Path, name: str, seconds: float) -> dict:
    """Run the local router binary on configuration `text` for up to `seconds`, then
    stop it: whether it refused the configuration (with its own line), and, if it
    ran, the connections it opened and whether it attached edge links."""
    binary = find()
    conf, log = workdir / f"{name}.conf", workdir / f"{name}.log"
    conf.write_text(text)
    proc = procs.spawn(name, [binary.path, "-c", str(conf)], log=log)
    try:
        deadline = time.monotonic() + seconds
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        ran = proc.alive()
    finally:
        proc.stop()
        procs.forget(proc)
    said = log.read_text(errors="replace") if log.exists() else ""
    return {
        "refused": not ran,
        "exit_code": None if ran else proc.returncode,
        "error": startup_error_in(said),
        "opened": OPENED_OUT.findall(said),
        "edge_links": len(EDGE_LINK.findall(said)),
    }
