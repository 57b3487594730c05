"""nats-server: configuration, start command, readiness, version."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness import certs, paths
from harness.errors import EnvironmentFault

if TYPE_CHECKING:
    from harness.services import Addresses, Addressing
    from harness.topology import Service, Topology

KIND = "nats-server"
SCHEME = "nats"
BINARY = "nats-server"


def scheme(svc: Service) -> str:
    """The URL scheme clients use for this node: tls:// when its client port needs TLS
    (nats.go and nats.py both read it as "TLS required")."""
    return "tls" if svc.tls else SCHEME


def _q(text: str) -> str:
    return json.dumps(text)  # a double-quoted string in the config's syntax


def config(svc: Service, topo: Topology, at: Addressing, cluster_name: str, tls: certs.Certs | None = None) -> str:
    """The node's configuration. `tls`: the certificates for a TLS client port."""
    lines = [
        f"server_name: {svc.name}",
        f'listen: "{at.listen(svc.name, "client")}"',
        f'http: "{at.listen(svc.name, "monitor")}"',
        # Clients learn the other nodes from INFO: advertise the proxied address
        # so that a discovered server is reached through its link too.
        f'client_advertise: "{at.public(f"{svc.name}-client")}"',
    ]
    if svc.tls:
        if tls is None:
            raise ValueError(f"{svc.name} has TLS but no certificates were given")
        # The client port only: the monitor port stays plain HTTP (readiness), and
        # routes are not encrypted (this is about clients).
        lines += ["tls {", f"  cert_file: {_q(str(tls.cert))}", f"  key_file: {_q(str(tls.key))}", "}"]
    if svc.users:
        users = ", ".join(f"{{user: {_q(u)}, password: {_q(p)}}}" for u, p in svc.users)
        lines += ["authorization {", f"  users: [{users}]", "}"]
    if svc.cluster:
        routes = [f'"nats-route://{at.dial(x.name)}"' for x in topo.links if x.role == "route" and x.origin == svc.name]
        lines += [
            "cluster {",
            f"  name: {cluster_name}",
            f'  listen: "{at.listen(svc.name, "cluster")}"',
            # Peers learn each other's cluster address by gossip and may dial it
            # as an implicit route: advertise the sink, so no route bypasses a link.
            f'  advertise: "{at.dial("route-sink")}"',
            f"  routes: [{', '.join(routes)}]",
            "}",
        ]
    return "\n".join(lines) + "\n"


def launch(
    svc: Service, topo: Topology, addrs: Addresses, workdir: Path, instance: str
) -> tuple[list[str], dict | None]:
    """Write the node's config into `workdir`; the command that runs it (and its env)."""
    conf = workdir / f"{svc.name}.conf"
    conf.write_text(config(svc, topo, addrs, f"h{instance}", certs.at(workdir) if svc.tls else None))
    return [paths.binary(BINARY), "-c", str(conf)], None


def _monitor(addrs: Addresses, svc: Service, endpoint: str) -> dict | None:
    url = f"http://{addrs.service(svc.name, 'monitor')}/{endpoint}"
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def ready(svc: Service, addrs: Addresses, workdir: Path) -> bool:
    """Serving clients and, in a cluster, routed to every peer."""
    health = _monitor(addrs, svc, "healthz")
    if not health or health.get("status") != "ok":
        return False
    if not svc.cluster:
        return True
    routez = _monitor(addrs, svc, "routez")
    peers = {r.get("remote_name") or r.get("remote_id") for r in (routez or {}).get("routes", [])}
    return len(peers) >= len(svc.cluster) - 1


def reload_users(
    svc: Service, topo: Topology, addrs: Addresses, workdir: Path, instance: str, pid: int, users: tuple
) -> None:
    """Give the running node other users (passwords) and reload its configuration
    (SIGHUP); returns once the node says it loaded it (varz config_load_time moved).
    Connections that no longer log in are closed by the server; new ones need the
    new password. `launch` renders `svc.users` again on a restart."""
    before = (_monitor(addrs, svc, "varz") or {}).get("config_load_time")
    changed = replace(svc, users=tuple(users))
    conf = workdir / f"{svc.name}.conf"
    conf.write_text(config(changed, topo, addrs, f"h{instance}", certs.at(workdir) if svc.tls else None))
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = (_monitor(addrs, svc, "varz") or {}).get("config_load_time")
        if now and now != before:
            return
        time.sleep(0.02)
    raise EnvironmentFault(f"{svc.name} did not reload its configuration within 10 s", f"see {workdir}/{svc.name}.log")


def version(svc: Service, addrs: Addresses, workdir: Path) -> str | None:
    varz = _monitor(addrs, svc, "varz")
    return varz.get("version") if varz else None
