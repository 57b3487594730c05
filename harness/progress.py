"""Progress of a long run: what is running, how far, what has finished.

On a terminal a status line is redrawn in place below the finished lines; in a
CI log (not a terminal) there are no control characters: each start and each end
is one line, and scenarios still running after a while get a plain heartbeat line.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import TextIO

HEARTBEAT_S = 30.0
DONE = re.compile(r"^\[\s*\d+/\d+\] (?P<key>\S+ / \S+): (?P<text>.*)$")
STARTED = re.compile(r"^\[\s*\d+/\d+\] started (?P<key>\S+ / \S+)$")


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.heartbeat_s = heartbeat_s
        self.done = 0
        self.running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._status_shown = False
        self._stop = threading.Event()
        self._last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._thread.start()

    def _write(self, line: str) -> None:
        if self.tty and self._status_shown:
            self.stream.write("\r\x1b[K")  # clear the status line, print above it
            self._status_shown = False
        self.stream.write(line + "\n")
        self.stream.flush()

    def _status(self) -> None:
        if not self.tty or not self.running:
            return
        now = time.monotonic()
        names = ", ".join(f"{k} ({now - t:.0f}s)" for k, t in sorted(self.running.items(), key=lambda x: x[1]))
        line = f"[{self.done:>2}/{self.total}] running: {names}"
        width = 160
        self.stream.write("\r\x1b[K" + (line if len(line) <= width else line[: width - 3] + "..."))
        self.stream.flush()
        self._status_shown = True

    def started(self, key: str) -> None:
        with self._lock:
            self.running[key] = time.monotonic()
            if not self.tty:
                self._write(f"[{self.done:>2}/{self.total}] started {key}")
            self._status()

    def finished(self, key: str, text: str) -> None:
        with self._lock:
            self.running.pop(key, None)
            self.done += 1
            self._write(f"[{self.done:>2}/{self.total}] {key}: {text}")
            self._status()

    def note(self, text: str) -> None:
        """A line about the run itself (not an entry), e.g. what `--jobs auto` decided."""
        with self._lock:
            self._write(f"[{self.done:>2}/{self.total}] {text}")
            self._status()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self.tty:
                    self._status()
                elif self.running and time.monotonic() - self._last_beat >= self.heartbeat_s:
                    self._last_beat = time.monotonic()
                    now = time.monotonic()
                    names = ", ".join(f"{k} ({now - t:.0f}s)" for k, t in self.running.items())
                    self._write(f"[{self.done:>2}/{self.total}] still running: {names}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        with self._lock:
            if self.tty and self._status_shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._status_shown = False
