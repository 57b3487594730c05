"""Topologies: services and the links between them, declared once, in code.

Every client-to-service and service-to-service path is a Link, and every Link is
its own Toxiproxy proxy. The backends, the proxy configuration and compose.yaml
are all derived from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache

from harness.errors import UsageError


@dataclass(frozen=True)
class Service:
    name: str
    kind: str  # which module in harness/services runs it
    ports: tuple[str, ...]  # named ports the service listens on
    cluster: tuple[str, ...] = ()  # peers it forms a cluster with (names, itself included)
    # TLS on its client-facing port (the certificates are made per running topology,
    # see harness/certs.py); a monitoring port stays plain.
    tls: bool = False
    # Users that must log in, as (user, password) pairs; empty: no authentication.
    users: tuple[tuple[str, str], ...] = ()
    # Its part in a high-availability pair (`cluster` names the pair, the primary
    # first): "primary" or "backup"; empty for a server on its own.
    ha: str = ""


@dataclass(frozen=True)
class Link:
    name: str
    to: str | None  # service it leads to; None for the route sink
    port: str | None  # named port on that service
    role: str  # client | observer | route | sink
    origin: str | None = None  # the service that dials it (routes)
    # A route its origin is never configured to dial: it learns the address only
    # from a failover list its peer sends (routers), so any use of it is the origin's.
    advertised: bool = False
    # A queue on the broker a router's route-container connector carries: the router
    # sends what clients send to that address on to the broker over this connection
    # (an autoLink), so the client's link to the router outlives the connection.
    waypoint: str = ""


@dataclass(frozen=True)
class Topology:
    name: str
    description: str
    services: tuple[Service, ...]
    links: tuple[Link, ...] = field(default=())

    @property
    def tls(self) -> bool:
        """Some service of this topology needs the per-run certificates."""
        return any(s.tls for s in self.services)

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise UsageError(
            f"topology {self.name} has no service {name!r}", f"services: {', '.join(s.name for s in self.services)}"
        )

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise UsageError(
            f"topology {self.name} has no link {name!r}", f"links: {', '.join(x.name for x in self.links)}"
        )

    def links_to(self, service: str, role: str | None = None) -> list[Link]:
        return [x for x in self.links if x.to == service and (role is None or x.role == role)]

    def routes_of(self, service: str) -> list[Link]:
        """Every route link with this service at either end (cut them to isolate it)."""
        return [x for x in self.links if x.role == "route" and service in (x.to, x.origin)]


def nats_nodes(count: int) -> Topology:
    """`count` nats-server nodes; with more than one, a full-mesh cluster.

    Each node has a client link and an observer link (observers watch the messages
    of a scenario and are never faulted). Each ordered pair of nodes has its own
    route link, so a node can be cut from clients, from its peers, or both. The
    route sink is where nodes advertise their cluster address: gossip-driven
    implicit routes go there and fail, so no route can bypass the proxies.
    """
    names = tuple(f"n{i}" for i in range(1, count + 1))
    clustered = count > 1
    services = tuple(
        Service(
            n,
            "nats-server",
            ("client", "monitor", "cluster") if clustered else ("client", "monitor"),
            cluster=names if clustered else (),
        )
        for n in names
    )
    links: list[Link] = []
    for n in names:
        links.append(Link(f"{n}-client", n, "client", "client"))
        links.append(Link(f"{n}-observer", n, "client", "observer"))
    for a in names if clustered else ():
        for b in names:
            if a != b:
                links.append(Link(f"route-{a}-{b}", b, "cluster", "route", origin=a))
    if clustered:
        links.append(Link("route-sink", None, None, "sink"))
    desc = "one nats-server" if count == 1 else f"{count}-node nats-server cluster (full mesh)"
    return Topology(f"nats-{count}" if clustered else "nats-single", desc, services, tuple(links))


def artemis_brokers(count: int) -> Topology:
    """`count` independent ActiveMQ Artemis brokers (AMQP), no routes between them.

    Each broker has a client link and an observer link, as the NATS nodes have.
    """
    names = tuple(f"a{i}" for i in range(1, count + 1))
    services = tuple(Service(n, "artemis", ("amqp",)) for n in names)
    links: list[Link] = []
    for n in names:
        links.append(Link(f"{n}-client", n, "amqp", "client"))
        links.append(Link(f"{n}-observer", n, "amqp", "observer"))
    desc = "one ActiveMQ Artemis broker" if count == 1 else f"{count} independent ActiveMQ Artemis brokers"
    return Topology(f"artemis-{count}", desc, services, tuple(links))


def artemis_ha() -> Topology:
    """An ActiveMQ Artemis primary (a1) and its backup (a2) on one shared store.

    Each broker has a client link and an observer link, as artemis-3's have. The
    backup serves nothing until the primary dies; the primary's AMQP open tells
    clients about it (failover-server-list), naming the backup's client link, so a
    client that follows that list goes through the backup's proxy. The brokers
    reach each other on a CORE acceptor of their own ("core"), with no link: the
    pair's own traffic is not what a scenario faults.
    """
    pair = ("a1", "a2")
    services = (
        Service("a1", "artemis", ("amqp", "core"), cluster=pair, ha="primary"),
        Service("a2", "artemis", ("amqp", "core"), cluster=pair, ha="backup"),
    )
    links = tuple(Link(f"{n}-{role}", n, "amqp", role) for n in pair for role in ("client", "observer"))
    return Topology("artemis-ha", "an ActiveMQ Artemis primary (a1) and its backup (a2), shared store", services, links)


def check_ha(topo: Topology) -> None:
    """Every HA pair is one primary then one backup, each naming the pair."""
    for svc in topo.services:
        if not svc.ha:
            continue
        if svc.ha not in ("primary", "backup") or len(svc.cluster) != 2 or svc.name not in svc.cluster:
            raise UsageError(f"topology {topo.name}: {svc.name} is no member of a primary/backup pair ({svc.cluster})")
        roles = [topo.service(n).ha for n in svc.cluster]
        if roles != ["primary", "backup"]:
            raise UsageError(
                f"topology {topo.name}: the pair {svc.cluster} must be a primary then a backup, not {roles}"
            )


def router_network() -> Topology:
    """skupper-router as the AMQ Interconnect chapter "Configuring network
    connections" lays it out: two interior routers, an edge router, a broker.

    r2 dials r1 (an inter-router connector on r2, the inter-router listener on r1),
    e1 dials r1 (role edge: an edge router connects to an interior router), and r1
    dials the broker b1 (a route-container connector). Each of these connections
    is a route link of its own, named after the router that dials and the service
    it reaches, so each can be dropped, delayed or partitioned alone. r1 and r2
    have a normal listener for clients, with a client link and an observer link
    each; e1's normal listener has no link (only its health check uses it).
    route-e1-r2 leads to r2's edge listener but is in no connector: r1's edge
    listener names it in the failover list it sends e1, so e1 reaches r2 only by
    using that list (the seed's "the router will also try the alternate hosts").
    harness/services/router.py derives every router's configuration from this.
    """
    routers = (
        Service("r1", "skupper-router", ("amqp", "inter-router", "edge")),
        Service("r2", "skupper-router", ("amqp", "edge")),
        Service("e1", "skupper-router", ("amqp",)),
    )
    links = (
        Link("r1-client", "r1", "amqp", "client"),
        Link("r1-observer", "r1", "amqp", "observer"),
        Link("r2-client", "r2", "amqp", "client"),
        Link("r2-observer", "r2", "amqp", "observer"),
        Link("route-r2-r1", "r1", "inter-router", "route", origin="r2"),
        Link("route-e1-r1", "r1", "edge", "route", origin="e1"),
        Link("route-r1-b1", "b1", "amqp", "route", origin="r1"),
        Link("route-e1-r2", "r2", "edge", "route", origin="e1", advertised=True),
    )
    desc = "a router network (skrouterd or qdrouterd): interior r1 and r2, edge e1, an Artemis broker b1 behind r1"
    return Topology("router", desc, (*routers, Service("b1", "artemis", ("amqp",))), links)


# The queue router-ha's router sends on to the pair: one fixed address, since the
# router's configuration is written before any run (an autoLink names its address).
ROUTER_HA_QUEUE = "h.router-ha.q"


def router_ha() -> Topology:
    """A router in front of the artemis-ha pair: one interior router r1 whose
    route-container connector dials the primary a1 (route-r1-a1), and the pair as in
    artemis-ha, each broker with its client and observer link.

    r1 is configured with a1 only. The primary's Open names the backup as its client
    link (a2-client), so a router that follows that failover list reaches the backup
    through that proxy, and the wire shows it; no client uses a2-client here, so every
    connection on it is the router's. The connector carries ROUTER_HA_QUEUE: clients
    send to it on r1 and the router passes it on to whichever broker it is connected to.
    """
    pair = artemis_ha()
    links = (
        Link("r1-client", "r1", "amqp", "client"),
        Link("r1-observer", "r1", "amqp", "observer"),
        Link("route-r1-a1", "a1", "amqp", "route", origin="r1", waypoint=ROUTER_HA_QUEUE),
        *pair.links,
    )
    desc = "a router (qdrouterd or skrouterd) r1 whose connector dials the primary of an Artemis pair (a1, a2)"
    return Topology("router-ha", desc, (*pair.services, Service("r1", "skupper-router", ("amqp",))), links)


# The one user of the authentication topologies. The password is no secret: a
# throwaway server on loopback, and scenarios give clients a wrong one on purpose.
AUTH_USER = ("harness", "harness-secret")


def variant(base: Topology, suffix: str, description: str, *, tls: bool = False, users: tuple = ()) -> Topology:
    """`base` with TLS and/or authentication on every service ("nats-single" + "tls")."""
    services = tuple(replace(s, tls=tls, users=users) for s in base.services)
    return Topology(f"{base.name}-{suffix}", f"{base.description}, {description}", services, base.links)


@cache
def registry() -> dict[str, Topology]:
    single, one_broker = nats_nodes(1), artemis_brokers(1)
    tops = [
        single,
        nats_nodes(3),
        artemis_brokers(3),
        variant(single, "tls", "TLS on its client port (a CA made per run)", tls=True),
        variant(single, "auth", "users with passwords", users=(AUTH_USER,)),
        variant(one_broker, "tls", "TLS on its AMQP acceptor (a CA made per run)", tls=True),
        variant(one_broker, "auth", "security on: one user with a password, no anonymous access", users=(AUTH_USER,)),
        router_network(),
        artemis_ha(),
        router_ha(),
    ]
    for t in tops:
        check_ha(t)
    return {t.name: t for t in tops}


def get(name: str) -> Topology:
    try:
        return registry()[name]
    except KeyError:
        raise UsageError(f"unknown topology {name!r}", f"choose one of: {', '.join(registry())}") from None
