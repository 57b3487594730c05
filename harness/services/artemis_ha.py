"""An Artemis primary/backup pair on one shared store (topology artemis-ha).

Both instances point at one journal, bindings, paging and large-messages folder
(the pair's store, in the topology's workdir). The primary holds the store's lock
while it lives; the backup waits for that lock and becomes live once the primary
dies. A shared store needs no quorum (replication does, to tell a dead primary from
a cut one): why it was chosen is in docs/decisions.md.

Each broker also has a CORE acceptor ("core") that the other dials, through no
proxy, and a cluster-connection: over it the backup announces itself, and the
primary then names it in every AMQP Open as failover-server-list. What it names is
the connector the cluster-connection refers to ("announced"): the broker's own
client link, the Toxiproxy address clients reach it at, never its acceptor.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from harness.services import amqp_open

if TYPE_CHECKING:
    from harness.services import Addresses
    from harness.topology import Service, Topology

ANNOUNCED = "AMQ221031"  # "backup announced": the backup registered with its primary
BACKUP_STARTED = "AMQ221109"  # "... Backup Server ... started; waiting for primary to fail before activating"
BACKUP_ACTIVE = "AMQ221010"  # "Backup Server is now active": it took over
FAILBACK = "AMQ221008"  # "primary server wants to restart, restarting server in backup"
# The pair's own login to each other; no secret: loopback brokers made per run.
CLUSTER_USER = ("harness-cluster", "harness-cluster-secret")
# How often the cluster-connection redials a peer that is not there (the default is 500 ms).
RETRY_INTERVAL_MS = 500

HA_XML = """\
      <!-- The pair's shared store: the backup waits on its lock while the primary lives. -->
      <paging-directory>{store}/paging</paging-directory>
      <bindings-directory>{store}/bindings</bindings-directory>
      <journal-directory>{store}/journal</journal-directory>
      <large-messages-directory>{store}/large-messages</large-messages-directory>
      <!-- A write, no fsync, before the broker settles a durable message: a killed
           broker's writes are in the page cache the backup reads; an fsync guards only
           against the machine's crash, which no scenario makes, and on a loaded host
           it held settlements back 250 ms. -->
      <journal-datasync>false</journal-datasync>
      <connectors>
         <!-- Announced to clients (failover-server-list): this broker's client link, through its proxy. -->
         <connector name="announced">tcp://{announced}</connector>
         <connector name="peer">tcp://{peer}</connector>
      </connectors>
      <cluster-user>{cluster_user}</cluster-user>
      <cluster-password>{cluster_password}</cluster-password>
      <cluster-connections>
         <cluster-connection name="ha">
            <connector-ref>announced</connector-ref>
            <retry-interval>{retry}</retry-interval>
            <static-connectors>
               <connector-ref>peer</connector-ref>
            </static-connectors>
         </cluster-connection>
      </cluster-connections>
      <ha-policy>
         <shared-store>
{policy}
         </shared-store>
      </ha-policy>
"""
# The primary hands over on a clean shutdown too; the backup gives the primary its
# place back when it restarts (failback), as the pair is in the documentation's example.
_POLICY = "            <{0}>\n               <{1}>true</{1}>\n            </{0}>"
POLICIES = {
    "primary": _POLICY.format("primary", "failover-on-shutdown"),
    "backup": _POLICY.format("backup", "allow-failback"),
}


def store(svc: Service, workdir: Path) -> Path:
    """The pair's one store, named after the pair (both members find the same)."""
    return workdir / f"{'-'.join(svc.cluster)}-store"


def client_link(svc: Service, topo: Topology) -> str:
    """The link the pair announces for this broker: its first client link."""
    links = topo.links_to(svc.name, "client")
    if not links:
        raise ValueError(f"{svc.name} is in an HA pair but has no client link to announce")
    return links[0].name


def peer(svc: Service) -> str:
    return next(n for n in svc.cluster if n != svc.name)


def xml(svc: Service, topo: Topology, addrs: Addresses, workdir: Path) -> str:
    """The ha-policy, store, connectors and cluster-connection of one member."""
    return HA_XML.format(
        store=escape(str(store(svc, workdir))),
        announced=escape(addrs.public(client_link(svc, topo))),
        peer=escape(addrs.listen(peer(svc), "core")),
        cluster_user=escape(CLUSTER_USER[0]),
        cluster_password=escape(CLUSTER_USER[1]),
        retry=RETRY_INTERVAL_MS,
        policy=POLICIES[svc.ha],
    )


def core_acceptor(svc: Service, addrs: Addresses) -> str:
    return f'         <acceptor name="core">tcp://{escape(addrs.listen(svc.name, "core"))}?protocols=CORE</acceptor>\n'


def wipe(svc: Service, workdir: Path) -> None:
    """An empty store: the pair starts with no journal of an earlier run."""
    shutil.rmtree(store(svc, workdir), ignore_errors=True)


def _announced_file(inst: Path) -> Path:
    return inst / "harness-announced"


def remember_announced(svc: Service, topo: Topology, addrs: Addresses, inst: Path) -> None:
    """Where the backup should be announced, for ready(), which is not given the topology."""
    _announced_file(inst).write_text(addrs.public(client_link(svc, topo)))


def announced_address(inst: Path) -> str | None:
    try:
        return _announced_file(inst).read_text().strip() or None
    except OSError:
        return None


def read_open(addr: str, timeout: float = 1.0) -> dict | None:
    """The fields of the Open frame the broker at `addr` answers with, or None."""
    from harness.services.artemis import _CLOSE, _HEADER, _OPEN, _Reader, connect

    try:
        with connect(addr, timeout) as s:
            r = _Reader(s)
            s.sendall(_HEADER + _OPEN + _CLOSE)
            if r.header() != _HEADER:
                return None
            while True:
                body = r.frame()
                if body.startswith(b"\x00\x53\x10"):
                    return amqp_open.open_fields(body)
                if body.startswith(b"\x00\x53\x18"):
                    return None
    except (OSError, ValueError, IndexError):
        return None


def failover_list(addr: str) -> list[str] | None:
    """The failover-server-list (host:port) the broker at `addr` sends clients; None if it did not answer."""
    fields = read_open(addr)
    return None if fields is None else amqp_open.failover_servers(fields)


def backup_announced(console: str, primary_addr: str, announced: str | None) -> bool:
    """A standby backup is in place: it said it announced itself, and the primary's
    Open names it where clients reach it."""
    if ANNOUNCED not in console or announced is None:
        return False
    return announced in (failover_list(primary_addr) or [])


def waiting_for(svc: Service) -> str:
    """What a member's readiness waits for, in words for the timeout's one line."""
    primary = svc.cluster[0]
    if svc.ha == "primary":
        return (
            f"{svc.name} (artemis primary of {peer(svc)}) to be active: once {peer(svc)} has taken over, "
            f"only after it gives the store back (failback, {FAILBACK})"
        )
    return (
        f"{svc.name} (artemis backup of {primary}) to announce itself: its log saying 'backup announced' "
        f"({ANNOUNCED}) and {primary}'s AMQP open naming it in failover-server-list"
    )
