"""Loopback ports chosen at run time, claimed so that parallel runs never collide.

Ports come from below the kernel's ephemeral range, so no bind(0) or outgoing
connection of any process can be handed one of them. A claim is a file named after
the port holding the owner's pid and start time; it lapses when that process is
gone. The claim matters most for a disabled proxy: its port is closed while the
fault lasts, and without the claim another worker could take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import EnvironmentFault
from harness.paths import RUNTIME_STATE

CLAIMS = RUNTIME_STATE / "ports"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a live pid (None if it is gone or a zombie), to
    tell a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name: state first, starttime 20th.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def candidate_range() -> range:
    lo, hi = ephemeral_range()
    if lo > 12000:
        return range(max(10000, lo - 12768), lo)
    return range(hi + 1, 65536)


def bindable(port: int) -> bool:
    with socket.socket() as s:
        # The servers' listeners set SO_REUSEADDR, so a port in TIME_WAIT is fine.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    CLAIMS.mkdir(parents=True, exist_ok=True)
    with open(CLAIMS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _claim_alive(path: Path) -> bool:
    try:
        claim = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return process_start_time(claim["pid"]) == claim["start"]


def claim(count: int, label: str, owner: int | None = None) -> list[int]:
    """Claim `count` free loopback ports for `owner` (default: this process)."""
    owner = owner or os.getpid()
    record = json.dumps({"pid": owner, "start": process_start_time(owner), "label": label})
    ports: list[int] = []
    pool = list(candidate_range())
    random.Random(os.getpid()).shuffle(pool)
    with _locked():
        for port in pool:
            path = CLAIMS / str(port)
            if path.exists() and _claim_alive(path):
                continue
            if not bindable(port):
                continue
            path.write_text(record)
            ports.append(port)
            if len(ports) == count:
                return ports
    release(ports)
    raise EnvironmentFault(
        f"could not find {count} free loopback ports for {label}",
        "free some ports or stop other harness runs (`harness down`)",
    )


def claim_exact(port: int, label: str, wait_s: float = 60.0) -> bool:
    """Claim one particular port (a documented default such as 5672). Waits while
    another harness process holds it; False if something else has it bound."""
    record = json.dumps({"pid": os.getpid(), "start": process_start_time(os.getpid()), "label": label})
    deadline = time.monotonic() + wait_s
    while True:
        with _locked():
            path = CLAIMS / str(port)
            held = path.exists() and _claim_alive(path)
            if not held:
                if not bindable(port):
                    return False
                path.write_text(record)
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def transfer(ports: list[int], owner: int, label: str) -> None:
    """Hand claims to another process (for `harness up`, the servers outlive us)."""
    record = json.dumps({"pid": owner, "start": process_start_time(owner), "label": label})
    with _locked():
        for port in ports:
            (CLAIMS / str(port)).write_text(record)


def release(ports: list[int]) -> None:
    with _locked():
        for port in ports:
            with contextlib.suppress(FileNotFoundError):
                (CLAIMS / str(port)).unlink()


def release_stale() -> list[int]:
    """Remove the claims whose owner is gone (they lapse anyway; this tidies up)."""
    freed = []
    with _locked():
        for path in CLAIMS.glob("[0-9]*"):
            if not _claim_alive(path):
                path.unlink(missing_ok=True)
                freed.append(int(path.name))
    return freed


def listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
