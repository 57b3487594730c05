"""Scenarios: a script that drives clients and faults, and a judge that turns the
resulting timeline into checks. Scenario files live in scenarios/, one per theme:

    @scenario("nats.single.refused", family="nats", topology="nats-single",
              checks=["ReconnectWait", ...])
    def refused(run: Run) -> None:
        run.start("client", ["n1-client"])
        ...

    @refused.judge
    def judge_refused(j: Judge) -> None:
        ...

The script only acts and records; the judge only reads the timeline. Data flows
one way: script -> timeline -> metrics -> checks.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from harness import paths, ports
from harness.backends import Live
from harness.clock import now_ns
from harness.drivers.app import AppProcess, AppSpec
from harness.drivers.process import DriverProcess
from harness.drivers.registry import DriverSpec
from harness.errors import EnvironmentFault, HarnessError, Unavailable, UsageError
from harness.faults import Fault, FaultLog
from harness.judging import Judge, timeline, wire_only
from harness.schedule import Schedule
from harness.wire import open_connections


class NotSupported(Exception):
    """The client library lacks what the scenario needs: its checks are not-measured."""


@dataclass
class Scenario:
    name: str
    family: str
    topology: str
    description: str
    checks: tuple[str, ...]
    script: Callable[[Run], None]
    judge_fn: Callable[[Judge], None] | None = None
    module: str = ""
    source: str = ""
    # A storm: many connections of one library (--connections, harness/limits.py).
    storm: bool = False
    # Waits out a library's default schedule for minutes (its 60 attempts, its delay
    # growing to a 60 s cap): marked `slow` in pytest, left out of `make test`.
    slow: bool = False

    def judge(self, fn: Callable[[Judge], None]) -> Callable[[Judge], None]:
        self.judge_fn = fn
        return fn


_REGISTRY: dict[str, Scenario] = {}


def scenario(
    name: str, *, family: str, topology: str, checks: list[str], storm: bool = False, slow: bool = False
) -> Callable[[Callable], Scenario]:
    def wrap(script: Callable[[Run], None]) -> Scenario:
        # A scenario is its file: the same file imported twice (pytest given the
        # file by path imports it under another module name) is one definition.
        source = str(Path(script.__code__.co_filename).resolve())
        if name in _REGISTRY:
            if _REGISTRY[name].source != source:
                raise UsageError(f"scenario {name} is defined twice ({_REGISTRY[name].source}, {source})")
            return _REGISTRY[name]
        s = Scenario(
            name,
            family,
            topology,
            (script.__doc__ or "").strip().split("\n")[0],
            tuple(checks),
            script,
            module=script.__module__,
            source=source,
            storm=storm,
            slow=slow,
        )
        _REGISTRY[name] = s
        return s

    return wrap


def load_file(path: Path) -> list[Scenario]:
    """Import one scenario file (once) and return the scenarios it defines."""
    modname = f"harness_scenarios.{path.stem}"
    if modname not in sys.modules:
        spec = importlib.util.spec_from_file_location(modname, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[modname]
            raise
    here = str(path.resolve())
    return [s for s in _REGISTRY.values() if s.source == here]


def load_all(folder: Path | None = None) -> dict[str, Scenario]:
    """Import every scenario file once; return the registry."""
    folder = folder or paths.SCENARIOS
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith(("_", "conftest")):
            load_file(path)
    return dict(_REGISTRY)


def select(patterns: list[str]) -> list[Scenario]:
    """Scenarios whose name matches any pattern (shell-style); an unmatched pattern is an error."""
    registry = load_all()
    chosen: list[Scenario] = []
    for pat in patterns:
        found = [s for n, s in registry.items() if fnmatch(n, pat) or n == pat]
        if not found:
            raise UsageError(f"unknown scenario {pat!r}", "run `harness list` to see the scenarios")
        chosen += [s for s in found if s not in chosen]
    return chosen


class ActiveFault:
    def __init__(self, run: Run, fault: Fault) -> None:
        self.run, self.fault = run, fault
        self.record = run.faults.begin(fault, run.live)
        run._active.append(self)

    @property
    def start_ns(self) -> int:
        return self.record["start_ns"]

    def end(self) -> None:
        if self in self.run._active:
            self.run._active.remove(self)
            self.run.faults.end(self.fault, self.record, self.run.live)


@dataclass
class Run:
    """What a scenario script works with."""

    scenario: Scenario
    spec: DriverSpec
    describe: dict
    live: Live
    workdir: Path
    seed: int
    user_options: dict = field(default_factory=dict)
    # The user's own program as the actor "client" (harness run --app), or None.
    app: AppSpec | None = None
    # --connections for a storm scenario; None: the family's default (harness/limits.py).
    connections: int | None = None
    drivers: dict[str, DriverProcess | AppProcess] = field(default_factory=dict)
    actors: dict[str, dict] = field(default_factory=dict)
    faults: FaultLog = field(default_factory=FaultLog)
    marks: list[dict] = field(default_factory=list)
    schedules: list[dict] = field(default_factory=list)
    _active: list[ActiveFault] = field(default_factory=list)
    _fixed: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tag = f"h.{uuid.UUID(int=self.rng.getrandbits(128)).hex[:10]}.{uuid.uuid4().hex[:6]}"
        self.t0_ns = now_ns()

    @property
    def client(self) -> str:
        """The client without a version (NAME of NAME@VERSION): what drivers and
        per-client facts know it as."""
        return self.spec.base

    def is_app(self, actor: str) -> bool:
        return self.app is not None and actor == "client"

    def links(self) -> dict[str, str]:
        """URL of every client-facing link of the topology."""
        return {x.name: self.url(x.name) for x in self.live.topology.links if x.role in ("client", "observer")}

    def link_roles(self) -> dict[str, str]:
        """Every link of the topology (and any fixed-port link of this run) with its role."""
        roles = {x.name: x.role for x in self.live.topology.links}
        roles |= {name: "client" for name, _ in self._fixed if name}
        return roles

    def url(self, link: str) -> str:
        return self.live.url(link)

    def start(
        self,
        actor: str,
        links: list[str],
        *,
        options: dict | None = None,
        subscribe: bool = False,
        publish: dict | None = None,
        subject: str | None = None,
        sub_pending_msgs_limit: int | None = None,
        handler_delay_ms: float = 0,
        connections: int | None = None,
    ) -> DriverProcess | AppProcess:
        if self.is_app(actor):
            return self._start_app(links, options or {})
        # The user's --options apply to the client under test and win over the
        # scenario's own; judges read what the client actually ran with.
        options = {**(options or {}), **(self.user_options if actor == "client" else {})}
        missing = sorted(set(options) - set(self.describe["options"]))
        if missing:
            raise NotSupported(f"{self.client} has no option {', '.join(missing)}")
        settlement = (publish or {}).get("settlement")
        if settlement and settlement not in self.describe.get("settlements", ["unsettled"]):
            raise NotSupported(f"the {self.client} driver cannot send {settlement} (workload.publish.settlement)")
        if connections is not None and not self.describe.get("connections"):
            raise NotSupported(
                f"the {self.client} driver opens one connection per process (its --describe has no "
                "`connections`), so a storm of many connections is not run for it"
            )
        workload = {
            "subject": subject or f"{self.tag}.m",
            "subscribe": subscribe,
            "publish": publish,
            "sub_pending_msgs_limit": sub_pending_msgs_limit,
            "handler_delay_ms": handler_delay_ms,
        }
        config = {
            "contract": 1,
            "client": self.client,
            # A link name, or a URL as is (a fixed-port link outside the topology).
            "servers": [x if "://" in x else self.url(x) for x in links],
            "options": options,
            "workload": workload,
        }
        if connections is not None:
            config["connections"] = connections
        self.actors[actor] = {"links": links, "servers": config["servers"], "options": options, "workload": workload}
        if connections is not None:
            self.actors[actor]["connections"] = connections
        d = DriverProcess(self.spec, actor, config, self.workdir)
        self.drivers[actor] = d
        return d

    def _start_app(self, links: list[str], options: dict) -> AppProcess:
        """The user's program in the place of the client's driver: started once, with
        its own command line; the scenario's links and options are not its."""
        assert self.app is not None
        if "client" in self.drivers:
            raise NotSupported("the scenario starts its client twice; a program given with --app is started once")
        argv = self.app.argv(self.url)
        self.actors["client"] = {
            "links": self.app.links,
            "servers": [self.url(x) for x in self.app.links],
            "options": {},
            "workload": None,
            # What the scenario would have given a driver, kept to say what the program was not given.
            "scenario_links": links,
            "scenario_options": options,
        }
        p = AppProcess(self.app, argv, self.workdir)
        self.drivers["client"] = p
        return p

    def _wire_wait(self, after_ns: int | None, timeout: float) -> dict | None:
        """The program connected, as the wire shows it: a connection accepted on one
        of its links after `after_ns`, outside a fault on that link, still open
        LASTING_MS later (harness/judging/wire_only.py). None after `timeout` s."""
        assert self.app is not None
        p = self.drivers["client"]
        deadline = time.monotonic() + timeout
        since = self.t0_ns if after_ns is None else after_ns
        while True:
            now = now_ns()
            tl = timeline.Timeline(
                timeline.merge([], self.live.wire_events(self.t0_ns, now), [], []), self.faults.records, self.t0_ns, now
            )
            found = wire_only.lasting_connections(tl, self.app.links, self.faults.records, self.live.topology, since)
            if found:
                return {"t_ns": found[0]["t_ns"], "kind": "wire_connected", "link": found[0]["link"], "source": "proxy"}
            if time.monotonic() >= deadline or not p.alive():
                return None
            time.sleep(0.05)

    def connect(
        self,
        actor: str,
        links: list[str],
        *,
        timeout: float,
        settle: float = 0.5,
        flowing: tuple[str, str] | None = None,
        **start: Any,
    ) -> bool:
        """The prelude of most scripts: start `actor` on `links` (`start` as for
        start()), wait until it is connected, let it settle before any fault. False
        if it never connected: the judge finds that, the script just stops.
        `flowing` (actor, event kind), e.g. the witness's first `received`: the
        publisher's messages must flow before the fault, else an environment error.
        On a loaded machine a sender link may not be open a second after connecting,
        and a fault then would judge a start-up the scenario is not about (seen: an
        HA primary killed before it had settled any of rhea's first 90 messages)."""
        self.start(actor, links, **start)
        if self.wait(actor, "connected", timeout) is None:
            return False
        # A user's program (--app) is not told the subject, so its flow is not awaited.
        if flowing is not None and not self.is_app(actor) and not self.is_app(flowing[0]):
            who, kind = flowing
            if self.wait(who, kind, timeout) is None:
                raise EnvironmentFault(
                    f"messages did not flow within {timeout:g} s of {actor} connecting ({who} reported no {kind}): "
                    "the machine or the server too slow to reach the steady state before the fault; nothing judged"
                )
        self.sleep(settle)
        return True

    def wait_established(self, link: str, timeout: float, hold_s: float = 1.0) -> bool:
        """True once a connection on `link` has stayed open `hold_s` seconds (a failed
        attempt is accepted and closed at once); False after `timeout` seconds. Counted
        over the whole wire log, so a connection opened before the run counts too.
        Here rather than in one scenario file: a router's connector is awaited by the
        router scenarios and by the HA pair's (scenario files do not import each other)."""
        deadline = time.monotonic() + timeout
        open_since: float | None = None
        while time.monotonic() < deadline:
            if open_connections(self.live.wire_events(0)).get(link, 0) > 0:
                if open_since is None:
                    open_since = time.monotonic()
                if time.monotonic() - open_since >= hold_s:
                    return True
            else:
                open_since = None
            self.sleep(0.1)
        return False

    def hold_port(self, port: int) -> None:
        """Keep a well-known port (claimed, nothing listening) for this scenario, so a
        client falling back to it cannot reach another run's proxy."""
        if not ports.claim_exact(port, f"{self.scenario.name} ({self.client}) holds it"):
            raise NotSupported(f"port {port} is in use on this machine, so this cannot be measured here")
        self._fixed.append(("", port))

    def fixed_port_link(self, service: str, port: int) -> str:
        """A proxy on one well-known port (a documented default such as AMQP's 5672) to
        `service`, for this scenario only; its name. The port is claimed like any
        other (a parallel run waits for it); NotSupported if something else has it."""
        name = f"{service}-port-{port}"
        if not getattr(self.live, "proxies_on_host", False):
            raise Unavailable(
                f"a proxy on this host's port {port} needs Toxiproxy on the host",
                f"the {self.live.backend} backend publishes only the ports it declares; use --backend local",
            )
        if not ports.claim_exact(port, f"{self.scenario.name} ({self.client})"):
            raise NotSupported(f"port {port} is in use on this machine, so its default cannot be measured here")
        try:
            target = self.live.topology.links_to(service)[0].name
            upstream = self.live.toxiproxy.proxies()[target]["upstream"]
            self.live.toxiproxy.create(name, f"127.0.0.1:{port}", upstream)
        except BaseException:
            ports.release([port])
            raise
        self._fixed.append((name, port))
        return name

    def wait(
        self,
        actor: str,
        kind: str | tuple[str, ...],
        timeout: float,
        *,
        after_ns: int | None = None,
        where: Callable[[dict], bool] | None = None,
    ) -> dict | None:
        """The first `kind` event of `actor` (after `after_ns`), or None after `timeout` s.
        None is a finding for the judge, not an error."""
        kinds = (kind,) if isinstance(kind, str) else kind
        if self.is_app(actor):
            # The wire can tell a connection, nothing else the program does.
            if set(kinds) & {"connected", "reconnected"} and where is None:
                return self._wire_wait(after_ns, timeout)
            self.mark("unanswerable_wait", to=actor, kinds=list(kinds))
            self.drivers[actor].idle(timeout)  # type: ignore[union-attr]
            return None

        def match(e: dict) -> bool:
            return e["kind"] in kinds and (after_ns is None or e["t_ns"] >= after_ns) and (where is None or where(e))

        return self.drivers[actor].wait_for(match, timeout)

    def wait_count(self, actor: str, kind: str, n: int, timeout: float) -> bool:
        """True once `actor` has printed `n` events of `kind`; False after `timeout` s."""
        d = self.drivers[actor]
        if isinstance(d, AppProcess):
            self.mark("unanswerable_wait", to=actor, kinds=[kind])
            d.idle(timeout)
            return False
        return d.wait_count(kind, n, timeout)

    def fault(self, kind: str, target: str, **params) -> ActiveFault:
        return ActiveFault(self, Fault(kind, target, params))

    def play(self, schedule: Schedule, until_s: float | None = None) -> None:
        self.schedules.append(schedule.to_json())
        schedule.play(self.live, self.faults, until_s)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def mark(self, label: str, **fields) -> int:
        t = now_ns()
        self.marks.append({"t_ns": t, "kind": "mark", "label": label, **fields})
        return t

    def command(self, actor: str, cmd: dict) -> None:
        self.mark("command", to=actor, cmd=cmd)
        self.drivers[actor].send(cmd)

    def stop(self, actor: str) -> None:
        self.mark("stop", to=actor)
        self.drivers[actor].stop()

    def finish(self) -> None:
        """End every fault still on and stop every driver (also after an error). A fault
        that would not end is raised once everything else is cleaned up."""
        failed: list[Exception] = []
        for af in list(self._active):
            try:
                af.end()
            except Exception as e:
                failed.append(e)
        # Last started, first stopped: publishers usually start after the
        # subscribers that watch them, and must stop before them.
        for name, d in reversed(self.drivers.items()):
            if not d.stopped:
                if d.proc.alive():
                    self.mark("stop", to=name)
                d.stop()
        self.t1_ns = now_ns()
        for name, port in self._fixed:
            if name:
                with contextlib.suppress(HarnessError):
                    self.live.toxiproxy.delete(name)
            ports.release([port])
        self._fixed.clear()
        if failed:
            raise failed[0]
