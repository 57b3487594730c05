"""Child processes the harness starts, and the record that lets it reap them.

Every child runs in its own session (a Ctrl-C at the terminal reaches only the
harness, which then tears down in order) and, unless it must outlive us, dies with
the harness through the kernel's parent-death signal. Each start is also written
to a per-owner record so `harness down` can reap what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.errors import EnvironmentFault
from harness.paths import RUNTIME_STATE, SETUP_COMMAND
from harness.ports import process_start_time

RECORDS = RUNTIME_STATE / "procs"
SETPRIV = shutil.which("setpriv")


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen
    log: Path | None
    start: str | None = field(default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        # Never signal a reaped pid: the number may belong to another process now.
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def wait(self, timeout: float) -> None:
        """Until the process has exited; subprocess.TimeoutExpired after `timeout` seconds."""
        self.popen.wait(timeout)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds."""
        if self.alive():
            self.signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.wait(5)
        forget(self)
        return self.returncode

    def stopped(self) -> bool:
        """True once every thread of the process is stopped (SIGSTOP has taken effect)."""
        return stopped(self.pid)

    def log_tail(self, lines: int = 3) -> str:
        """The end of the log, led by its last line that reports an error (a JVM's real
        cause sits above its stack trace and shutdown lines)."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").strip().splitlines()
        tail = text[-lines:]
        errors = [ln for ln in text if any(w in ln for w in ("ERROR", "FATAL", "[FTL]", "Error:", "error:"))]
        if errors and errors[-1] not in tail:
            tail = [errors[-1], "...", *tail[-1:]]
        return " | ".join(x.strip() for x in tail)


class Adopted(Proc):
    """A process an earlier harness process started and left running (`harness up`),
    known by its pid and kernel start time: not our child, so it is watched through
    /proc, never waited for."""

    def __init__(self, name: str, pid: int, start: str | None, log: Path | None) -> None:
        self.name, self.argv, self.log, self.start, self._pid = name, [], log, start, pid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return None  # only its parent (init, by now) learns it

    def alive(self) -> bool:
        return self.start is not None and process_start_time(self.pid) == self.start

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.name, timeout)
            time.sleep(0.01)

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)


def stopped(pid: int) -> bool:
    """True once every thread of `pid` is stopped (SIGSTOP has taken effect), or it is gone."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks]
    except OSError:
        return True  # gone
    return all(st in ("T", "t", "Z", "X") for st in states)


def _record_path(owner: int) -> Path:
    return RECORDS / f"{owner}.json"


def detached_path(name: str) -> Path:
    """The record of the topology `harness up` started under `name`: keyed by the name,
    not by the pid of the `harness up` that has exited (a later process may get that pid)."""
    return RECORDS / f"up-{name}.json"


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"owner": None, "owner_start": None, "procs": []}


def remember(proc: Proc, owner: int | None = None, record: Path | None = None) -> None:
    """Add `proc` to the record of `owner` (default: this process), or to `record`
    (a detached record, whose processes outlive whoever starts them)."""
    RECORDS.mkdir(parents=True, exist_ok=True)
    if record is None:
        owner = owner or os.getpid()
        record = _record_path(owner)
    path = record
    rec = _load(path)
    if owner is not None:
        rec.update(owner=owner, owner_start=process_start_time(owner))
    rec["procs"].append({"pid": proc.pid, "start": proc.start, "name": proc.name})
    path.write_text(json.dumps(rec))


def forget(proc: Proc) -> None:
    for path in RECORDS.glob("*.json") if RECORDS.exists() else []:
        rec = _load(path)
        kept = [p for p in rec["procs"] if p["pid"] != proc.pid]
        if len(kept) != len(rec["procs"]):
            if kept:
                rec["procs"] = kept
                path.write_text(json.dumps(rec))
            else:
                path.unlink(missing_ok=True)


def spawn(
    name: str,
    argv: list[str],
    *,
    log: Path | None,
    stdout: int | IO | None = None,
    stdin: int | None = subprocess.DEVNULL,
    env: dict | None = None,
    cwd: Path | None = None,
    outlive_harness: bool = False,
    owner: int | None = None,
    record: Path | None = None,
) -> Proc:
    """Start `argv`. stdout goes to `stdout` if given (e.g. PIPE), else to the log."""
    if not Path(argv[0]).exists() and shutil.which(argv[0]) is None:
        raise EnvironmentFault(f"{argv[0]} not found (needed for {name})", f"run `{SETUP_COMMAND}`")
    cmd = list(argv)
    if SETPRIV and not outlive_harness:
        cmd = [SETPRIV, "--pdeathsig", "KILL", "--", *cmd]
    logf = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        popen = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=stdout if stdout is not None else logf,
            stderr=logf,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as e:
        raise EnvironmentFault(f"could not start {name}: {e}") from e
    finally:
        if log:
            logf.close()
    proc = Proc(name, argv, popen, log, process_start_time(popen.pid))
    remember(proc, owner, record)
    return proc


def mark_detached(owner: int, info: dict) -> Path:
    """Keep a record after its owner exits: what `harness up` started as info["name"],
    for `harness down`. Returns where it is now kept."""
    path = _record_path(owner)
    rec = _load(path)
    rec.update(detached=True, info=info)
    kept = detached_path(info["name"])
    kept.write_text(json.dumps(rec))
    path.unlink(missing_ok=True)
    return kept


def detached_records() -> list[dict]:
    return [r for r in map(_load, RECORDS.glob("*.json")) if r.get("detached")] if RECORDS.exists() else []


def detached_record(name: str) -> dict | None:
    rec = _load(detached_path(name))
    return rec if rec.get("detached") else None


def drop_detached(name: str) -> None:
    detached_path(name).unlink(missing_ok=True)


def reap_orphans(include_detached: bool = False) -> list[str]:
    """Kill processes recorded by owners that are gone. With `include_detached`,
    also those started by `harness up` (owner record marked 'up')."""
    reaped: list[str] = []
    if not RECORDS.exists():
        return reaped
    for path in RECORDS.glob("*.json"):
        rec = _load(path)
        if rec.get("detached"):
            if not include_detached:
                continue
        elif rec["owner"] is not None and process_start_time(rec["owner"]) == rec["owner_start"]:
            continue
        for p in rec["procs"]:
            if process_start_time(p["pid"]) == p["start"]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p["pid"], signal.SIGCONT)
                    os.killpg(p["pid"], signal.SIGKILL)
                reaped.append(f"{p['name']} (pid {p['pid']})")
        path.unlink(missing_ok=True)
    return reaped


def scheduled_ns(pid: int) -> tuple[int, int]:
    """Nanoseconds the live threads of `pid` have spent on a CPU and runnable waiting
    for one, summed (/proc/PID/task/*/schedstat); (0, 0) once it cannot be read."""
    ran = waited = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (task / "schedstat").read_text().split()
                ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


class ServedTime:
    """Seconds that count toward a starting server's deadline: wall time, less the
    share of it the server's threads spent runnable but kept off a CPU by other work.
    A JVM booting beside a CPU hog and three other jobs gets a fraction of a core and
    can take minutes; it is slow, not broken. A server that sleeps instead (hung, or
    waiting on something) counts the whole wall time, so a real failure still times
    out when it always did."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t = self.t0 = time.monotonic()
        self.ran, self.waited = scheduled_ns(pid)
        self.counted = 0.0
        self.waited_s = 0.0  # of the wall time, what the share kept off a CPU adds up to

    def __call__(self) -> float:
        t = time.monotonic()
        ran, waited = scheduled_ns(self.pid)
        # A thread that ended takes its figures with it: a fall is not negative time.
        d_ran, d_waited = max(0, ran - self.ran), max(0, waited - self.waited)
        served = d_ran / (d_ran + d_waited) if d_ran + d_waited else 1.0
        self.counted += (t - self.t) * served
        self.waited_s += (t - self.t) * (1.0 - served)
        self.t, self.ran, self.waited = t, ran, waited
        return self.counted

    def wall(self) -> float:
        return self.t - self.t0


# However starved, a server is not waited for longer than this many times its timeout.
STARVED_CAP = 5


def wait_until(
    predicate,
    timeout: float,
    what: str,
    proc: Proc | None = None,
    interval: float = 0.05,
    *,
    served: bool = False,
):
    """Poll `predicate` until it returns a truthy value; fail with one clear line.
    With `served`, the timeout counts `proc`'s served time (ServedTime), not wall time,
    up to STARVED_CAP times the timeout of wall time."""
    clock = ServedTime(proc.pid) if served and proc is not None else None
    deadline = time.monotonic() + timeout * (STARVED_CAP if clock else 1)
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.alive():
            tail = proc.log_tail()
            raise EnvironmentFault(
                f"{proc.name} exited with code {proc.popen.returncode} before {what}" + (f" ({tail})" if tail else ""),
                f"see {proc.log}",
            )
        late = time.monotonic() > deadline
        if clock is not None:
            late = late or clock() > timeout
        if late:
            starved = (
                f" ({clock.wall():.0f} s of wall time, {clock.waited_s:.0f} s of it kept off a CPU)"
                if clock is not None and clock.waited_s >= 1
                else ""
            )
            raise EnvironmentFault(
                f"timed out after {timeout:.0f}s waiting for {what}{starved}",
                f"see {proc.log}" if proc and proc.log else None,
            )
        time.sleep(interval)
