"""python-qpid-proton driver: runs a workload with proton and prints what the library did.

Follows docs/driver-contract.md. Standalone on purpose: it imports proton and the
standard library, never the harness. Everything proton-related runs on the
container's (reactor's) single thread; stdin commands reach it through proton's
EventInjector. With the config's `connections`, one Container holds N connections,
each with its own handler (proton's connection-scoped handler) and reconnect.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from proton import Delivery, Endpoint, Handler, Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, AtMostOnce, Backoff, Container, EventInjector

CONTRACT = 1
LIBRARY = "python-qpid-proton"

# The contract's AMQP option names this driver can express with proton, and their
# kind. reconnect_limit and connection_details are rhea options proton has no
# equivalent for: they are refused (driver_error, exit 2), never ignored.
OPTIONS: dict[str, str] = {
    "reconnect": "bool",
    "initial_reconnect_delay": "ms",
    "max_reconnect_delay": "ms",
    "reconnect_object": "text",
    # proton's own reconnect values beside the documented class: a Backoff with
    # max_tries (with the delay options above, else Backoff's defaults), and a
    # list of delays, given as text "300,600,1200" (ms; the list proton iterates).
    "backoff_max_tries": "count",
    "reconnect_delays": "text",
    "url_and_urls": "bool",
    "use_defaults_for": "text",
    # TLS and credentials: the CA (a PEM file) an amqps:// server is checked against,
    # and the user and password of SASL PLAIN (connect()'s user= and password=).
    "ca": "text",
    "username": "text",
    "password": "text",
}
# workload.publish.settlement (docs/driver-contract.md): sent unsettled and each
# settlement reported; the same, the next sent only once the one before settled;
# sent settled (at most once).
SETTLEMENTS = ("unsettled", "awaited", "presettled")
TEXT_VALUES = {"reconnect_object": {"doc-example"}, "use_defaults_for": {"port"}}
# Text options that take any non-empty string (a path, a name, a secret).
FREE_TEXT = {"ca", "username", "password"}


def parse_delays(text: str) -> list[float]:
    """reconnect_delays "300,600" -> [0.3, 0.6] (seconds, as proton takes them); ValueError else."""
    try:
        delays = [float(d) / 1000 for d in text.split(",")]
    except ValueError:
        delays = []
    if not delays or any(not (d >= 0) for d in delays):
        raise ValueError(f"option reconnect_delays: {text!r} is not a comma-separated list of ms >= 0")
    return delays


OBSERVES = [
    "driver_started",
    "connect_started",
    "attempt",
    "attempt_failed",
    "connected",
    "connect_failed",
    "disconnected",
    "reconnected",
    "closed",
    "subscribed",
    "published",
    "publish_failed",
    "settled",
    "received",
    "link_opened",
    "link_closed",
    "backoff_reset",
    "backoff_next",
    "driver_error",
    "lateness",
    "stopped",
]

OUTCOMES = {
    Delivery.ACCEPTED: "accepted",
    Delivery.REJECTED: "rejected",
    Delivery.RELEASED: "released",
    Delivery.MODIFIED: "modified",
}

# After our close(), how long to wait for the peer's close before stopping anyway.
CLOSE_GRACE_S = 5.0


EMITTED = [0]  # lines printed so far, reported on `stopped`


def emit(kind: str, t_ns: int | None = None, **fields: Any) -> None:
    line = json.dumps({"t_ns": t_ns if t_ns is not None else time.monotonic_ns(), "kind": kind, **fields})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    EMITTED[0] += 1


def runtime() -> str:
    return f"python{sys.version.split()[0]}"


def describe() -> None:
    print(
        json.dumps(
            {
                "contract": CONTRACT,
                "client": "proton-python",
                "library": LIBRARY,
                "library_version": version(LIBRARY),
                "language": "python",
                "runtime": runtime(),
                "options": OPTIONS,
                "observes": OBSERVES,
                "settlements": ["unsettled", "awaited", "presettled"],
                "connections": True,
            }
        )
    )


def check_options(options: dict) -> None:
    """ValueError naming what this driver cannot pass to proton."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"proton-python driver cannot express option {', '.join(unknown)}")
    for name, value in options.items():
        kind = OPTIONS[name]
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "ms":
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        elif kind == "count":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        elif name == "reconnect_delays":
            ok = isinstance(value, str) and bool(parse_delays(value))
        elif name in FREE_TEXT:
            ok = isinstance(value, str) and value != ""
        else:
            ok = value in TEXT_VALUES[name]
        if not ok:
            raise ValueError(f"option {name}: {value!r} is not a valid {kind} value")
    if "password" in options and "username" not in options:
        raise ValueError("password without username: proton ignores a password without a user")
    if "ca" in options:
        with open(options["ca"], "rb"):  # OSError if it cannot be read
            pass
    # All of these map to connect()'s single `reconnect` argument: one kind of value.
    backoff = {"initial_reconnect_delay", "max_reconnect_delay", "backoff_max_tries"} & set(options)
    kinds = [k for k in ("reconnect_object", "reconnect_delays") if k in options] + (["Backoff"] if backoff else [])
    if options.get("reconnect") is False and kinds:
        raise ValueError(f"reconnect=false cannot be combined with {', '.join(kinds)}")
    if len(kinds) > 1:
        raise ValueError(f"{' and '.join(kinds)} are each proton's one reconnect argument: give one")


def check_config(config: dict) -> None:
    if not isinstance(config, dict) or config.get("contract") != CONTRACT:
        raise ValueError("not a contract 1 config")
    servers = config["servers"]
    if not servers or not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise ValueError("servers must be a non-empty list of URLs")
    wl = config["workload"]
    if not isinstance(wl["subject"], str) or not wl["subject"] or not isinstance(wl["subscribe"], bool):
        raise ValueError("workload.subject and workload.subscribe are required")
    pub = wl["publish"]
    if pub is not None and not (pub["rate"] > 0 and isinstance(pub["size"], int) and pub["size"] >= 1):
        raise ValueError("workload.publish needs rate > 0 and size >= 1")
    if pub is not None and pub.get("settlement", "unsettled") not in SETTLEMENTS:
        raise ValueError(f"workload.publish.settlement must be one of {', '.join(SETTLEMENTS)}")
    if pub is not None and not isinstance(pub.get("durable", False), bool):
        raise ValueError("workload.publish.durable must be true or false")
    n = config.get("connections", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError("connections must be a whole number >= 1")
    if not isinstance(config["options"], dict):
        raise ValueError("options must be an object")
    check_options(config["options"])
    if "ca" in config["options"] and not all(s.startswith("amqps://") for s in servers):
        # proton applies an SSL domain to amqps:// URLs only: the CA would be ignored.
        raise ValueError("option ca needs amqps:// servers")


def strip_port(url: str) -> str:
    """The URL without its port, so proton falls back to the scheme's default."""
    u = urlsplit(url)
    host = f"[{u.hostname}]" if u.hostname and ":" in u.hostname else (u.hostname or "")
    userinfo = u.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def payload(seq: int, size: int) -> bytes:
    head = f"{seq} ".encode()
    return head + b"x" * max(0, size - len(head))


def condition_text(cond: Any) -> str | None:
    if cond is None:
        return None
    return f"{cond.name}: {cond.description}" if cond.description else str(cond.name)


class ExampleReconnect(object):  # noqa: UP004 - copied as the AMQ Python doc (6.3) prints it
    def __init__(self):
        self.delay = 0

    def reset(self):
        self.delay = 0

    def next(self):
        if self.delay == 0:
            self.delay = 0.1
        else:
            self.delay = min(10, 2 * self.delay)

        return self.delay


class ReportingReconnect(ExampleReconnect):
    """The doc's class, reporting each call proton makes to it (tagged with its connection)."""

    def __init__(self, tag: dict) -> None:
        super().__init__()
        self.tag = tag

    def reset(self):
        t = time.monotonic_ns()
        super().reset()
        emit("backoff_reset", t, **self.tag)

    def next(self):
        t = time.monotonic_ns()
        delay = super().next()
        emit("backoff_next", t, **self.tag, delay_ms=round(delay * 1000, 3))
        return delay


# How late the reactor's timers fire: what a busy machine adds to every delay of
# proton's reconnect backoff, which the harness's own probe, in another process,
# does not see. Measured all along, reported a window of about a second at a time
# (on the reactor thread), the last one before `stopped` (`lateness`).
LATENESS_INTERVAL_S = 0.05
LATENESS_WINDOW_NS = 1_000_000_000


class Lateness:
    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self.due_ns = 0
        self.opened_ns = time.monotonic_ns()

    def armed(self) -> float:
        """The delay to schedule the next wake-up with, noting when it is due."""
        self.due_ns = time.monotonic_ns() + int(LATENESS_INTERVAL_S * 1e9)
        return LATENESS_INTERVAL_S

    def woke(self) -> None:
        woke = time.monotonic_ns()
        self.late_ms.append(max(0.0, (woke - self.due_ns) / 1e6))
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
            interval_ms=LATENESS_INTERVAL_S * 1000,
            n=len(s),
            p50_ms=round(s[len(s) // 2], 3),
            p99_ms=round(s[min(len(s) - 1, int(0.99 * len(s)))], 3),
            max_ms=round(s[-1], 3),
        )


class Call:
    """A timer handler: proton calls on_timer_task on what was given to schedule()."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def on_timer_task(self, event: Any) -> None:
        self.fn()


class Driver(MessagingHandler):
    """One connection: proton's connection-scoped handler for it (every event of the
    connection, its links and deliveries comes here), and its workload."""

    def __init__(self, config: dict, process: Process, index: int | None = None) -> None:
        wl = config["workload"]
        # proton's only limit on messages held for a receiver is its credit window.
        prefetch = wl.get("sub_pending_msgs_limit")
        super().__init__(**({"prefetch": prefetch} if prefetch else {}))
        self.config = config
        self.options = config["options"]
        self.workload = wl
        self.process = process
        # Events of one connection of many carry its index (docs/driver-contract.md).
        self.tag = {} if index is None else {"conn": index}
        self.container: Container | None = None
        self.conn = None
        self.sender = None
        self.receiver = None
        self.unsettled: dict[Any, int] = {}  # delivery tag -> seq
        self.awaiting: set[Any] = set()  # tags an awaiting application still waits for
        # "idle" until proton binds a transport, then "trying" -> "open" -> "down":
        # one report per attempt or loss, though proton calls several handlers for it.
        self.phase = "idle"
        self.opened = False
        self.links_closed: set[str] = set()
        self.closed_reported = False
        self.stopping = False
        self.steady_task = None
        self.steady_start = 0.0
        self.steady_n = 0
        self.first_done = False  # the first open or failed attempt, which lets the next connection start

    def emit(self, kind: str, t_ns: int | None = None, **fields: Any) -> None:
        emit(kind, t_ns, **self.tag, **fields)

    def first_over(self) -> None:
        if not self.first_done:
            self.first_done = True
            self.process.open_next()

    # -- setup, on the reactor thread --

    def connect(self, container: Container) -> bool:
        """Start connecting (False if proton refused at once); events come to this handler."""
        self.container = container
        servers = self.config["servers"]
        if self.options.get("use_defaults_for") == "port":
            servers = [strip_port(s) for s in servers]
        if self.options.get("url_and_urls"):
            # Documented as an error; we pass both and report what proton does.
            kwargs: dict[str, Any] = {"url": servers[0], "urls": servers}
        elif len(servers) == 1:
            kwargs = {"url": servers[0]}
        else:
            kwargs = {"urls": servers}
        reconnect = self.reconnect_arg()
        if reconnect is not None:
            kwargs["reconnect"] = reconnect
        if "ca" in self.options:
            # A client domain trusting the run's CA and checking the server's name
            # (proton's default for a client domain, set here explicitly).
            domain = SSLDomain(SSLDomain.MODE_CLIENT)
            domain.set_trusted_ca_db(self.options["ca"])
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
            kwargs["ssl_domain"] = domain
        if "username" in self.options:
            # SASL PLAIN; the Python binding allows it over plain TCP by default
            # (Container.allow_insecure_mechs is True), so nothing else is changed.
            kwargs["user"] = self.options["username"]
            if "password" in self.options:
                kwargs["password"] = self.options["password"]
        self.emit("connect_started", servers=servers)
        try:
            self.conn = self.container.connect(handler=self, **kwargs)
        except Exception as e:
            self.emit("connect_failed", error=repr(e))
            return False
        # Links are created once; proton re-attaches them itself after a reconnect.
        subject = self.workload["subject"]
        if self.workload["subscribe"]:
            self.receiver = self.container.create_receiver(self.conn, subject)
            self.emit("subscribed", subject=subject)
        if self.workload["publish"]:
            self.sender = self.make_sender()
        return True

    def reconnect_arg(self) -> Any:
        """connect()'s `reconnect`, or None to leave proton's default untouched."""
        if self.options.get("reconnect") is False:
            return False
        if self.options.get("reconnect_object") == "doc-example":
            return ReportingReconnect(self.tag)
        if "reconnect_delays" in self.options:
            return parse_delays(self.options["reconnect_delays"])
        backoff: dict[str, float] = {}
        if "backoff_max_tries" in self.options:
            backoff["max_tries"] = self.options["backoff_max_tries"]
        if "initial_reconnect_delay" in self.options:
            backoff["initial"] = self.options["initial_reconnect_delay"] / 1000
        if "max_reconnect_delay" in self.options:
            backoff["max_delay"] = self.options["max_reconnect_delay"] / 1000
        return Backoff(**backoff) if backoff else None

    # -- connection: stamp first, then report what proton said --

    def on_connection_bound(self, event: Any) -> None:
        # proton binds a fresh transport to the connection for every attempt, just
        # before its IO handler opens the socket; connection.url is the URL it tries.
        t = time.monotonic_ns()
        self.phase = "trying"
        url = event.connection.url
        if url is not None:
            self.emit("attempt", t, url=str(url))

    def on_connection_opened(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.phase = "open"
        url = str(event.connection.url)
        if self.opened:
            self.emit("reconnected", t, url=url)
            self.awaiting.clear()  # sent before the reconnect: in doubt, waited for no longer
            return
        self.opened = True
        self.emit("connected", t, url=url)
        if self.workload["publish"] and not self.stopping:
            self.steady_start = time.monotonic()
            self.steady()
        self.first_over()

    def on_transport_error(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.lost(event, t)
        super().on_transport_error(event)
        # MessagingHandler closes the connection itself on a condition it holds fatal
        # (its fatal_conditions: amqp:unauthorized-access, a refused login): proton
        # will not connect again, and this transport error is all it says about it.
        conn = event.connection
        if conn is not None and conn.state & Endpoint.LOCAL_CLOSED and not self.stopping:
            self.report_closed(t, event.transport.condition if event.transport else None)

    def on_disconnected(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.lost(event, t)
        super().on_disconnected(event)

    def lost(self, event: Any, t: int) -> None:
        error = condition_text(event.transport.condition if event.transport else None)
        if self.phase == "open":
            self.emit("disconnected", t, error=error)
            # Told the connection dropped, an awaiting application stops waiting
            # for what it sent before (proton never resends it); late settlements
            # are still reported.
            self.awaiting.clear()
        elif self.phase == "trying":
            url = event.connection.url if event.connection else None
            self.emit("attempt_failed", t, url=str(url) if url else None, error=error or "transport closed")
            self.first_over()
        self.phase = "down"
        if self.stopping:
            self.process.closed_one(self)

    def on_connection_error(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.report_closed(t, event.connection.remote_condition)
        super().on_connection_error(event)

    def on_connection_closed(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.report_closed(t, event.connection.remote_condition)
        super().on_connection_closed(event)
        if self.stopping:
            self.process.closed_one(self)

    def report_closed(self, t: int, cond: Any) -> None:
        # on_connection_error is followed by on_connection_closed: report once.
        if not self.closed_reported:
            self.closed_reported = True
            self.emit("closed", t, error=condition_text(cond))
            self.first_over()

    # -- links --

    def on_link_opened(self, event: Any) -> None:
        t = time.monotonic_ns()
        link = event.link
        role = "sender" if link.is_sender else "receiver"
        self.links_closed.discard(role)
        address = link.target.address if link.is_sender else link.source.address
        self.emit("link_opened", t, role=role, address=address or "")

    def on_link_error(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.link_closed(event, t)
        super().on_link_error(event)

    def on_link_closed(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.link_closed(event, t)
        super().on_link_closed(event)

    def link_closed(self, event: Any, t: int) -> None:
        # on_link_error is followed by on_link_closed for the same detach: report once.
        role = "sender" if event.link.is_sender else "receiver"
        if role not in self.links_closed:
            self.links_closed.add(role)
            self.emit("link_closed", t, role=role, error=condition_text(event.link.remote_condition))

    # -- messages --

    def on_accepted(self, event: Any) -> None:
        self.settled(event, time.monotonic_ns())

    def on_rejected(self, event: Any) -> None:
        self.settled(event, time.monotonic_ns())

    def on_released(self, event: Any) -> None:
        # proton calls on_released for both RELEASED and MODIFIED.
        self.settled(event, time.monotonic_ns())

    def settled(self, event: Any, t: int) -> None:
        dlv = event.delivery
        seq = self.unsettled.pop(dlv.tag, None)
        self.awaiting.discard(dlv.tag)
        if seq is not None:
            self.emit("settled", t, seq=seq, outcome=OUTCOMES.get(dlv.remote_state, "released"))

    def on_message(self, event: Any) -> None:
        t = time.monotonic_ns()
        self.emit("received", t, seq=int(bytes(event.message.body).split(b" ", 1)[0]))
        delay = self.workload.get("handler_delay_ms") or 0
        if delay:
            time.sleep(delay / 1000)  # a slow consumer on purpose: blocks the reactor
        # MessagingHandler (auto_accept) accepts the delivery when this returns.

    def publish(self, size: int) -> None:
        # One sequence for every connection of the process: numbers stay unique per driver.
        self.process.seq += 1
        seq = self.process.seq
        if self.sender is None and self.conn is not None:
            self.sender = self.make_sender()
        try:
            # Sent regardless of credit or link state: the point is what proton does with it.
            # durable: the header's durable flag, so that a broker keeps it in its journal.
            durable = bool((self.workload["publish"] or {}).get("durable"))
            dlv = self.sender.send(Message(body=payload(seq, size), durable=durable))
        except Exception as e:
            self.emit("publish_failed", seq=seq, bytes=size, error=repr(e))
            return
        if not dlv.settled:  # pre-settled: proton settled it as it sent it
            self.unsettled[dlv.tag] = seq
            self.awaiting.add(dlv.tag)
        self.emit("published", seq=seq, bytes=size)

    def settlement(self) -> str:
        return (self.workload["publish"] or {}).get("settlement", "unsettled")

    def make_sender(self) -> Any:
        """The one sender; pre-settled (AtMostOnce) when the workload says so."""
        opts = AtMostOnce() if self.settlement() == "presettled" else None
        return self.container.create_sender(self.conn, self.workload["subject"], options=opts)

    def steady(self) -> None:
        # Absolute pacing: message n is due at start + n/rate; a late timer catches up.
        rate, size = self.workload["publish"]["rate"], self.workload["publish"]["size"]
        now = time.monotonic()
        # Awaited: the next message only once the one before is settled (the
        # schedule then slips; it never bursts to catch up).
        awaited = self.settlement() == "awaited"
        while self.steady_start + self.steady_n / rate <= now:
            if awaited and self.awaiting:
                self.steady_start += 1 / rate
                continue
            self.publish(size)
            self.steady_n += 1
        delay = max(0.0, self.steady_start + self.steady_n / rate - time.monotonic())
        self.steady_task = self.container.schedule(delay, Call(self.steady))

    def close(self) -> bool:
        """Close through the library; True if it then waits for the peer's close."""
        self.stopping = True
        if self.steady_task is not None:
            self.steady_task.cancel()
        if self.conn is None:
            return False
        self.conn.close()
        return self.phase == "open"


class Process(Handler):
    """The driver process: the Container's own handler (start, stdin commands, the
    lateness timer) and its connections, one unless the config asks for `connections`."""

    def __init__(self, config: dict) -> None:
        n = config.get("connections")
        self.drivers = [Driver(config, self, None if n is None else i) for i in range(n or 1)]
        self.next = 0
        self.seq = 0
        self.injector = EventInjector()
        self.container: Container | None = None
        self.stopping = False
        self.closing: set[Driver] = set()  # closed by stop(), waiting for the peer's close
        self.lateness = Lateness()
        self.lateness_task = None

    # -- setup, on the reactor thread --

    def on_reactor_init(self, event: Any) -> None:
        # What MessagingHandler calls on_start: the container's first event.
        self.container = event.container
        self.container.selectable(self.injector)
        threading.Thread(target=self.read_stdin, daemon=True).start()
        self.lateness_task = self.container.schedule(self.lateness.armed(), Call(self.tick))
        self.open_next()

    def open_next(self) -> None:
        """Start the next connection. One after another, each once the one before has
        opened or failed its first attempt: a storm is about reconnecting."""
        while not self.stopping and self.next < len(self.drivers):
            d = self.drivers[self.next]
            self.next += 1
            if d.connect(self.container):
                return  # its first open or failed attempt calls this again

    def tick(self) -> None:
        self.lateness.woke()
        if not self.stopping:
            self.lateness_task = self.container.schedule(self.lateness.armed(), Call(self.tick))

    # -- commands: read on a thread, handled on the reactor thread --

    def read_stdin(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise ValueError
            except ValueError:
                cmd = {"cmd": None, "line": line}
            self.injector.trigger(ApplicationEvent("cmd", subject=cmd))
            if cmd.get("cmd") == "stop":
                return
        self.injector.trigger(ApplicationEvent("cmd", subject={"cmd": "stop"}))

    def on_cmd(self, event: Any) -> None:
        cmd = event.subject
        name = cmd.get("cmd")
        if name == "stop":
            self.stop()
        elif name == "publish" and not self.stopping:
            try:
                count, size = int(cmd["count"]), int(cmd["size"])
            except (KeyError, TypeError, ValueError):
                emit("driver_error", error=f"bad publish command: {cmd!r}")
                return
            for _ in range(count):
                self.drivers[0].publish(size)  # commanded publishes go on the first connection
        elif name is None:
            emit("driver_error", error=f"unreadable command: {cmd['line']!r}")
        elif name != "publish":
            emit("driver_error", error=f"unknown command: {name}")

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        if self.lateness_task is not None:
            self.lateness_task.cancel()
        self.injector.close()
        # Every connection closed through the library; the open ones stop the
        # container once their peers answer (closed_one), or the grace timer does.
        self.closing = {d for d in self.drivers if d.close()}
        if self.closing:
            self.container.schedule(CLOSE_GRACE_S, Call(self.container.stop))
        else:
            self.container.stop()

    def closed_one(self, driver: Driver) -> None:
        self.closing.discard(driver)
        if not self.closing:
            self.container.stop()


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
        check_config(config)
    except (OSError, ValueError, KeyError, TypeError) as e:
        emit("driver_error", error=f"bad config {argv[1]}: {e}")
        return 2
    emit("driver_started", library=LIBRARY, library_version=version(LIBRARY), language="python", runtime=runtime())
    process = Process(config)
    try:
        Container(process).run()
    except Exception as e:
        # An exception out of a handler (ours or proton's) ends proton's reactor.
        emit("driver_error", error=repr(e))
        return 1
    process.lateness.report()
    emit("stopped", emitted=EMITTED[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
