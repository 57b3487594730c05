"""compose.yaml, generated from the topology in code.

    harness compose --write     regenerate compose.yaml and compose/ (committed)

Official images pinned by version. Every client-facing and server-to-server link
passes through the one Toxiproxy container, whose proxies come from a generated
compose/toxiproxy.json; drivers on the host reach the published link ports.
tests/test_compose.py proves the committed files equal what this generates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.services import nats_server
from harness.topology import Topology
from harness.topology import get as get_topology

TOPOLOGY = "nats-3"
PROJECT = "fault-harness"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
# The Alpine variant of the official image: it has wget for the health check.
NATS_IMAGE = "nats:2.15.2-alpine"
API_PORT = 8474
LINK_PORT_BASE = 30001
# Fixed ports inside each server container.
SERVICE_PORTS = {"nats-server": {"client": 4222, "cluster": 6222, "monitor": 8222}}
HEADER = "# Generated from harness/topology.py by `harness compose --write`; do not edit by hand.\n"


@dataclass
class ComposeAddresses:
    """Addressing inside Compose: servers by service name, links on the Toxiproxy
    container, and the published link ports on the host's loopback for clients."""

    topology: Topology

    def link_port(self, link: str) -> int:
        return LINK_PORT_BASE + [x.name for x in self.topology.links].index(link)

    def listen(self, service: str, port: str) -> str:
        return f"0.0.0.0:{SERVICE_PORTS[self.topology.service(service).kind][port]}"

    def dial(self, link: str) -> str:
        return f"toxiproxy:{self.link_port(link)}"

    def public(self, link: str) -> str:
        return f"127.0.0.1:{self.link_port(link)}"

    def upstream(self, link: str) -> str:
        x = self.topology.link(link)
        if x.to is None or x.port is None:
            return "127.0.0.1:1"  # the route sink: nothing listens there
        return f"{x.to}:{SERVICE_PORTS[self.topology.service(x.to).kind][x.port]}"


def _yaml(value: object, indent: int = 0) -> str:
    """A small YAML writer for the plain data compose needs (strings are JSON-quoted,
    which YAML reads as-is)."""
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{k}:\n{_yaml(v, indent + 1)}")
            else:
                out.append(f"{pad}{k}: {_yaml(v)}")
        return "\n".join(out)
    if isinstance(value, list):
        if value and all(not isinstance(v, dict | list) for v in value) and indent > 0:
            return "\n".join(f"{pad}- {_yaml(v)}" for v in value)
        return "\n".join(
            f"{pad}-\n{_yaml(v, indent + 1)}" if isinstance(v, dict | list) else f"{pad}- {_yaml(v)}" for v in value
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def render(topology: Topology | None = None) -> dict[str, str]:
    """Relative path -> file content, for compose.yaml and its compose/ folder."""
    topo = topology or get_topology(TOPOLOGY)
    at = ComposeAddresses(topo)
    files: dict[str, str] = {}
    proxies = [
        {"name": x.name, "listen": f"0.0.0.0:{at.link_port(x.name)}", "upstream": at.upstream(x.name), "enabled": True}
        for x in topo.links
    ]
    files["compose/toxiproxy.json"] = json.dumps(proxies, indent=2) + "\n"
    published = [f"127.0.0.1:{API_PORT}:{API_PORT}"] + [
        f"127.0.0.1:{at.link_port(x.name)}:{at.link_port(x.name)}"
        for x in topo.links
        if x.role in ("client", "observer")
    ]
    services: dict[str, dict] = {
        "toxiproxy": {
            "image": TOXIPROXY_IMAGE,
            "command": ["-host", "0.0.0.0", "-config", "/config/toxiproxy.json"],
            "volumes": ["./compose/toxiproxy.json:/config/toxiproxy.json:ro"],
            "ports": published,
            "healthcheck": {
                "test": ["CMD", "/toxiproxy-cli", "list"],
                "interval": "2s",
                "timeout": "2s",
                "retries": 15,
            },
        }
    }
    for svc in topo.services:
        conf = f"compose/{svc.name}.conf"
        files[conf] = nats_server.config(svc, topo, at, PROJECT)
        monitor = SERVICE_PORTS[svc.kind]["monitor"]
        services[svc.name] = {
            "image": NATS_IMAGE,
            "command": ["-c", f"/config/{svc.name}.conf"],
            "volumes": [f"./{conf}:/config/{svc.name}.conf:ro"],
            "depends_on": {"toxiproxy": {"condition": "service_healthy"}},
            "healthcheck": {
                "test": ["CMD", "wget", "-q", "-O", "-", f"http://127.0.0.1:{monitor}/healthz"],
                "interval": "2s",
                "timeout": "2s",
                "retries": 15,
            },
        }
    doc = {"name": PROJECT, "services": services}
    files["compose.yaml"] = HEADER + _yaml(doc) + "\n"
    return files


def write(root: Path = paths.ROOT) -> list[Path]:
    written = []
    for rel, text in render().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
