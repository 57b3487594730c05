"""Metrics computed from a timeline: attempts, intervals, order, the message ledger.

Pure functions of the timeline, shared by every scenario's judge.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from itertools import pairwise
from statistics import median

from harness.judging.timeline import Timeline


def ms(ns: int | float) -> float:
    return round(ns / 1e6, 3)


def intervals_ms(times_ns: list[int]) -> list[float]:
    return [ms(b - a) for a, b in pairwise(times_ns)]


def client_attempts(tl: Timeline, actor: str, after: int, before: int | None = None) -> list[dict]:
    """Connection attempts as the library let the driver see them: attempt starts
    where the driver observes them, otherwise the failures the library reported."""
    starts = tl.select(actor=actor, kind="attempt", after=after, before=before)
    if starts or tl.first(actor=actor, kind="driver_started") is None:
        return starts
    return tl.select(actor=actor, kind="attempt_failed", after=after, before=before)


def wire_connections(tl: Timeline, links: list[str], after: int, before: int | None = None) -> list[dict]:
    """Connections Toxiproxy accepted on `links`, each with when and how it ended, and
    whether the proxy reached the server for it (not when its upstream dial failed)."""
    # Closes indexed once by (link, client address): a storm's wire log holds
    # thousands of connections, and a scan per accept would be quadratic.
    closes: dict[tuple[str, str], list[dict]] = {}
    for e in tl.select(source="proxy", kind="conn_closed"):
        closes.setdefault((e["link"], e["client"]), []).append(e)
    # A failed upstream dial ends its connection with no close logged: the server's side.
    for e in tl.select(source="proxy", kind="upstream_failed"):
        closes.setdefault((e["link"], e["client"]), []).append({**e, "closed_first_by": "server"})
    for found in closes.values():
        found.sort(key=lambda c: c["t_ns"])
    out = []
    for acc in tl.select(source="proxy", kind="conn_accepted", link=links, after=after, before=before):
        mine = closes.get((acc["link"], acc["client"]), [])
        i = bisect_left([c["t_ns"] for c in mine], acc["t_ns"]) if len(mine) > 1 else 0
        close = mine[i] if i < len(mine) and mine[i]["t_ns"] >= acc["t_ns"] else None
        out.append(
            {
                "t_ns": acc["t_ns"],
                "link": acc["link"],
                "client": acc["client"],
                "closed_ns": close["t_ns"] if close else None,
                "duration_ms": ms(close["t_ns"] - acc["t_ns"]) if close else None,
                "closed_first_by": close["closed_first_by"] if close else None,
                "reached_server": close is None or close["kind"] != "upstream_failed",
            }
        )
    return out


# A connection open this long was established (a failed attempt through a proxy is
# accepted and closed at once, when the proxy cannot reach its server).
LASTING_MS = 1000


def lasting(conns: list[dict]) -> list[dict]:
    """The wire connections (wire_connections) that were established."""
    return [c for c in conns if c["closed_ns"] is None or c["duration_ms"] >= LASTING_MS]


def hostport(url: str | None) -> str | None:
    """The host:port of a URL (scheme and trailing slash dropped)."""
    return url.split("://", 1)[-1].rstrip("/") if url else None


def link_of_address(address: str | None, urls: dict[str, str]) -> str | None:
    """Which link (urls: link name -> URL) listens at `address` (host:port)."""
    if not address:
        return None
    return next((link for link, u in urls.items() if hostport(u) == address), None)


def link_of_url(url: str | None, urls: dict[str, str]) -> str | None:
    """Which link a client URL goes through (urls: link name -> URL)."""
    return link_of_address(hostport(url), urls)


def client_wire_gaps(
    attempts: list[dict], wire: list[dict], urls: dict[str, str], window_ms: float = 100.0
) -> list[float]:
    """For connections seen on the wire and by the client (an attempt naming its
    URL): client stamp minus wire stamp. Each accepted connection takes the nearest
    unused attempt to the same link; attempts that never reached the wire (refused)
    are left out because they have no accept."""
    by_link: dict[str, list[dict]] = {}
    for a in attempts:
        link = link_of_url(a.get("url"), urls)
        if link is not None:
            by_link.setdefault(link, []).append(a)
    for group in by_link.values():
        group.sort(key=lambda a: a["t_ns"])
    stamps = {link: [a["t_ns"] for a in group] for link, group in by_link.items()}
    window_ns = window_ms * 1e6
    gaps: list[float] = []
    used: set[tuple[str, int]] = set()
    for w in wire:
        group, times = by_link.get(w["link"], []), stamps.get(w["link"], [])
        # Outwards from the wire's stamp, within the window only: sorted attempts
        # keep this linear in a storm of thousands.
        best: tuple[float, int] | None = None
        i = bisect_left(times, w["t_ns"])
        for step, k in ((-1, i - 1), (1, i)):
            while 0 <= k < len(times) and abs(times[k] - w["t_ns"]) <= window_ns:
                dist = abs(times[k] - w["t_ns"])
                if (w["link"], k) not in used and (best is None or dist < best[0]):
                    best = (dist, k)
                k += step
        if best is not None:
            used.add((w["link"], best[1]))
            gaps.append(ms(group[best[1]]["t_ns"] - w["t_ns"]))
    return gaps


def stats(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"n": len(values), "min": min(values), "median": round(median(values), 3), "max": max(values)}


def ledger(tl: Timeline, publisher: str, receivers: list[str], phases: dict[str, tuple[int, int | None]]) -> dict:
    """The fate of every sequence number the publisher tried to send.

    accepted (the library took it) -> delivered once / lost / duplicated at the
    receivers; refused (the library raised) -> whether it was delivered anyway.
    `phases` names time windows (by publish time) to count separately.
    """
    received = Counter(e["seq"] for e in tl.select(kind="received") if e["actor"] in receivers)
    accepted = {e["seq"]: e["t_ns"] for e in tl.select(actor=publisher, kind="published")}
    refused = {e["seq"]: e for e in tl.select(actor=publisher, kind="publish_failed")}

    def fate(seq: int) -> str:
        n = received.get(seq, 0)
        if seq in refused:
            return "refused" if n == 0 else "refused_but_delivered"
        return "lost" if n == 0 else "delivered" if n == 1 else "duplicated"

    out: dict = {"accepted": len(accepted), "refused": len(refused), "phases": {}, "exceptions": {}}
    everything = sorted({**accepted, **{s: e["t_ns"] for s, e in refused.items()}}.items())
    for name, (lo, hi) in phases.items():
        counts: Counter = Counter()
        for seq, t in everything:
            if t >= lo and (hi is None or t < hi):
                counts[fate(seq)] += 1
        out["phases"][name] = dict(counts)
    totals: Counter = Counter(fate(s) for s, _ in everything)
    out["totals"] = dict(totals)
    for kind in ("lost", "duplicated", "refused_but_delivered"):
        seqs = [s for s, _ in everything if fate(s) == kind]
        if seqs:
            out["exceptions"][kind] = seqs[:50]
    return out
