"""nats-server: configuration, start command, readiness, version."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from harness import paths

if TYPE_CHECKING:
    from harness.services import Addresses, Addressing
    from harness.topology import Service, Topology

KIND = "nats-server"
SCHEME = "nats"
BINARY = "nats-server"


def config(svc: Service, topo: Topology, at: Addressing, cluster_name: str) -> str:
    lines = [
        f"server_name: {svc.name}",
        f'listen: "{at.listen(svc.name, "client")}"',
        f'http: "{at.listen(svc.name, "monitor")}"',
        # Clients learn the other nodes from INFO: advertise the proxied address
        # so that a discovered server is reached through its link too.
        f'client_advertise: "{at.public(f"{svc.name}-client")}"',
    ]
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
    conf.write_text(config(svc, topo, addrs, f"h{instance}"))
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


def version(svc: Service, addrs: Addresses, workdir: Path) -> str | None:
    varz = _monitor(addrs, svc, "varz")
    return varz.get("version") if varz else None
