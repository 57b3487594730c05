"""One small module per kind of server: how to configure it, start it, and tell
that it is ready. The backends run them; the topology names them by kind.

Optional hooks the local backend reads: `startup_error(svc, workdir)`, the
server's own line for why it will not serve (polled while it is waited for), and
`waiting_for(svc)`, what readiness means when it is more than being up."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol

from harness.services import artemis, nats_server, router


class Addressing(Protocol):
    """How a backend places things: where a service listens, how a server dials a
    link (routes), and how a client reaches a link (what servers advertise)."""

    def listen(self, service: str, port: str) -> str: ...
    def dial(self, link: str) -> str: ...
    def public(self, link: str) -> str: ...


@dataclass
class Addresses:
    """The loopback ports one running topology was given."""

    host: str = "127.0.0.1"
    api: int = 0  # Toxiproxy's API
    sink: int = 0  # upstream of the route sink: claimed, never bound
    services: dict[tuple[str, str], int] = field(default_factory=dict)
    links: dict[str, int] = field(default_factory=dict)

    def service(self, name: str, port: str) -> str:
        return f"{self.host}:{self.services[(name, port)]}"

    def link(self, name: str) -> str:
        return f"{self.host}:{self.links[name]}"

    # Addressing: on the local backend everything is on loopback.
    def listen(self, service: str, port: str) -> str:
        return self.service(service, port)

    def dial(self, link: str) -> str:
        return self.link(link)

    def public(self, link: str) -> str:
        return self.link(link)

    def all_ports(self) -> list[int]:
        return [self.api, self.sink, *self.services.values(), *self.links.values()]

    def to_json(self) -> dict:
        return {
            "host": self.host,
            "api": self.api,
            "sink": self.sink,
            "services": {f"{s}:{p}": v for (s, p), v in self.services.items()},
            "links": self.links,
        }

    @classmethod
    def from_json(cls, data: dict) -> Addresses:
        """The inverse of to_json (a `harness up` record read back by a later process)."""
        services = {tuple(k.rsplit(":", 1)): v for k, v in data["services"].items()}
        return cls(data["host"], data["api"], data["sink"], services, dict(data["links"]))  # type: ignore[arg-type]


KINDS: dict[str, ModuleType] = {nats_server.KIND: nats_server, artemis.KIND: artemis, router.KIND: router}
