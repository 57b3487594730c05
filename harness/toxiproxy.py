"""Our one door to a Toxiproxy server's API, built on toxiproxy-python.

toxiproxy-python keeps the server address as class state (APIConsumer.host/port),
so two servers cannot be driven side by side through it. Every call here binds the
address under one lock first. What the library lacks (updating a toxic, request
timeouts, errors a person can read) is added here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy

from harness.errors import EnvironmentFault

_bind_lock = threading.RLock()
TIMEOUT_S = 10


class ToxiproxyClient:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.host}:{self.port})"

    @contextlib.contextmanager
    def _bound(self, what: str) -> Iterator[Toxiproxy]:
        with _bind_lock:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                yield Toxiproxy()
            except requests.ConnectionError as e:
                raise EnvironmentFault(
                    f"toxiproxy at {self.host}:{self.port} is not answering ({what})",
                    "is toxiproxy-server still running? see its log",
                ) from e
            except (ProxyExists, NotFound, InvalidToxic) as e:
                detail = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
                raise EnvironmentFault(f"toxiproxy refused to {what}: {detail.strip()}") from e

    @staticmethod
    def _proxy(name: str) -> Proxy:
        # toxiproxy-python's Proxy only needs its name for the calls used here.
        return Proxy(name=name, upstream="", enabled=True, listen="")

    def version(self) -> str:
        with self._bound("read its version") as tp:
            raw = tp.version()
        try:
            # Toxiproxy 2.x answers {"version": "v2.12.0"}; older servers plain text.
            text = json.loads(raw)["version"]
        except (TypeError, ValueError, KeyError):
            text = (raw or b"").decode()
        return text.strip().lstrip("v")

    def answering(self) -> bool:
        with _bind_lock:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            return Toxiproxy().running()

    def create(self, name: str, listen: str, upstream: str, enabled: bool = True) -> None:
        with self._bound(f"create proxy {name}") as tp:
            tp.create(upstream=upstream, name=name, listen=listen, enabled=enabled)

    def delete(self, name: str) -> None:
        with self._bound(f"delete proxy {name}"):
            self._proxy(name).destroy()

    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._bound(f"{'enable' if enabled else 'disable'} proxy {name}"):
            proxy = self._proxy(name)
            proxy.enable() if enabled else proxy.disable()

    def add_toxic(
        self, proxy: str, name: str, type_: str, stream: str, attributes: dict, toxicity: float = 1.0
    ) -> None:
        with self._bound(f"add {type_} toxic to {proxy}"):
            self._proxy(proxy).add_toxic(name=name, type=type_, stream=stream, toxicity=toxicity, attributes=attributes)

    def remove_toxic(self, proxy: str, name: str) -> None:
        with self._bound(f"remove toxic {name} from {proxy}"):
            self._proxy(proxy).destroy_toxic(name)

    def update_toxic(self, proxy: str, name: str, attributes: dict) -> None:
        """Change a toxic's attributes in place (toxiproxy-python has no call for it)."""
        with self._bound(f"update toxic {name} on {proxy}"):
            r = requests.patch(
                f"http://{self.host}:{self.port}/proxies/{proxy}/toxics/{name}",
                json={"attributes": attributes},
                timeout=TIMEOUT_S,
            )
            if r.status_code != 200:
                raise EnvironmentFault(f"toxiproxy refused to update toxic {name} on {proxy}: {r.text.strip()}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        with self._bound("reset") as tp:
            tp.reset()

    def proxies(self) -> dict[str, dict]:
        with self._bound("list proxies") as tp:
            return {
                name: {"listen": p.listen, "upstream": p.upstream, "enabled": p.enabled}
                for name, p in tp.proxies().items()
            }

    def toxics(self, proxy: str) -> list[str]:
        with self._bound(f"list toxics of {proxy}"):
            return sorted(self._proxy(proxy).toxics())
