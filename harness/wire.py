"""What the wire saw: connections accepted and closed on each proxy.

Toxiproxy logs one JSON line per event but stamps it with wall-clock seconds, too
coarse to compare with a client's nanoseconds. The harness's own build of it
(harness/proxy, toxiproxy-harness) adds "mono_ns", the shared monotonic clock read
in the proxy as it logs the event; a line without it (toxiproxy-server itself) is
stamped the moment it is read from the server's stdout. The raw line is kept in
the log file beside it, after its read stamp. toxiproxy-harness also says how late
its own timer woke, once a second (`lateness`, actor "toxiproxy"): a proxy kept off
a CPU stamps late, and the checks near that second are judged with it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from harness.clock import now_ns

# The proxy's `lateness` lines carry a driver's `lateness` fields (driver-contract.md).
LATENESS_FIELDS = ("interval_ms", "n", "p50_ms", "p99_ms", "max_ms")
# The actor of the proxy's own events, which belong to no link.
ACTOR = "toxiproxy"

_REMOVE_LINK = re.compile(r"^Remove link (?P<client>\S+?)(?P<dir>upstream|downstream) from ToxicCollection$")


def parse(line: str, read_ns: int) -> dict | None:
    """One Toxiproxy log line, read at read_ns -> a proxy event for the timeline, or None.
    The event's t_ns is the line's own monotonic stamp if it carries one, else read_ns."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    stamp = rec.get("mono_ns")
    stamped = isinstance(stamp, int) and not isinstance(stamp, bool)
    t_ns = stamp if stamped else read_ns
    msg = rec.get("message", "")
    if msg == "lateness":
        # toxiproxy-harness's own timer, a window at a time (harness/proxy/main.go).
        figures = {k: rec.get(k) for k in LATENESS_FIELDS}
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in figures.values())
        return {"t_ns": t_ns, "kind": "lateness", **figures} if stamped and numbers else None
    link = rec.get("name")
    if not link:
        return None
    if msg == "Accepted client":
        return {"t_ns": t_ns, "kind": "conn_accepted", "link": link, "client": rec.get("client", "")}
    if msg == "Unable to open connection to upstream":
        return {
            "t_ns": t_ns,
            "kind": "upstream_failed",
            "link": link,
            "client": rec.get("client", ""),
            "error": rec.get("error", ""),
        }
    if msg == "Setup connection" and rec.get("direction") == "upstream":
        # Logged once the upstream dial succeeded, before the proxy accepts again: it
        # dials in its accept loop, so this closes the dial of the link's last accept.
        return {"t_ns": t_ns, "kind": "upstream_connected", "link": link}
    m = _REMOVE_LINK.match(msg)
    if m:
        # The "upstream" half (client -> server) ends first when the client's side
        # closed first; "downstream" first means the server's side did.
        return {"t_ns": t_ns, "kind": "conn_half_closed", "link": link, "client": m["client"], "direction": m["dir"]}
    return None


class WireLog:
    """Reads a Toxiproxy server's stdout on a thread; keeps stamped proxy events."""

    def __init__(self, stream: IO[bytes], raw_log: Path, on_line: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._raw = raw_log
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._on_line = on_line
        self._thread = threading.Thread(target=self._read, name="wire-log", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self._raw, "a") as raw:
            for bline in iter(self._stream.readline, b""):
                t = now_ns()
                line = bline.decode(errors="replace").rstrip("\n")
                raw.write(f"{t} {line}\n")
                ev = parse(line, t)
                if ev is not None:
                    with self._lock:
                        self._events.append(ev)

    def events(self, since_ns: int = 0, until_ns: int | None = None) -> list[dict]:
        """Proxy events in [since, until] in time order, each half-close pair folded into one close."""
        with self._lock:
            evs = [e for e in self._events if e["t_ns"] >= since_ns and (until_ns is None or e["t_ns"] <= until_ns)]
        # Lines stamped in the proxy are written by its goroutines in any order.
        evs.sort(key=lambda e: e["t_ns"])
        out: list[dict] = []
        seen_close: set[tuple[str, str]] = set()
        for e in evs:
            if e["kind"] == "conn_half_closed":
                key = (e["link"], e["client"])
                if key in seen_close:
                    continue
                seen_close.add(key)
                e = {
                    **e,
                    "kind": "conn_closed",
                    "closed_first_by": "client" if e["direction"] == "upstream" else "server",
                }
                del e["direction"]
            elif e["kind"] == "conn_accepted":
                # A client port can be reused by a later connection.
                seen_close.discard((e["link"], e["client"]))
            out.append(e)
        return out

    def join(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)


def open_connections(events: list[dict]) -> dict[str, int]:
    """Connections accepted and not yet closed, per link, from folded wire events. One
    whose upstream dial failed is closed too: Toxiproxy logs no close for it."""
    count: dict[str, int] = {}
    for e in events:
        if e["kind"] == "conn_accepted":
            count[e["link"]] = count.get(e["link"], 0) + 1
        elif e["kind"] in ("conn_closed", "upstream_failed"):
            count[e["link"]] = count.get(e["link"], 0) - 1
    return {link: n for link, n in count.items() if n > 0}


# A dial that took this long lost a SYN (Linux sends the first again after 1 s): its
# server was gone, not slow. A dial that answers takes milliseconds, refused or not.
DIAL_STALL_MS = 1000.0


def dial_stalls(events: list[dict], end_ns: int, min_ms: float = DIAL_STALL_MS) -> list[dict]:
    """The upstream dials, in folded wire events, that took `min_ms` or more, each as
    {link, from_ns, ms, outcome}: "connected", "failed: <error>" or "still dialling" at
    `end_ns`.
    Toxiproxy dials each accepted connection's server in its accept loop, so while a
    dial hangs the link accepts nothing else: the client's attempts wait in the
    kernel's backlog, unseen. The dial of the link's last accept ends at its next
    `upstream_connected` or `upstream_failed`. A record without any
    `upstream_connected` (made before the harness read them) says nothing."""
    if not any(e["kind"] == "upstream_connected" for e in events):
        return []
    dialling: dict[str, int] = {}
    out: list[dict] = []

    def took(link: str, since: int, until: int, outcome: str) -> None:
        if (until - since) / 1e6 >= min_ms:
            out.append({"link": link, "from_ns": since, "ms": round((until - since) / 1e6, 1), "outcome": outcome})

    for e in events:
        if e["kind"] == "conn_accepted":
            dialling[e["link"]] = e["t_ns"]
        elif e["kind"] in ("upstream_connected", "upstream_failed") and e["link"] in dialling:
            failed = e["kind"] == "upstream_failed"
            took(e["link"], dialling.pop(e["link"]), e["t_ns"], f"failed: {e['error']}" if failed else "connected")
    for link, since in dialling.items():
        took(link, since, end_ns, "still dialling")
    return out
