"""procs.ServedTime: a starting server's deadline counts the time it was served a CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from harness import procs

BUSY = [sys.executable, "-c", "while True: pass"]


def _watch(pid: int, seconds: float) -> procs.ServedTime:
    clock = procs.ServedTime(pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
        clock()
    return clock


def test_a_process_kept_off_the_cpu_counts_only_the_time_it_ran():
    # Two busy loops sharing one CPU: each runs about half the time, waits the rest.
    cpu = min(os.sched_getaffinity(0))
    hogs = [subprocess.Popen(BUSY) for _ in range(2)]
    try:
        for h in hogs:
            os.sched_setaffinity(h.pid, {cpu})
        clock = _watch(hogs[0].pid, 1.5)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert clock.counted < 0.8 * clock.wall(), (clock.counted, clock.wall())
    assert clock.waited_s > 0.2 * clock.wall(), (clock.waited_s, clock.wall())


def test_a_sleeping_process_counts_the_whole_wall_time():
    # Hung, or waiting on something: its deadline runs as it always did.
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        clock = _watch(sleeper.pid, 0.5)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert clock.counted > 0.95 * clock.wall(), (clock.counted, clock.wall())


def test_a_process_that_is_gone_counts_the_whole_wall_time():
    assert procs.scheduled_ns(2**22 + 12345) == (0, 0)
