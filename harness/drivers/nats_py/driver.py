"""nats.py driver: runs a workload with nats-py and prints what the library did.

Follows docs/driver-contract.md. Standalone on purpose: it imports nats and the
standard library, never the harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import time
from importlib.metadata import version
from typing import Any

import nats
import nats.errors

CONTRACT = 1

# Documented (nats.go) option names -> nats.py connect() keyword, the kind of
# value the contract gives (ms, bytes, count, bool), and nats.py's unit for it.
OPTIONS: dict[str, tuple[str, str]] = {
    "AllowReconnect": ("allow_reconnect", "bool"),
    "MaxReconnect": ("max_reconnect_attempts", "count"),
    "ReconnectWait": ("reconnect_time_wait", "ms"),
    "ReconnectBufSize": ("pending_size", "bytes"),
    "Timeout": ("connect_timeout", "ms"),
    "PingInterval": ("ping_interval", "ms"),
    "MaxPingsOut": ("max_outstanding_pings", "count"),
    "NoRandomize": ("dont_randomize", "bool"),
    # TLS: trust the CA in this PEM file (connect()'s tls= SSL context, made from it).
    "RootCAs": ("tls", "text"),
    "User": ("user", "text"),
    "Password": ("password", "text"),
}


def tls_context(ca_file: str) -> ssl.SSLContext:
    """What nats.py is given for RootCAs: a client context trusting that CA (and,
    as ssl.create_default_context does, checking the server's name)."""
    return ssl.create_default_context(cafile=ca_file)


def convert(kind: str, value: Any) -> Any:
    """The contract's value in nats.py's unit; ValueError if it is of the wrong kind."""
    if kind == "text":
        if not isinstance(value, str) or not value:
            raise ValueError(f"{value!r} is not a text value")
        return value
    if (kind == "bool") != isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a {kind} value")
    if kind == "ms":
        return value / 1000  # nats.py takes seconds
    return value if kind == "bool" else int(value)


OBSERVES = [
    "driver_started",
    "connect_started",
    "attempt_failed",
    "connected",
    "connect_failed",
    "disconnected",
    "reconnected",
    "closed",
    "servers_discovered",
    "async_error",
    "subscribed",
    "published",
    "publish_failed",
    "received",
    "driver_error",
    "lateness",
    "stopped",
]


EMITTED = [0]  # lines printed so far, reported on `stopped`


def emit(kind: str, t_ns: int | None = None, **fields: Any) -> None:
    line = json.dumps({"t_ns": t_ns if t_ns is not None else time.monotonic_ns(), "kind": kind, **fields})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    EMITTED[0] += 1


def describe() -> None:
    print(
        json.dumps(
            {
                "contract": CONTRACT,
                "client": "nats-py",
                "library": "nats-py",
                "library_version": version("nats-py"),
                "language": "python",
                "runtime": f"python{sys.version.split()[0]}",
                "options": {name: kind for name, (_, kind) in OPTIONS.items()},
                "observes": OBSERVES,
                "connections": True,
            }
        )
    )


# How late this process's event loop wakes from a sleep: what a busy machine adds to
# every wait of the library, which the harness's own probe, in another process,
# does not see. Measured all along, reported a window of about a second at a time,
# the last one before `stopped` (`lateness`, docs/driver-contract.md).
LATENESS_INTERVAL_MS = 50.0
LATENESS_WINDOW_NS = 1_000_000_000


class Lateness:
    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self.opened_ns = time.monotonic_ns()

    async def watch(self) -> None:
        while True:
            due = time.monotonic_ns() + int(LATENESS_INTERVAL_MS * 1e6)
            await asyncio.sleep(LATENESS_INTERVAL_MS / 1000)
            woke = time.monotonic_ns()
            self.late_ms.append(max(0.0, (woke - due) / 1e6))
            if woke - self.opened_ns >= LATENESS_WINDOW_NS:
                self.report()
                self.opened_ns = woke

    def report(self) -> None:
        """Prints this window's figures, if it had a wake-up, and empties it."""
        if not self.late_ms:
            return
        s = sorted(self.late_ms)
        self.late_ms = []
        emit(
            "lateness",
            interval_ms=LATENESS_INTERVAL_MS,
            n=len(s),
            p50_ms=round(s[len(s) // 2], 3),
            p99_ms=round(s[min(len(s) - 1, int(0.99 * len(s)))], 3),
            max_ms=round(s[-1], 3),
        )


def payload(seq: int, size: int) -> bytes:
    head = f"{seq} ".encode()
    return head + b"x" * max(0, size - len(head))


class Driver:
    """One connection: its nats.NATS client, its callbacks and its workload."""

    def __init__(self, config: dict, index: int | None = None, seq: list[int] | None = None) -> None:
        self.config = config
        self.workload = config["workload"]
        self.nc = nats.NATS()
        # Every connection of the process draws from one sequence, so that the
        # numbers stay unique per driver as the contract says.
        self.seq = seq if seq is not None else [0]
        self.tag = {} if index is None else {"conn": index}
        self.tasks: list[asyncio.Task] = []
        self.closed = asyncio.Event()
        self.workload_started = False
        self.connecting: asyncio.Task | None = None

    def emit(self, kind: str, t_ns: int | None = None, **fields: Any) -> None:
        emit(kind, t_ns, **self.tag, **fields)

    # -- library callbacks: stamp first, then report what the library said --

    async def on_error(self, e: Exception) -> None:
        t = time.monotonic_ns()
        # nats.py reports failed connection attempts through error_cb, without
        # saying which server: url stays null and the wire log fills it in.
        if self.nc.is_connecting or self.nc.is_reconnecting:
            self.emit("attempt_failed", t, url=None, error=repr(e))
        else:
            self.emit("async_error", t, error=repr(e))

    async def on_disconnected(self) -> None:
        t = time.monotonic_ns()
        err = self.nc.last_error
        self.emit("disconnected", t, error=repr(err) if err else None)

    async def on_reconnected(self) -> None:
        t = time.monotonic_ns()
        url = self.nc.connected_url
        self.emit("reconnected", t, url=url.geturl() if url else "")

    async def on_closed(self) -> None:
        t = time.monotonic_ns()
        err = self.nc.last_error
        self.emit("closed", t, error=repr(err) if err else None)
        self.closed.set()

    async def on_discovered(self) -> None:
        t = time.monotonic_ns()
        self.emit("servers_discovered", t, servers=[u.geturl() for u in self.nc.discovered_servers])

    # -- workload --

    async def publish_one(self, size: int) -> None:
        self.seq[0] += 1
        seq = self.seq[0]
        try:
            await self.nc.publish(self.workload["subject"], payload(seq, size))
        except Exception as e:
            self.emit("publish_failed", seq=seq, bytes=size, error=repr(e))
        else:
            self.emit("published", seq=seq, bytes=size)

    async def steady(self, rate: float, size: int) -> None:
        # Absolute pacing: message n goes at start + n/rate, so one slow moment
        # does not lower the average rate.
        start = time.monotonic()
        n = 0
        while True:
            delay = start + n / rate - time.monotonic()
            # Always yield: nats.py's publish returns without suspending while its
            # buffer has room, so a loop behind its schedule would starve the event
            # loop (the stop command, the library's own callbacks) for good.
            await asyncio.sleep(max(delay, 0))
            await self.publish_one(size)
            n += 1

    async def on_message(self, msg: Any) -> None:
        t = time.monotonic_ns()
        self.emit("received", t, seq=int(msg.data.split(b" ", 1)[0]))
        delay = self.workload.get("handler_delay_ms", 0)
        if delay:
            await asyncio.sleep(delay / 1000)

    async def start_workload(self) -> None:
        if self.workload_started:
            return
        self.workload_started = True
        if self.workload["subscribe"]:
            kw = {}
            if self.workload.get("sub_pending_msgs_limit"):
                kw["pending_msgs_limit"] = self.workload["sub_pending_msgs_limit"]
            await self.nc.subscribe(self.workload["subject"], cb=self.on_message, **kw)
            self.emit("subscribed", subject=self.workload["subject"])
        pub = self.workload["publish"]
        if pub:
            self.tasks.append(asyncio.create_task(self.steady(pub["rate"], pub["size"])))

    # -- lifecycle --

    async def connect(self) -> bool:
        kwargs: dict[str, Any] = {}
        for name, value in self.config["options"].items():
            key, kind = OPTIONS[name]
            kwargs[key] = convert(kind, value)
        if "tls" in kwargs:
            kwargs["tls"] = tls_context(kwargs["tls"])
        self.emit("connect_started", servers=self.config["servers"])
        try:
            await self.nc.connect(
                servers=self.config["servers"],
                error_cb=self.on_error,
                disconnected_cb=self.on_disconnected,
                reconnected_cb=self.on_reconnected,
                closed_cb=self.on_closed,
                discovered_server_cb=self.on_discovered,
                **kwargs,
            )
        except Exception as e:
            self.emit("connect_failed", error=repr(e))
            return False
        url = self.nc.connected_url
        self.emit("connected", url=url.geturl() if url else "")
        await self.start_workload()
        return True

    async def close(self, connecting: asyncio.Task) -> None:
        """Close through the library, whether or not its first connect has ended."""
        for task in self.tasks:
            task.cancel()
        if not connecting.done():
            # Still in nats.py's first connect: end it, then close what it opened.
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 5)
            return
        if connecting.result() and not self.nc.is_closed:
            await self.nc.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 5)


class Process:
    """The driver process: its connections (one unless the config asks for
    `connections`), and the commands on stdin."""

    def __init__(self, config: dict) -> None:
        n = config.get("connections")
        seq = [0]
        self.conns = [Driver(config, None if n is None else i, seq) for i in range(n or 1)]

    async def connect_all(self) -> None:
        # One after another: a storm is about reconnecting, and each connect is short.
        for d in self.conns:
            d.connecting = asyncio.create_task(d.connect())
            with contextlib.suppress(Exception):
                await asyncio.shield(d.connecting)

    async def commands(self, connecting: asyncio.Task) -> None:
        """Commands from stdin, read while connect() may still be running: nats.py's
        first connect can retry for minutes (a refused login, say), and `stop` must
        still end the driver then."""
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        first = self.conns[0]
        while line := await reader.readline():
            try:
                cmd = json.loads(line)
                name = cmd["cmd"]
            except (ValueError, KeyError, TypeError):
                emit("driver_error", error=f"unreadable command: {line!r}")
                continue
            if name == "stop":
                break
            if name == "publish":
                # A publish waits for the first connect to end, whatever its outcome;
                # commanded publishes go on the first connection.
                await asyncio.shield(connecting)
                for _ in range(int(cmd["count"])):
                    await first.publish_one(int(cmd["size"]))
            else:
                emit("driver_error", error=f"unknown command: {name}")
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
        await asyncio.gather(*(d.close(d.connecting) for d in self.conns if d.connecting is not None))

    async def run(self) -> None:
        emit(
            "driver_started",
            library="nats-py",
            library_version=version("nats-py"),
            language="python",
            runtime=f"python{sys.version.split()[0]}",
        )
        lateness = Lateness()
        watcher = asyncio.create_task(lateness.watch())
        connecting = asyncio.create_task(self.connect_all())
        await self.commands(connecting)
        watcher.cancel()
        lateness.report()
        emit("stopped", emitted=EMITTED[0])


def main(argv: list[str]) -> int:
    if argv[1:] == ["--describe"]:
        describe()
        return 0
    if len(argv) != 2:
        print("usage: driver.py --describe | driver.py CONFIG.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as f:
            config = json.load(f)
        unknown = sorted(set(config["options"]) - set(OPTIONS))
    except (OSError, ValueError, KeyError, TypeError) as e:
        emit("driver_error", error=f"bad config {argv[1]}: {e}")
        return 2
    if unknown:
        emit("driver_error", error=f"nats-py has no option {', '.join(unknown)}")
        return 2
    for name, value in config["options"].items():
        try:
            convert(OPTIONS[name][1], value)
            if name == "RootCAs":
                tls_context(value)
        except (ValueError, OSError) as e:
            emit("driver_error", error=f"option {name}: {e}")
            return 2
    asyncio.run(Process(config).run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
