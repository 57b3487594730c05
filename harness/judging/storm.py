"""Storm figures: what N connections of one library did when they were lost at
once. Pure functions of the timeline, as in metrics.py, but over events tagged
with their connection index (`conn`, docs/driver-contract.md), each kind read in
one pass: a storm's timeline holds tens of thousands of events.
"""

from __future__ import annotations

from collections import defaultdict

from harness.judging.metrics import ms, wire_connections
from harness.judging.timeline import Timeline

# Width of a histogram bin, and of the window the peak connection rate is counted in.
BIN_MS = 10.0
RATE_WINDOW_MS = 100.0


def first_per_connection(tl: Timeline, actor: str, kinds: tuple[str, ...], after: dict[int, int]) -> dict[int, int]:
    """For each connection in `after` (conn -> t_ns), the time of its first event of
    `kinds` at or after that time; a kind earlier in `kinds` wins over a later one
    (as client_attempts prefers `attempt` over `attempt_failed`)."""
    found: dict[str, dict[int, int]] = {k: {} for k in kinds}
    for e in tl.events:
        if e.get("actor") != actor or e["kind"] not in found:
            continue
        c = e.get("conn")
        start = after.get(c) if isinstance(c, int) else None
        if start is not None and e["t_ns"] >= start:
            found[e["kind"]].setdefault(c, e["t_ns"])
    out: dict[int, int] = {}
    for k in reversed(kinds):
        out.update(found[k])
    return out


def losses(tl: Timeline, actor: str, n: int, down_ns: int) -> dict[int, int]:
    """Each connection's first `disconnected` at or after the fault."""
    return first_per_connection(tl, actor, ("disconnected",), dict.fromkeys(range(n), down_ns))


def spread_ms(values: list[float]) -> float | None:
    """The 5th to 95th percentile range: how widely values are spread, blind to a few strays."""
    if not values:
        return None
    s = sorted(values)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return round(q(0.95) - q(0.05), 3)


def peak_rate_per_s(times_ns: list[int], window_ms: float = RATE_WINDOW_MS) -> float:
    """The most events in any window of `window_ms`, per second."""
    s = sorted(times_ns)
    best, lo = 0, 0
    for hi, t in enumerate(s):
        while t - s[lo] > window_ms * 1e6:
            lo += 1
        best = max(best, hi - lo + 1)
    return round(best * 1000 / window_ms, 1)


def accepted(tl: Timeline, link: str, after: int, before: int | None = None) -> list[int]:
    """When Toxiproxy accepted each connection on `link` in [after, before]."""
    return [
        e["t_ns"]
        for e in tl.events
        if e["kind"] == "conn_accepted"
        and e.get("link") == link
        and e["t_ns"] >= after
        and (before is None or e["t_ns"] <= before)
    ]


def reached_server(tl: Timeline, link: str, after: int) -> list[int]:
    """When Toxiproxy accepted each connection on `link` from `after` on that it also
    opened to the server: what the server saw. While a killed server starts again
    the proxy still accepts every attempt and then fails to reach it, which no
    server saw."""
    return [c["t_ns"] for c in wire_connections(tl, [link], after) if c["reached_server"]]


def event_counts(tl: Timeline, actor: str) -> tuple[int, int | None]:
    """(events recorded from `actor` before its `stopped`, how many lines the driver
    says it printed before `stopped`, or None if it did not say)."""
    recorded, emitted = 0, None
    for e in tl.events:
        if e.get("actor") != actor or e.get("source") != "client":
            continue
        if e["kind"] == "stopped":
            emitted = e.get("emitted")
        else:
            recorded += 1
    return recorded, emitted


def per_connection_counts(tl: Timeline, actor: str, kinds: tuple[str, ...]) -> dict[str, int]:
    """How many distinct connections reported each kind at least once."""
    seen: dict[str, set[int]] = defaultdict(set)
    for e in tl.events:
        if e.get("actor") == actor and e["kind"] in kinds and isinstance(e.get("conn"), int):
            seen[e["kind"]].add(e["conn"])
    return {k: len(seen[k]) for k in kinds}


def rel_ms(times: dict[int, int], t0: int) -> list[float]:
    return sorted(ms(t - t0) for t in times.values())
