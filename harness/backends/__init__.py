"""Backends bring a topology up and down. Faults and scenarios talk to the running
topology only through the `Live` protocol, so a scenario runs unchanged on any
backend."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.errors import UsageError
from harness.services import Addresses
from harness.topology import Topology
from harness.toxiproxy import ToxiproxyClient


class Live(Protocol):
    """A running topology."""

    topology: Topology
    backend: str
    # Toxiproxy listens on this host, so a scenario may add a proxy on any port of
    # it (a documented default such as 5672); in a container it cannot.
    proxies_on_host: bool
    addrs: Addresses
    toxiproxy: ToxiproxyClient
    workdir: Path

    def url(self, link: str) -> str: ...
    def wire_events(self, since_ns: int, until_ns: int | None = None) -> list[dict]: ...
    def kill(self, service: str) -> None: ...
    def pause(self, service: str) -> None: ...
    def resume(self, service: str) -> None: ...
    def start(self, service: str) -> None: ...
    def stop(self, service: str) -> None: ...
    def disconnect(self, service: str) -> None: ...
    def reconnect(self, service: str) -> None: ...
    # What a service fault is confirmed against: "running", "paused" or "stopped";
    # and whether the service is off its network (isolate).
    def service_state(self, service: str) -> str: ...
    def isolated(self, service: str) -> bool: ...
    def reset(self) -> None: ...
    def health(self) -> list[str]: ...
    def versions(self) -> dict[str, str]: ...
    def down(self) -> None: ...


BACKENDS = ("local", "compose")


def check(backend: str) -> None:
    """Refuse, before anything starts, a backend that cannot run here."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}", f"choose one of: {', '.join(BACKENDS)}")
    if backend == "compose":
        from harness.backends import compose

        compose.engine()
        compose.compose_command()


def up(backend: str, topology: Topology, workdir: Path) -> Live:
    check(backend)
    if backend == "compose":
        from harness.backends.compose import ComposeTopology

        return ComposeTopology.up(topology, workdir)
    from harness.backends.local import LocalTopology

    return LocalTopology.up(topology, workdir)
