"""Our one door to a Toxiproxy server's API, built on toxiproxy-python.

toxiproxy-python keeps the server address as class state (APIConsumer.host/port),
so two servers cannot be driven side by side through it. Every call here binds the
address under one lock first. What the library lacks (updating a toxic, request
timeouts, errors a person can read) is added here and nowhere else.

toxiproxy-python raises only on a 400, 404 or 409 answer and returns any other one
as if it had worked: a 500 (Toxiproxy could not listen again, say) went by
unnoticed. Every request it makes passes its module's validate_response, so that
is replaced here by one that refuses every answer outside 2xx; `_bound` turns the
refusal into an EnvironmentFault naming what was asked and what the API answered.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import requests
import toxiproxy.api
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import ProxyExists
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy

from harness.errors import EnvironmentFault

_bind_lock = threading.RLock()
TIMEOUT_S = 10


class _Refused(Exception):
    """An answer of the Toxiproxy API outside 2xx, in one line."""

    def __init__(self, response: requests.Response) -> None:
        try:
            # Toxiproxy 2.x answers an error as {"error": "...", "status": 500}.
            detail = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            detail = response.text
        super().__init__(f"HTTP {response.status_code}: {' '.join(detail.split()) or response.reason}")


def _validate(response: requests.Response) -> requests.Response:
    if not 200 <= response.status_code < 300:
        raise _Refused(response)
    return response


toxiproxy.api.validate_response = _validate  # what every toxiproxy-python request returns through


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
            except _Refused as e:
                raise EnvironmentFault(f"toxiproxy refused to {what}: {e}") from e
            except ProxyExists as e:  # toxiproxy-python's own check, before any request
                raise EnvironmentFault(f"toxiproxy refused to {what}: {e}") from e

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
            _validate(r)

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

    def proxy(self, name: str) -> dict:
        """One proxy's state as the server reports it: listen, upstream, enabled."""
        proxies = self.proxies()
        if name not in proxies:
            raise EnvironmentFault(f"toxiproxy has no proxy {name}")
        return proxies[name]

    def toxics(self, proxy: str) -> list[str]:
        with self._bound(f"list toxics of {proxy}"):
            return sorted(self._proxy(proxy).toxics())

    def toxic_details(self, proxy: str) -> list[dict]:
        """The toxics on a proxy as the server reports them: name, type, stream, attributes."""
        with self._bound(f"list toxics of {proxy}"):
            found = self._proxy(proxy).toxics()
        out = []
        for name, t in sorted(found.items()):
            out.append({"name": name, "type": t.type, "stream": t.stream, "attributes": t.attributes})
        return out
