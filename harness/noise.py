"""The machine's timing noise, measured while an entry runs: its error budget.

A probe thread asks for short sleeps and records how late each wake-up comes.
That lateness is what a busy machine adds to every timer and every stamp in the
run (the drivers' timers, the harness reading the wire log), so a timing band
that ignores it can call noise a deviation, or noise that looks like jitter a
conforming library. Judges read the figure (harness/judging/bands.py); it is
stored with the entry as `noise`.

Lateness comes in spikes, so it is kept a window (about a second) at a time too,
by the probe and by every driver (`lateness` events): a check of intervals a few
seconds long is judged with the lateness of those seconds (`Windows.max_ms`), and
the entry's worst wake-up (`budget_ms`) sizes the run as a whole.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from harness.clock import now_ns
from harness.wire import ACTOR as PROXY

INTERVAL_MS = 5.0
# Lateness is kept a window of about this many seconds at a time (driver-contract.md).
WINDOW_S = 1.0
# Wake-ups kept at most (an hour at 5 ms is 720,000): enough for any scenario.
MAX_SAMPLES = 200_000


def wake_late_ms(interval_ms: float) -> float:
    """Sleep `interval_ms`; how much later than asked the wake-up came."""
    t = now_ns()
    time.sleep(interval_ms / 1000)
    return max(0.0, (now_ns() - t) / 1e6 - interval_ms)


class NoiseProbe:
    """Start it when a scenario starts, stop it when the scenario ends."""

    def __init__(self, interval_ms: float = INTERVAL_MS) -> None:
        self.interval_ms = interval_ms
        self.late_ms: list[float] = []
        # [end_ns, n, p99_ms, max_ms] of each window of about WINDOW_S.
        self.windows: list[list] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="noise-probe", daemon=True)

    def start(self) -> NoiseProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        opened, first = now_ns(), 0
        while not self._stop.is_set() and len(self.late_ms) < MAX_SAMPLES:
            self.late_ms.append(wake_late_ms(self.interval_ms))
            if now_ns() - opened >= WINDOW_S * 1e9:
                opened, first = self._close(first)
        self._close(first)

    def _close(self, first: int) -> tuple[int, int]:
        """Closes the window of the wake-ups from index `first` on; the next opens now."""
        t = now_ns()
        if s := summary(self.late_ms[first:], self.interval_ms):
            self.windows.append([t, s["n"], s["p99_ms"], s["max_ms"]])
        return t, len(self.late_ms)

    def stop(self) -> dict | None:
        self._stop.set()
        self._thread.join(timeout=1)
        out = summary(self.late_ms, self.interval_ms)
        if out is not None:
            out["windows"] = list(self.windows)
        return out


def summary(late_ms: list[float], interval_ms: float = INTERVAL_MS) -> dict | None:
    """{probe, interval_ms, n, p50_ms, p99_ms, max_ms} of the lateness, or None."""
    if not late_ms:
        return None
    s = sorted(late_ms)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))], 3)

    return {
        "probe": "harness timer",
        "interval_ms": interval_ms,
        "n": len(s),
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": round(s[-1], 3),
    }


def budget_ms(noise: dict | None) -> float:
    """An entry's error budget: the largest timer lateness measured in it, by the
    harness's probe, by any driver (`drivers`: actor -> its largest lateness) or by
    the proxy (`proxy_ms`); 0 when nothing was measured (runs recorded before the probe)."""
    if not noise:
        return 0.0
    return max([noise.get("max_ms", 0.0), noise.get("proxy_ms", 0.0), *(noise.get("drivers") or {}).values()])


def lateness_by_actor(events: list[dict], source: str = "client") -> dict[str, float]:
    """The largest lateness each actor reported of its own timer, by actor: with
    source "client" the drivers' event loops (their optional `lateness` event,
    docs/driver-contract.md), with "proxy" the proxy's (harness/wire.py)."""
    out: dict[str, float] = {}
    for e in events:
        if e.get("source") == source and e["kind"] == "lateness":
            out[e["actor"]] = max(out.get(e["actor"], 0.0), float(e["max_ms"]))
    return out


# A window's lateness also counts for checks in the window either side: its edge is
# stamped by a wake-up, itself late by up to that much, and a stall can straddle it.
PAD_NS = int(WINDOW_S * 1e9)


@dataclass(frozen=True)
class Window:
    """One window of measured lateness: (start_ns, end_ns], its worst wake-up, and its
    p99 (the probe's windows only: a spread blind to its top percent is judged with
    the harness probe's p99, as it always was)."""

    start_ns: int
    end_ns: int
    max_ms: float
    p99_ms: float | None = None
    actor: str | None = None  # whose driver measured it ("toxiproxy": the proxy); None: the harness's probe


class Windows:
    """An entry's lateness windows: the probe's, every driver's and the proxy's."""

    def __init__(self, noise: dict | None, events: list[dict], started_ns: int, ended_ns: int) -> None:
        ws: list[Window] = []
        if noise:
            probe = noise.get("windows")
            if probe is None:  # recorded before windows: one over the whole entry
                ws.append(Window(started_ns, ended_ns, noise["max_ms"], noise["p99_ms"]))
            opened = started_ns
            for end, _n, p99, worst in probe or []:
                ws.append(Window(opened, end, worst, p99))
                opened = end
        opened_by: dict[str, int] = {}
        for e in events:
            if e.get("source") in ("client", "proxy") and e["kind"] == "lateness":
                # A driver's first window opens at the entry's start; a driver that
                # reported once (before windows) has one over its whole run.
                since = opened_by.get(e["actor"], started_ns)
                ws.append(Window(since, e["t_ns"], float(e["max_ms"]), actor=e["actor"]))
                opened_by[e["actor"]] = e["t_ns"]
        for actor, worst in ((noise or {}).get("drivers") or {}).items():
            if actor not in opened_by:  # its events are not at hand: over the whole entry
                ws.append(Window(started_ns, ended_ns, worst, actor=actor))
        self.windows = ws

    def _near(self, lo_ns: int, hi_ns: int) -> list[Window]:
        return [w for w in self.windows if w.start_ns < hi_ns + PAD_NS and w.end_ns > lo_ns - PAD_NS]

    def max_ms(self, lo_ns: int, hi_ns: int) -> float | None:
        """The worst wake-up measured in [lo, hi] and the window either side, or None
        when no window reaches it."""
        near = self._near(lo_ns, hi_ns)
        return max(w.max_ms for w in near) if near else None

    def error_ms(self, lo_ns: int, hi_ns: int) -> float | None:
        """How late a time measured in [lo, hi] may be: twice the worst wake-up of the
        harness's and the drivers' windows in reach, plus the proxy's worst. A reconnect
        interval passes through the client's timer, the proxy acting on the connection
        (its accept and reset) and the client reading the outcome, and each may be late
        by its own lateness: one outlier of 100 ms read as nats.py's jitter on compose
        with 53 ms in the proxy and 27 ms in the driver. None when no window reaches it."""
        near = self._near(lo_ns, hi_ns)
        if not near:
            return None
        client = max((w.max_ms for w in near if w.actor != PROXY), default=0.0)
        proxy = max((w.max_ms for w in near if w.actor == PROXY), default=0.0)
        return 2 * client + proxy

    def actor_max_ms(self, actor: str, lo_ns: int, hi_ns: int) -> float | None:
        """max_ms of `actor`'s own driver's windows only: how late its loop woke."""
        near = [w.max_ms for w in self._near(lo_ns, hi_ns) if w.actor == actor]
        return max(near) if near else None

    def p99_ms(self, lo_ns: int, hi_ns: int) -> float | None:
        """The largest p99 of the probe's windows in reach: no spread of the wake-ups in
        reach exceeds it more than 1% of the time. None when none reaches it."""
        near = [w.p99_ms for w in self._near(lo_ns, hi_ns) if w.p99_ms is not None]
        return max(near) if near else None


def watch(window_s: float = WINDOW_S, interval_ms: float = INTERVAL_MS) -> None:
    """`python -m harness.noise`: the machine's timer lateness, one JSON summary per
    window on stdout, until stdout closes. `--jobs auto` runs it beside the jobs, in
    a process of its own: the parent's own work (reading and writing results of tens
    of MB) would make its threads late, and that is not the machine."""
    import json
    import sys

    while True:
        late: list[float] = []
        end = now_ns() + int(window_s * 1e9)
        while now_ns() < end:
            late.append(wake_late_ms(interval_ms))
        try:
            sys.stdout.write(json.dumps(summary(late, interval_ms)) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            return


if __name__ == "__main__":
    watch()
