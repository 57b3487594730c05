"""Storm figures: what N connections of one library did when they were lost at
once. Pure functions of the timeline, as in metrics.py, but over events tagged
with their connection index (`conn`, docs/driver-contract.md), each kind read in
one pass: a storm's timeline holds tens of thousands of events.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean, pstdev

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


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau (without tie correction) of paired values: 1 when y rises
    with x throughout, about 0 when their orders are unrelated. O(n log n): the
    discordant pairs are the inversions of y taken in the order of x."""
    n = len(x)
    if n < 2:
        return 0.0
    ys = [b for _, b in sorted(zip(x, y, strict=True))]

    def sort_count(v: list[float]) -> tuple[list[float], int]:
        if len(v) < 2:
            return v, 0
        left, a = sort_count(v[: len(v) // 2])
        right, b = sort_count(v[len(v) // 2 :])
        merged: list[float] = []
        i = k = 0
        inv = a + b
        while i < len(left) and k < len(right):
            if right[k] < left[i]:
                merged.append(right[k])
                inv += len(left) - i
                k += 1
            else:
                merged.append(left[i])
                i += 1
        return merged + left[i:] + right[k:], inv

    _, discordant = sort_count(ys)
    pairs = n * (n - 1) / 2
    return 1 - 2 * discordant / pairs


# Storms simulated with the documented jitter, to know how closely attempts may
# follow the order of their losses by chance; seeded, so a re-judge agrees.
ORDER_SIMULATIONS = 200
ORDER_SEED = 0
# Standard deviations above the simulated storms' mean tau at which the attempts'
# order says "not jittered": by chance about 3 in 100,000 for a jittered library.
ORDER_Z = 4.0


@dataclass(frozen=True)
class Order:
    """Kendall's tau of each connection's loss time against its first attempt's,
    and the mean and standard deviation of the same tau in storms simulated with
    the documented jitter."""

    tau: float
    jittered_mean: float
    jittered_sd: float

    @property
    def follows_losses(self) -> bool:
        """The attempts keep the order of the losses beyond what jitter allows
        (never said where the simulated storms do not vary: nothing to tell by)."""
        return self.jittered_sd > 0 and self.tau > self.jittered_mean + ORDER_Z * self.jittered_sd


def order_with_jitter(lost: dict[int, int], first: dict[int, int], jitter_ms: float) -> Order:
    """How closely the first attempts follow the order of the losses, against
    storms simulated with each connection's attempt at its own loss plus a uniform
    draw from [0, jitter]. Timer noise only scrambles an order, so leaving it out
    of the simulation makes the simulated taus higher and the test stricter."""
    conns = [c for c in first if c in lost]
    losses_ms = [lost[c] / 1e6 for c in conns]
    tau = kendall_tau(losses_ms, [first[c] / 1e6 for c in conns])
    rng = random.Random(ORDER_SEED)
    sims = [
        kendall_tau(losses_ms, [t + rng.uniform(0, jitter_ms) for t in losses_ms]) for _ in range(ORDER_SIMULATIONS)
    ]
    return Order(tau, fmean(sims), pstdev(sims))
