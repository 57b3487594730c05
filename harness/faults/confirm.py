"""Reading a fault's effect off the real state: a proxy's, as its server reports
it, and a service's, as its backend sees it. Each returns what it measured when
the state is not the one asked for, else None."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.backends import Live

SETTLE_S = 5.0  # a backend may report a signal's effect a moment after sending it
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def settled(predicate: Callable[[], bool], timeout: float = SETTLE_S) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def listening(address: str) -> bool:
    """A socket in this network namespace listens on the port of `address` ("host:port").
    Read from the kernel's table, not by connecting: a connection through a proxy
    would be on the wire log, where judges count the client's attempts."""
    port = int(address.rsplit(":", 1)[1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def proxy_closed(live: Live, link: str) -> str | None:
    return f"proxy {link} is still enabled" if live.toxiproxy.proxy(link)["enabled"] else None


def proxy_open(live: Live, link: str) -> str | None:
    """Enabled, and (where Toxiproxy runs on this host) listening on its port again."""
    proxy = live.toxiproxy.proxy(link)
    if not proxy["enabled"]:
        return f"proxy {link} is disabled"
    if live.proxies_on_host and not settled(lambda: listening(proxy["listen"]), 1.0):
        return f"proxy {link} is enabled but nothing listens on {proxy['listen']}"
    return None


def service_is(live: Live, service: str, state: str) -> str | None:
    """The service reaches `state` (running, paused, stopped) within SETTLE_S."""
    if settled(lambda: live.service_state(service) == state):
        return None
    return f"{service} is {live.service_state(service)}, not {state}"


def isolation_is(live: Live, service: str, isolated: bool) -> str | None:
    if settled(lambda: live.isolated(service) == isolated):
        return None
    return f"{service} is {'still' if not isolated else 'not'} on its network"
