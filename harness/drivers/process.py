"""One running driver: config in, events out, commands in (docs/driver-contract.md).

Every line a driver prints is checked against the event contract as it arrives. A
line that breaks it, or a driver that dies on its own, is a problem of the
harness's environment and is kept apart from what the library did.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from harness import procs
from harness.contracts import problems
from harness.drivers.registry import DriverSpec
from harness.errors import EnvironmentFault, UsageError

STOP_TIMEOUT_S = 15
# More per connection of a driver holding many (nats.py closed 943 in over 15 s).
STOP_S_PER_CONNECTION = 0.05


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_line(line: str) -> tuple[dict | None, str | None]:
    """One line a driver printed: (the event, None), (None, why it is a problem), (None, None) for a
    blank line, or for `driver_error` (the event, the error it reports): kept and also a problem."""
    line = line.strip()
    if not line:
        return None, None
    try:
        ev = json.loads(line, parse_constant=_no_constant)  # NaN and Infinity are not JSON
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return None, f"printed a line that is not JSON: {line[:120]!r}"
    bad = problems("driver-event", ev)
    if bad:
        return None, f"printed an event that breaks the contract ({bad[0]}): {line[:120]!r}"
    if ev["kind"] == "driver_error":
        return ev, f"reported an error: {' '.join(ev['error'].split())}"  # on one line
    return ev, None


class DriverProcess:
    def __init__(self, spec: DriverSpec, actor: str, config: dict, workdir: Path) -> None:
        bad = problems("driver-config", config)
        if bad:
            raise UsageError(f"driver config for {actor} is invalid: {bad[0]}")
        self.spec = spec
        self.actor = actor
        self.config = config
        self.events: list[dict] = []
        # Events per kind, kept as they arrive: a storm waits for a thousand of one
        # kind, and counting the list on every new event would be quadratic.
        self._counts: Counter[str] = Counter()
        self.problems: list[str] = []
        self._cond = threading.Condition()
        self._stopping = False
        self.stopped = False
        self.stop_timeout = STOP_TIMEOUT_S + STOP_S_PER_CONNECTION * config.get("connections", 1)
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / f"{actor}.config.json"
        cfg.write_text(json.dumps(config, indent=1))
        self._raw = workdir / f"{actor}.events.jsonl"
        self.proc = procs.spawn(
            f"driver {spec.name} ({actor})",
            [*spec.argv(), str(cfg)],
            log=workdir / f"{actor}.stderr",
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            env=spec.env(),
        )
        self._reader = threading.Thread(target=self._read, name=f"driver-{actor}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.popen.stdout is not None
        with open(self._raw, "w") as raw:
            for bline in iter(self.proc.popen.stdout.readline, b""):
                line = bline.decode(errors="replace").strip()
                raw.write(line + "\n")
                raw.flush()
                ev, problem = parse_line(line)
                if problem:
                    self._problem(problem)
                if ev is None:
                    continue
                with self._cond:
                    self.events.append({**ev, "source": "client", "actor": self.actor})
                    self._counts[ev["kind"]] += 1
                    self._cond.notify_all()
        rc = self.proc.popen.wait()
        if not self._stopping or rc != 0:
            self._problem(f"exited with code {rc}" + ("" if self._stopping else " before it was told to stop"))
        with self._cond:
            self._cond.notify_all()

    def _problem(self, text: str) -> None:
        tail = self.proc.log_tail(2)
        with self._cond:
            where = f" [stderr: {tail}]" if tail else ""
            self.problems.append(f"driver {self.spec.name} ({self.actor}) {text}{where}")
            self._cond.notify_all()

    def send(self, cmd: dict) -> None:
        stdin = self.proc.popen.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps(cmd) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise EnvironmentFault(f"driver {self.spec.name} ({self.actor}) is gone; could not send {cmd}") from e

    def wait_for(self, match: Callable[[dict], bool], timeout: float, since: int = 0) -> dict | None:
        """The first event (at index >= since) that matches, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if match(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or (not self.proc.alive() and not self._reader.is_alive()):
                    return None
                self._cond.wait(left)

    def wait_count(self, kind: str, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._counts[kind] < n:
                left = deadline - time.monotonic()
                if left <= 0 or (not self.proc.alive() and not self._reader.is_alive()):
                    return False
                self._cond.wait(left)
            return True

    def count(self, kind: str) -> int:
        with self._cond:
            return self._counts[kind]

    def stop(self) -> int | None:
        """Ask the driver to stop; kill it if it does not within its stop timeout (longer for many connections).
        Also tidies up after a driver that already exited on its own."""
        if self.stopped:
            return self.proc.popen.returncode
        self._stopping = True
        if self.proc.alive():
            try:
                self.send({"cmd": "stop"})
                assert self.proc.popen.stdin is not None
                self.proc.popen.stdin.close()
            except (EnvironmentFault, OSError):
                pass
            try:
                self.proc.popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._problem(f"did not stop within {self.stop_timeout:g}s and was killed")
        rc = self.proc.stop(grace=1)
        self._reader.join(5)
        self.stopped = True
        return rc

    def snapshot(self) -> list[dict]:
        with self._cond:
            return list(self.events)
