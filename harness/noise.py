"""The machine's timing noise, measured while an entry runs: its error budget.

A probe thread asks for short sleeps and records how late each wake-up comes.
That lateness is what a busy machine adds to every timer and every stamp in the
run (the drivers' timers, the harness reading the wire log), so a timing band
that ignores it can call noise a deviation, or noise that looks like jitter a
conforming library. Judges read the figure (harness/judging/bands.py); it is
stored with the entry as `noise`.
"""

from __future__ import annotations

import threading
import time

from harness.clock import now_ns

INTERVAL_MS = 5.0
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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="noise-probe", daemon=True)

    def start(self) -> NoiseProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.late_ms) < MAX_SAMPLES:
            self.late_ms.append(wake_late_ms(self.interval_ms))

    def stop(self) -> dict | None:
        self._stop.set()
        self._thread.join(timeout=1)
        return summary(self.late_ms, self.interval_ms)


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
    harness's probe or by any driver (`drivers`: actor -> its largest lateness);
    0 when nothing was measured (runs recorded before the probe)."""
    if not noise:
        return 0.0
    return max([noise.get("max_ms", 0.0), *(noise.get("drivers") or {}).values()])


def drivers(events: list[dict]) -> dict[str, float]:
    """The largest lateness each driver reported of its own event loop (its optional
    `lateness` event, docs/driver-contract.md), by actor."""
    out: dict[str, float] = {}
    for e in events:
        if e.get("source") == "client" and e["kind"] == "lateness":
            out[e["actor"]] = max(out.get(e["actor"], 0.0), float(e["max_ms"]))
    return out


WINDOW_S = 1.0


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
