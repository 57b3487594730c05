"""pytest plugin: every scenario x client in scenarios/ becomes one test item; and
fixtures for a user's own tests (harness_topology, run_scenario; docs/pytest.md).

    pytest scenarios/ -n 4                 the suite, in parallel (pytest-xdist)
    pytest scenarios/ --harness-client nats-go -k refused

An item fails on a harness error, on a deviation the baseline does not know, and
on a known deviation that disappeared; it is skipped, with the reason, when the
backend cannot run its topology (the router topology on the local backend). All
entries of a session (every xdist worker's) end up in one results.json; a summary
table closes the run. Entries run through the run_scenario fixture join the same
results.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import backends, baseline, limits, options, paths, results, shards
from harness.backends import Live
from harness.drivers import registry
from harness.errors import HarnessError, UsageError, interruption
from harness.report import terminal
from harness.runner import TopologyPool, entry_seed, run_entry
from harness.scenario import Scenario, load_all, load_file
from harness.topology import get as get_topology

_POOL = pytest.StashKey[TopologyPool]()
# The suite runs storm scenarios small: 50 connections show the spread of the
# jitter (or its absence) in seconds; the full 1000 is for `harness run`.
STORM_CONNECTIONS = 50
_SESSION = pytest.StashKey[str]()
_STARTED = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness", "fault-injection harness")
    g.addoption("--backend", default="local", help="how servers are run: local (default) or compose")
    g.addoption(
        "--harness-out",
        type=Path,
        default=paths.REPORTS / "suite",
        help="folder for results.json and each run's logs (default reports/suite)",
    )
    g.addoption(
        "--harness-client",
        action="append",
        default=None,
        metavar="NAME",
        help="only run scenarios for this client (repeatable)",
    )
    g.addoption("--harness-seed", type=int, default=1, help="base seed (default 1)")
    g.addoption(
        "--harness-options",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML or JSON table of library options for the client under test",
    )
    g.addoption(
        "--harness-connections",
        type=int,
        default=STORM_CONNECTIONS,
        metavar="N",
        help=f"connections in a storm scenario (default {STORM_CONNECTIONS}: small, to keep the suite short; "
        "harness run uses 1000 for NATS)",
    )
    g.addoption(
        "--harness-baseline",
        type=Path,
        default=baseline.DEFAULT,
        help="known deviations to gate on (default scenarios/baseline.toml)",
    )
    g.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N of the collected scenario x client items (as harness run --shard)",
    )
    g.addoption(
        "--harness-durations",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="balance --shard by the durations in this earlier results.json (the same file on every machine)",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _worker_id(config: pytest.Config) -> str:
    return config.workerinput["workerid"] if _is_worker(config) else "main"  # type: ignore[attr-defined]


def _session(config: pytest.Config) -> str:
    """This pytest session's id: its entries are kept apart from any other session
    writing to the same output folder at the same time."""
    if _is_worker(config):
        return config.workerinput["harness_session"]  # type: ignore[attr-defined]
    return config.stash[_SESSION]


def _parts(config: pytest.Config) -> Path:
    return config.getoption("harness_out") / "parts" / _session(config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a scenario run against real servers and client libraries")
    config.addinivalue_line("markers", "slow: a scenario that waits out a library's default schedule for minutes")
    if not _is_worker(config):
        try:
            backends.check(config.getoption("backend"))
            _check_options(config)
            _shard(config)
        except HarnessError as e:
            raise pytest.UsageError(e.line()) from None
        config.stash[_SESSION] = uuid.uuid4().hex[:12]
        config.stash[_STARTED] = results.now_iso()


def _check_options(config: pytest.Config) -> None:
    """A bad --client or --harness-options value fails the session before any server
    starts; a client at another version (NAME@VERSION) is installed here, once, before
    any worker starts."""
    wanted = config.getoption("harness_client")
    specs = [registry.get(c).installed_at_version() for c in wanted] if wanted else None
    user = config.getoption("harness_options")
    if user:
        specs = specs or list(registry.all_drivers().values())
        options.load(user, {spec.name: registry.option_types(spec) for spec in specs})


def _shard(config: pytest.Config) -> tuple[tuple[int, int], dict] | None:
    """--shard and the durations it is balanced by; a bad value is a UsageError."""
    text = config.getoption("shard")
    if text is None:
        return None
    wanted = config.getoption("harness_durations")
    return shards.parse(text), shards.load_durations(wanted) if wanted else {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--shard: deselect the scenario items outside this shard (other tests are kept),
    with the assignment `harness run --shard` uses, over the items still selected."""
    try:
        chosen = _shard(config)
    except HarnessError as e:
        raise pytest.UsageError(e.line()) from None
    if chosen is None:
        return
    shard, cost = chosen
    scenario_items = [i for i in items if isinstance(i, ScenarioItem)]
    keep = set(map(id, shards.select(scenario_items, lambda i: (i.scenario.name, i.client), shard, cost)))
    dropped = [i for i in scenario_items if id(i) not in keep]
    if dropped:
        items[:] = [i for i in items if not isinstance(i, ScenarioItem) or id(i) in keep]
        config.hook.pytest_deselected(items=dropped)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: hand the session id to each worker."""
    node.workerinput["harness_session"] = node.config.stash[_SESSION]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (
        file_path.suffix == ".py"
        and file_path.parent.resolve() == paths.SCENARIOS.resolve()
        and not file_path.name.startswith(("_", "conftest"))
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        wanted = self.config.getoption("harness_client")
        for sc in load_file(self.path):
            for spec in [registry.get(c) for c in wanted] if wanted else registry.of_family(sc.family):
                if spec.family != sc.family:
                    continue
                yield ScenarioItem.from_parent(self, name=f"{sc.name}[{spec.name}]", scenario=sc, client=spec.name)


class ScenarioFailure(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, client: str, **kw) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.client = client
        self.add_marker(pytest.mark.scenario)
        if scenario.slow:
            self.add_marker(pytest.mark.slow)

    def runtest(self) -> None:
        config = self.config
        try:
            known = baseline.load(config.getoption("harness_baseline"))
            user = config.getoption("harness_options")
            entry = _run(config, self.scenario, self.client, {} if user is None else user)
        except HarnessError as e:
            raise ScenarioFailure(f"harness error: {e.line()}") from None
        for c in entry["checks"]:
            self.user_properties.append((f"{c['id']}", c["verdict"]))
        problems = baseline.compare(entry, known)
        if problems:
            raise ScenarioFailure("\n".join(problems))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailure):
            return f"{self.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


def _pool(config: pytest.Config) -> TopologyPool:
    """This session's (this worker's) running topologies, shared by every entry it runs."""
    if _POOL not in config.stash:
        out = config.getoption("harness_out")
        config.stash[_POOL] = TopologyPool(config.getoption("backend"), out / "work" / _worker_id(config))
    return config.stash[_POOL]


def _run(config: pytest.Config, sc: Scenario, client: str, user: Path | dict) -> dict:
    """Run and judge one scenario x client as `harness run` does; its entry joins the
    session's results.json. user: library options, or a file of them (checked first).
    An interrupted entry stops the session; a skipped one skips the test."""
    spec = registry.get(client)
    left_out = registry.unavailable(spec)
    if left_out:
        pytest.skip(f"client {client} is unavailable: {left_out}")
    if sc.family != spec.family:
        raise UsageError(f"scenario {sc.name} is for {sc.family} clients, not {client} ({spec.family})")
    out: Path = config.getoption("harness_out")
    workdir = out / "work" / _worker_id(config) / f"{sc.name}--{client}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    seed = entry_seed(config.getoption("harness_seed"), sc.name, client)
    types = {spec.name: registry.option_types(spec)}
    user_options = options.load(user, types) if isinstance(user, Path) else options.check(user, types)
    connections = config.getoption("harness_connections") if sc.storm else None
    if connections is not None:
        limits.check_connections(connections)
    entry = run_entry(sc, spec, _pool(config), workdir, seed, user_options, connections=connections)
    parts = _parts(config)
    parts.mkdir(parents=True, exist_ok=True)
    with open(parts / f"{_worker_id(config)}-{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
    outcome = entry["outcome"]
    if outcome["result"] == "interrupted":
        raise interruption(entry["error"])
    if outcome["result"] == "skipped":
        # The backend cannot run the topology: a skip with the reason, never a pass.
        pytest.skip(outcome["reason"] or "not run on this backend")
    return entry


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest) -> Callable[..., dict]:
    """run_scenario(scenario, client, options=None) -> the results entry, judged.

    scenario: a built-in scenario's name, or a Scenario of the test's own (@scenario from
    harness.scenario). options: library options for the client (as an options file holds
    them), checked against the client's types. The entry has the outcome and the checks
    (docs/results-schema.md); it joins the session's results.json. Topologies are shared
    by the session and torn down at its end. A harness error fails the test in one line."""

    def run(scenario: str | Scenario, client: str, options: dict | None = None) -> dict:
        try:
            sc = scenario if isinstance(scenario, Scenario) else _scenario(scenario)
            return _run(request.config, sc, client, dict(options or {}))
        except HarnessError as e:
            problem = e.line()
        pytest.fail(f"harness error: {problem}", pytrace=False)  # outside the except: one line, no chain

    return run


def _scenario(name: str) -> Scenario:
    found = load_all().get(name)
    if found is None:
        raise UsageError(f"unknown scenario {name!r}", "run `harness list` to see the scenarios")
    return found


@pytest.fixture
def harness_topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Live]]:
    """harness_topology(name) -> the running topology (servers behind Toxiproxy, on the
    session's --backend), for the test alone: torn down when the test ends. Its links'
    addresses: live.url("n1-client"); faults: live.kill("n1") and the like (harness.backends.Live)."""
    started: list[Live] = []

    def up(name: str) -> Live:
        try:
            live = backends.up(request.config.getoption("backend"), get_topology(name), tmp_path / f"topology-{name}")
            started.append(live)
            return live
        except HarnessError as e:
            problem = e.line()
        pytest.fail(f"harness error: {problem}", pytrace=False)

    yield up
    for live in reversed(started):
        live.down()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.close()
    if _is_worker(config):
        # What this worker's selection left out reaches the controller (pytest_testnodedown).
        config.workeroutput[_SLOW_KEY] = sorted(config.stash.get(_SLOW_LEFT_OUT, set()))  # type: ignore[attr-defined]
        return
    out: Path = config.getoption("harness_out")
    parts = _parts(config)
    entries = []
    for part in sorted(parts.glob("*.jsonl")) if parts.exists() else []:
        entries += [json.loads(line) for line in part.read_text().splitlines() if line.strip()]
    shutil.rmtree(parts, ignore_errors=True)
    if not entries:
        return
    res = results.new(
        config.getoption("backend"), config.getoption("harness_seed"), ["pytest", *config.invocation_params.args]
    )
    res["run"]["started_at"] = config.stash.get(_STARTED, res["run"]["started_at"])
    if config.getoption("shard"):
        res["run"]["shard"] = shards.label(shards.parse(config.getoption("shard")))
    order = {name: i for i, name in enumerate(sorted({e["scenario"] for e in entries}))}
    res["entries"] = sorted(entries, key=lambda e: (order[e["scenario"]], e["client"]))
    results.finish(res, complete=session.shouldstop is False and session.shouldfail is False)
    results.write(res, out)
    config.stash[_RESULTS] = res
    try:
        from harness import report

        report.write(res, out)
    except Exception as e:  # the results are safe; say why there is no report
        config.stash[_REPORT_ERROR] = f"{type(e).__name__}: {e}"
    # Known deviations whose scenarios were skipped gated nothing: say so, in the
    # terminal and in the CI job summary, rather than letting them read as holding.
    with contextlib.suppress(HarnessError):
        note = baseline.unjudged(res["entries"], baseline.load(config.getoption("harness_baseline")))
        if note:
            config.stash[_UNJUDGED] = note
            summary = out / "summary.md"
            if summary.exists():
                summary.write_text(summary.read_text().rstrip("\n") + f"\n\n{note}\n")


_RESULTS = pytest.StashKey[dict]()
_REPORT_ERROR = pytest.StashKey[str]()
_UNJUDGED = pytest.StashKey[str]()
_SLOW_LEFT_OUT = pytest.StashKey[set[tuple[str, str]]]()


_SLOW_KEY = "harness_slow_left_out"


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Scenario runs a `-m "not slow"` selection left out, to say so in the summary."""
    for item in items:
        if isinstance(item, ScenarioItem) and item.scenario.slow:
            item.config.stash.setdefault(_SLOW_LEFT_OUT, set()).add((item.scenario.name, item.client))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist: a worker's slow runs left out, merged into the controller's."""
    left = getattr(node, "workeroutput", {}).get(_SLOW_KEY, [])
    node.config.stash.setdefault(_SLOW_LEFT_OUT, set()).update(tuple(x) for x in left)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    res = config.stash.get(_RESULTS, None)
    if res is None:
        return
    terminalreporter.section("harness results")
    terminalreporter.write_line(terminal.render(res))
    out = config.getoption("harness_out")
    if _UNJUDGED in config.stash:
        terminalreporter.write_line(config.stash[_UNJUDGED])
    slow = sorted(config.stash.get(_SLOW_LEFT_OUT, set()))
    if slow:
        terminalreporter.write_line(
            f"Left out as slow (-m 'not slow'): {len(slow)} run{'s' if len(slow) != 1 else ''} of "
            f"{', '.join(sorted({n for n, _ in slow}))}; "
            "their known deviations were not judged (make suite runs every scenario)"
        )
    terminalreporter.write_line(f"Results: {out / results.FILENAME}")
    if _REPORT_ERROR in config.stash:
        terminalreporter.write_line(f"No report: {config.stash[_REPORT_ERROR]}")
    else:
        terminalreporter.write_line(f"Report: {out / 'report.html'} (summary for CI: {out / 'summary.md'})")
