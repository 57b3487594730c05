"""The harness's own CPU and memory while it records a storm: a storm's figures
are only as good as the process reading every event, so the entry says how busy
that process was.

`LoadProbe().start()` ... `.stop()` gives CPU seconds (user + system) of this
process over the window, that as a share of one core, and its resident memory
(sampled every 100 ms, and the peak the kernel kept).
"""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path

SAMPLE_S = 0.1
_PAGE = resource.getpagesize()


def rss_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class LoadProbe:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._rss: list[int] = []
        self._thread = threading.Thread(target=self._run, name="load-probe", daemon=True)

    def start(self) -> LoadProbe:
        self._t0, self._cpu0 = time.monotonic(), _cpu_s()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes()
            if rss is not None:
                self._rss.append(rss)
            self._stop.wait(SAMPLE_S)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=1)
        wall = time.monotonic() - self._t0
        cpu = _cpu_s() - self._cpu0
        mb = 1024 * 1024
        return {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "cpu_share_of_one_core": round(cpu / wall, 3) if wall > 0 else None,
            "rss_mb_max": round(max(self._rss) / mb, 1) if self._rss else None,
            "rss_mb_median": round(sorted(self._rss)[len(self._rss) // 2] / mb, 1) if self._rss else None,
            # ru_maxrss is in KiB on Linux: the peak over the process's whole life.
            "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
