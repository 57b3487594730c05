"""A busy-loop process per core, for the benchmarks that measure under load (the
CPU hog of issue #10: a shared CI runner doing other work)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def cpu_hog(on: bool = True) -> Iterator[int]:
    """While inside, one pure-Python busy loop per core (none when `on` is false);
    yields how many run."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range((os.cpu_count() or 1) if on else 0)
    ]
    try:
        yield len(hogs)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
