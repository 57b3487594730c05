"""Running scenarios: each scenario x client becomes one results entry.

A failure of the harness's environment (a server that does not come up, a driver
that crashes) makes the entry's status `error`; it never becomes a verdict about
the client library. A client that lacks a feature gets `not-measured` checks.
"""

from __future__ import annotations

import contextlib
import traceback
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from harness import noise, replay
from harness.backends import Live
from harness.backends import up as backend_up
from harness.clock import now_ns
from harness.drivers import app as app_client
from harness.drivers.app import AppProcess, AppSpec
from harness.drivers.registry import DriverSpec, describe
from harness.errors import HarnessError, Unavailable, interruption, stop_reason
from harness.judging import outcome, timeline
from harness.judging.entry import judge
from harness.noise import NoiseProbe
from harness.scenario import NotSupported, Run, Scenario
from harness.topology import get as get_topology


def entry_seed(base: int, scenario: str, client: str) -> int:
    return (base + zlib.crc32(f"{scenario}/{client}".encode())) % 2**31


class TopologyPool:
    """Running topologies by name: brought up on first use, reused, torn down at close."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.live: dict[str, Live] = {}
        # Topologies this backend cannot run, with the reason: asked once, not per scenario.
        self.unavailable: dict[str, Unavailable] = {}

    def get(self, name: str) -> Live:
        if name in self.unavailable:
            raise Unavailable(self.unavailable[name].what, self.unavailable[name].todo)
        if name not in self.live:
            try:
                self.live[name] = backend_up(self.backend, get_topology(name), self.workdir / f"topology-{name}")
            except Unavailable as e:
                self.unavailable[name] = e
                raise
        return self.live[name]

    def close(self) -> None:
        for live in self.live.values():
            with contextlib.suppress(Exception):
                live.down()
        self.live.clear()


def _base_entry(sc: Scenario, spec: DriverSpec, desc: dict, backend: str, seed: int) -> dict:
    return {
        "scenario": sc.name,
        "description": sc.description,
        "client": spec.name,
        "client_version": desc["library_version"],
        "library": desc["library"],
        "family": spec.family,
        "backend": backend,
        "topology": sc.topology,
        "server_versions": {},
        "seed": seed,
        "status": "ok",
        "error": None,
        "started_ns": now_ns(),
        "ended_ns": 0,
        "actors": {},
        "links": {},
        "link_roles": {},
        "faults": [],
        "schedules": [],
        "events": [],
        "metrics": {},
        "checks": [],
        "unsupported": None,
        "skipped": None,
    }


def run_entry(
    sc: Scenario,
    spec: DriverSpec,
    pool: TopologyPool,
    workdir: Path,
    seed: int,
    user_options: dict | None = None,
    *,
    app: AppSpec | None = None,
    connections: int | None = None,
) -> dict:
    desc = describe(spec)
    entry = _base_entry(sc, spec, desc, pool.backend, seed)
    if app is not None:
        # The client is the user's program; `spec` drives the other actors (witnesses).
        entry |= {
            "client": app_client.CLIENT,
            "client_version": "(not instrumented)",
            "library": app.command,
            "app": {
                "command": app.command,
                "argv": [],
                "links": app.links,
                "log": "app.log",
                "exit_code": None,
                "exited_on_its_own": False,
                "witness_client": spec.name,
            },
        }
    entry["workdir"] = str(workdir)
    workdir.mkdir(parents=True, exist_ok=True)  # also when nothing runs: replay.json goes here
    run: Run | None = None
    unsupported: str | None = None
    skipped: str | None = None
    try:
        live = pool.get(sc.topology)
        live.reset()
        entry["server_versions"] = live.versions()
        run = Run(
            sc, spec, desc, live, workdir, seed, user_options=dict(user_options or {}), app=app, connections=connections
        )
        entry["started_ns"] = run.t0_ns
        entry["links"] = run.links()
        probe = NoiseProbe().start()
        try:
            sc.script(run)
        except NotSupported as e:
            unsupported = str(e)
        finally:
            entry["noise"] = probe.stop()
            run.finish()
    except Unavailable as e:
        # The backend cannot run the topology at all: nothing ran, nothing is judged.
        skipped = e.line()
    except HarnessError as e:
        entry["status"], entry["error"] = "error", e.line()
    except KeyboardInterrupt as e:
        # Kept and returned: the caller records what was gathered, then stops.
        entry["status"], entry["error"] = "interrupted", stop_reason(e)
    except Exception as e:
        (workdir / "harness-traceback.txt").write_text(traceback.format_exc())
        entry["status"] = "error"
        entry["error"] = f"harness bug while running: {type(e).__name__}: {e} (see {workdir}/harness-traceback.txt)"
    finally:
        if run is not None:
            _record(entry, run)
    entry["unsupported"], entry["skipped"] = unsupported, skipped
    if entry["status"] == "ok" and skipped is None:
        try:
            entry["metrics"], entry["checks"] = judge(entry, sc)
        except Exception as e:
            (workdir / "harness-traceback.txt").write_text(traceback.format_exc())
            entry["status"] = "error"
            entry["error"] = f"harness bug while judging: {type(e).__name__}: {e} (see {workdir}/harness-traceback.txt)"
    entry["outcome"] = outcome.decide(entry)
    # A program given with --app is the user's to run again: no replay bundle.
    if entry["status"] != "interrupted" and app is None:
        replay.write(entry, pool.backend, dict(user_options or {}), workdir)
    return entry


def _record(entry: dict, run: Run) -> None:
    t1 = getattr(run, "t1_ns", now_ns())
    client_events = [e for d in run.drivers.values() for e in d.snapshot()]
    program = run.drivers.get("client")
    if isinstance(program, AppProcess):
        entry["app"] |= program.describe()
    wire = run.live.wire_events(run.t0_ns, t1)
    entry["events"] = timeline.merge(client_events, wire, run.faults.records, run.marks)
    entry["faults"] = run.faults.records
    entry["schedules"] = run.schedules
    entry["actors"] = run.actors
    entry["link_roles"] = run.link_roles()
    entry["ended_ns"] = t1
    # The drivers' and the proxy's own timer lateness join the harness probe's: the
    # budget is the largest.
    if entry.get("noise") and (late := noise.lateness_by_actor(entry["events"])):
        entry["noise"]["drivers"] = late
    if entry.get("noise") and (proxy := noise.lateness_by_actor(entry["events"], source="proxy")):
        entry["noise"]["proxy_ms"] = max(proxy.values())
    # The environment first: a proxy or server that died on its own makes everything
    # the client did afterwards meaningless, whatever the drivers say.
    problems = run.live.health() + [p for d in run.drivers.values() for p in d.problems]
    if problems and entry["status"] == "ok":
        entry["status"], entry["error"] = "error", problems[0]


def run_pairs(
    pairs: Iterable[tuple[Scenario, DriverSpec]],
    pool: TopologyPool,
    workdir: Path,
    seed: int,
    on_entry: Callable[[int, dict], None],
    user_options: dict | None = None,
    on_start: Callable[[int, Scenario, DriverSpec], None] | None = None,
    *,
    app: AppSpec | None = None,
    connections: int | None = None,
) -> None:
    for i, (sc, spec) in enumerate(pairs):
        if on_start:
            on_start(i, sc, spec)
        client = app_client.CLIENT if app else spec.name
        wd = workdir / f"{sc.name}--{client}"
        entry = run_entry(
            sc, spec, pool, wd, entry_seed(seed, sc.name, client), user_options, app=app, connections=connections
        )
        on_entry(i, entry)
        if entry["status"] == "interrupted":
            raise interruption(entry["error"])
