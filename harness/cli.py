"""`harness`: run scenarios against real servers and client libraries.

Every failure reaches the user as one line and a non-zero exit: 2 for bad input,
3 for the environment (a missing binary, a port in use, a server that does not
come up), 130 for Ctrl-C, 143 for SIGTERM. Whatever was started is stopped before
exiting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from harness import __version__, backends, limits, options, paths, procs, results, shards
from harness.errors import HarnessError, Stopped, UsageError, interruption, stop_exit_code
from harness.progress import Progress
from harness.report import terminal

EPILOG = """examples:
  harness list                                     scenarios and clients
  harness run 'nats.*'                             every NATS scenario, every NATS client
  harness run 'amqp.*' --jobs 4                    every AMQP scenario, four at a time
                                                   (default --jobs auto: as many as the timing noise allows)
  harness run nats.single.refused --client nats-go --out /tmp/r1
  harness run --app './svc --nats {n1-client}' nats.single.reset   your program as the client
  harness run 'nats.*' 'amqp.*' --shard 2/8 --out shard-2   one machine's share of the matrix
  harness merge shard-*/ --out all                 the shards' results as one run
  harness report /tmp/r1                           /tmp/r1/report.html and summary.md
  harness compare reports/runs/A reports/runs/B    what changed between two runs
  harness replay /tmp/r1/work/nats.single.refused--nats-go   run it again, same seed
  harness up --topology nats-3 --name outage-42    keep a topology running to poke at
  harness status outage-42                         its links, services and the faults on
  harness fault outage-42 refuse n1-client         cut a link (kept on until healed)
  harness fault outage-42 latency n2-client latency_ms=500
  harness fault outage-42 heal                     revert every fault still on
  harness down outage-42                           stop it (`harness down`: everything, and leftovers)

exit codes: 0 every scenario ran (deviations are findings), 2 bad input, 3 the environment
failed, 130 Ctrl-C, 143 SIGTERM (everything started is stopped; results so far are kept)
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harness",
        description="Fault-injection harness for messaging clients: real servers behind a real "
        "Toxiproxy, real client libraries, checked against their documentation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser(
        "run",
        help="run scenarios and write results.json",
        description="Run scenarios for clients; write DIR/results.json and print a summary.",
    )
    r.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario name or shell pattern ('nats.*')")
    r.add_argument(
        "--client",
        action="append",
        metavar="NAME",
        help="client library to run (repeatable; default: every client of the scenario's family); "
        "NAME@VERSION runs that client's driver on another version of its library, installed once",
    )
    r.add_argument("--backend", default="local", help="how servers are run: local (default) or compose")
    r.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: reports/runs/<time>-<id>, linked from reports/latest)",
    )
    r.add_argument(
        "--force",
        "--overwrite",
        action="store_true",
        help="write into an --out folder that holds an earlier run's results.json (default: refuse)",
    )
    r.add_argument("--seed", type=int, default=1, help="base seed for every scenario's randomness (default 1)")
    r.add_argument(
        "--jobs",
        "-j",
        default="auto",
        metavar="N|auto",
        help="run the pairs in N harness processes side by side (1: one after another). Default auto: one job "
        "per core to start, the longest pairs first; another job is admitted while the p99 timer lateness a "
        "probe beside the jobs measures stays within half the measurement slack (10 ms), one is shed when it "
        "goes beyond the slack (20 ms), and never more than three per core",
    )
    r.add_argument(
        "--connections",
        type=int,
        metavar="N",
        help="connections of the client library in a storm scenario (nats.storm.*, amqp.storm.*; default 1000 "
        "for NATS, 200 for AMQP); checked against the machine's limits before anything starts",
    )
    r.add_argument("--pairs-file", type=Path, help=argparse.SUPPRESS)
    r.add_argument("--pairs-stdin", action="store_true", help=argparse.SUPPRESS)
    r.add_argument("--entries-dir", type=Path, help=argparse.SUPPRESS)
    r.add_argument(
        "--options",
        type=Path,
        metavar="FILE",
        help="TOML or JSON table of library options for the client under test (e.g. ReconnectWait = 500); "
        "each value is checked against the option's type and range before anything starts",
    )
    r.add_argument(
        "--app",
        metavar="CMD",
        help="run this program as the client instead of a library's driver, judged from the wire alone; "
        "{LINK} in CMD becomes that link's URL, {LINK:hostport} its host:port (e.g. "
        "--app './svc --nats {n1-client}'); one job, no replay bundle, its output in the entry's app.log",
    )
    r.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N of the scenario x client matrix (the same share on every machine; "
        "combine the shards' folders with `harness merge`)",
    )
    r.add_argument(
        "--durations",
        type=Path,
        metavar="RESULTS",
        help="balance --shard (and --jobs) by the durations in this earlier results.json (or its folder); "
        "every shard must be given the same file",
    )

    mg = sub.add_parser(
        "merge",
        help="combine the results of shards (harness run --shard) into one run",
        description="Combine DIR/results.json of every shard into OUT/results.json, with report.html, "
        "summary.md and junit.xml (one testcase per entry, gated on the baseline). Refuses shards of "
        "different harness versions or backends, and an entry found in two shards.",
    )
    mg.add_argument("shards", nargs="+", type=Path, metavar="DIR", help="a shard's output folder (with results.json)")
    mg.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports/runs/<time>-merge-<id>)")
    mg.add_argument(
        "--force",
        "--overwrite",
        action="store_true",
        help="write into an --out folder that holds an earlier run's results.json (default: refuse)",
    )
    mg.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="known deviations the JUnit file gates on (default: the built-in scenarios/baseline.toml)",
    )

    su = sub.add_parser("setup", help=f"install the pinned servers and drivers into {paths.TOOLS}")
    su.add_argument("--with-compose", action="store_true", help="also the Compose CLI, for --backend compose")
    ls = sub.add_parser("list", help="list scenarios, clients and topologies")
    ls.add_argument("--verbose", "-v", action="store_true", help="show each scenario's checks")

    u = sub.add_parser(
        "up",
        help="start a topology and leave it running",
        description="Start a topology's servers and proxies and leave them running; `harness down` stops them.",
    )
    u.add_argument("--topology", default="nats-3", help="topology to start (default nats-3; see `harness list`)")
    u.add_argument("--name", help="the name to keep it under (default: the topology's); several names run side by side")
    d = sub.add_parser("down", help="stop what `harness up` started, and anything a killed run left behind")
    d.add_argument("name", nargs="?", metavar="NAME", help="stop only this one (default: every one, and leftovers)")
    st = sub.add_parser(
        "status",
        help="what `harness up` keeps running: links, services, faults on",
        description="For each running topology (or NAME): its links as Toxiproxy reports them (listen address, "
        "upstream, enabled or disabled, toxics), its services (pid, ports, running/paused/stopped, version) and "
        "the faults on.",
    )
    st.add_argument("name", nargs="?", metavar="NAME", help="only this topology")
    st.add_argument("--json", action="store_true", help="as JSON")
    f = sub.add_parser(
        "fault",
        help="apply a fault to a running topology and leave it on, or heal",
        description="Apply one fault (confirmed, as a scenario's) to a link or service of the topology NAME "
        "started by `harness up`, and leave it on; `heal [TARGET]` reverts every fault still on (or those on "
        "TARGET). Each action is logged with its clock stamps in the topology's faults.jsonl.",
        epilog="kinds: refuse reset blackhole latency bandwidth slicer limit_data partition (links); "
        "kill pause restart (services); e.g. harness fault outage-42 latency n1-client latency_ms=500, "
        "harness fault outage-42 partition 'n1|n2,n3'; a bare 500ms is latency_ms=500",
    )
    f.add_argument("name", metavar="NAME", help="the running topology")
    f.add_argument("kind", metavar="KIND", help="a fault kind, or heal")
    f.add_argument("target", nargs="?", metavar="TARGET", help="a link, links (a,b), a service, or 'n1|n2,n3'")
    f.add_argument("params", nargs="*", metavar="PARAM=VALUE", help="the kind's parameters, e.g. latency_ms=500")
    rp = sub.add_parser(
        "report",
        help="write DIR/report.html and DIR/summary.md from DIR/results.json",
        description="Write the HTML report and a Markdown summary. The page loads plotly.min.js, written "
        "once beside it; the folder opens offline.",
    )
    rp.add_argument(
        "results",
        type=Path,
        metavar="DIR",
        help="a folder holding results.json (or the file); or the folder of a topology `harness up` ran "
        "(reports/up/NAME): then its fault log, what was done when",
    )
    rp.add_argument(
        "--self-contained",
        action="store_true",
        help="put plotly.js inside report.html (one file to mail or attach, about 4.7 MB larger)",
    )
    cp = sub.add_parser(
        "compare",
        help="what changed between two runs: verdicts, timings, versions",
        description="Compare two runs (two client versions, machines, days): verdicts and outcomes that "
        "changed and timings that moved beyond noise, first saying if the runs are unlike (user options, "
        "client or server versions, backends). Prints the comparison and writes it as HTML.",
        epilog="exit codes: 0 when no verdict, outcome or status changed (timings, versions and entries that "
        "come or go are reported but do not fail), 1 when one did, 2 for bad input (a missing or invalid "
        "results file).",
    )
    cp.add_argument("before", type=Path, metavar="DIR_A", help="the earlier run (folder or results.json)")
    cp.add_argument("after", type=Path, metavar="DIR_B", help="the later run (folder or results.json)")
    cp.add_argument("--html", type=Path, metavar="FILE", help="where to write the HTML (default DIR_B/compare.html)")
    rl = sub.add_parser(
        "replay",
        help="run one scenario x client of a run again and say if the verdicts agree",
        description="Run one recorded scenario x client again with the same seed, options and "
        "schedule; say first if installed versions differ, then whether the verdicts agree.",
    )
    rl.add_argument(
        "bundle", type=Path, metavar="FOLDER", help="a run's work/<scenario>--<client> folder (or its replay.json)"
    )
    rl.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports/runs/<time>-replay)")
    rl.add_argument(
        "--force",
        "--overwrite",
        action="store_true",
        help="write into an --out folder that holds an earlier run's results.json (default: refuse)",
    )
    st = sub.add_parser(
        "stability",
        help="run scenarios N times back to back and report any verdict that flipped",
        description="Run the scenarios N times back to back (or compare runs made already with "
        "--analyze) and report every verdict that flipped and every timing whose spread across runs "
        "is wider than its tolerance band. Exit 1 when anything flipped.",
    )
    st.add_argument("times", nargs="?", type=int, metavar="N", help="how many runs")
    st.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario names or patterns (default: all)")
    st.add_argument("--client", action="append", metavar="NAME", help="client library (repeatable)")
    st.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="jobs per run (as harness run --jobs)")
    st.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports/runs/<time>-stability)")
    st.add_argument("--analyze", nargs="+", type=Path, metavar="DIR", help="compare these runs instead of running")
    c = sub.add_parser("compose", help="generate compose.yaml and compose/ from the topology")
    c.add_argument("--write", action="store_true", help="write the files (default: print compose.yaml)")
    b = sub.add_parser(
        "baseline",
        help="print baseline entries for the deviations in a results folder",
        description="Print [[deviation]] entries for scenarios/baseline.toml, evidence filled "
        "from the run, to review before committing.",
    )
    b.add_argument("results", type=Path, metavar="DIR", help="a folder holding results.json (or the file)")
    return p


def _default_out(kind: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return paths.REPORTS / "runs" / f"{stamp}-{kind + '-' if kind else ''}{uuid.uuid4().hex[:6]}"


def _write_report(res: dict, out: Path) -> Path | None:
    """The HTML report and Markdown summary beside results.json; a failure here is
    reported in one line and does not lose the results."""
    try:
        from harness import report

        html, _ = report.write(res, out)
    except Exception as e:  # the results are written already; say what went wrong
        print(f"harness: could not write the report: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    return html


def _output_folder(out: Path, res: dict, force: bool) -> None:
    """Make the output folder and write its first results.json (no entries, incomplete),
    so an unwritable folder fails here, before any server starts. An earlier run's
    results are not overwritten unless asked to."""
    if (out / results.FILENAME).exists() and not force:
        raise UsageError(f"{out} holds an earlier run's {results.FILENAME}", "give another --out, or add --force")
    try:
        out.mkdir(parents=True, exist_ok=True)
        results.write(res, out)
    except OSError as e:
        raise UsageError(f"cannot use {out} as the output folder: {e.strerror or e}") from None


def _link_latest(out: Path) -> None:
    latest = paths.REPORTS / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.resolve())


def _say(line: str) -> None:
    print(f"harness: {line}", file=sys.stderr, flush=True)


def _pairs(args: argparse.Namespace) -> list:
    from harness.drivers import registry
    from harness.scenario import load_all, select

    if args.pairs_file:  # a job of --jobs: exactly these pairs
        known = load_all()
        try:
            listed = json.loads(args.pairs_file.read_text())
            return [(known[sc], registry.get(cl)) for sc, cl in listed]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"unreadable pairs file {args.pairs_file}: {e}") from None
    if not args.scenarios:
        raise UsageError("name at least one scenario", "e.g. harness run 'nats.*'; see `harness list`")
    if args.app is not None:
        return _app_pairs(args)
    # A client at another version (NAME@VERSION) is installed now, once, before any job starts.
    specs = [registry.get(c).installed_at_version(_say) for c in args.client] if args.client else None
    if specs is None:  # every client; one whose toolchain the set-up lacked is left out, said once
        specs = [s for s in registry.all_drivers().values() if not registry.unavailable(s)]
        for left_out in sorted({r for s in registry.all_drivers().values() if (r := registry.unavailable(s))}):
            _say(f"left out: {left_out}")
    pairs = []
    for sc in select(args.scenarios):
        for spec in specs:
            if spec.family == sc.family:
                pairs.append((sc, spec))
    if not pairs:
        raise UsageError(
            "no scenario matches the chosen clients", "a NATS scenario needs a NATS client; see `harness list`"
        )
    return pairs


def _app_pairs(args: argparse.Namespace) -> list:
    """With --app: each scenario once, its other actors (witnesses) driven by the first
    driver of its family; every placeholder checked against its topology now."""
    from harness.drivers import registry
    from harness.drivers.app import AppSpec
    from harness.scenario import select
    from harness.topology import get as get_topology

    for flag, given in (("--client", args.client), ("--options", args.options), ("--pairs-file", args.pairs_file)):
        if given:
            raise UsageError(f"--app cannot be combined with {flag}", "the program given with --app is the client")
    app = AppSpec.parse(args.app)
    pairs = []
    for sc in select(args.scenarios):
        app.check(get_topology(sc.topology))
        pairs.append((sc, registry.of_family(sc.family)[0]))
    args.app_spec = app
    return pairs


def _jobs(text: str) -> tuple[bool, int]:
    """--jobs: (auto?, how many at most); a count below 1 or another word is one line."""
    from harness import admission

    word = str(text).strip().lower()
    if word == "auto":
        return True, admission.ceiling(admission.cores())
    try:
        n = int(word)
    except ValueError:
        raise UsageError(f"--jobs must be a number of jobs or auto, not {text!r}") from None
    if n < 1:
        raise UsageError(f"--jobs must be at least 1 (or auto), not {n}")
    return False, n


def _fed(pairs: list) -> Iterator:
    """A job of --jobs auto: the pairs whose indexes the parent writes to stdin, until it closes it."""
    for line in iter(sys.stdin.readline, ""):
        try:
            yield pairs[int(line)]
        except (ValueError, IndexError):
            raise UsageError(f"--pairs-stdin: not an index of the pairs file: {line.strip()!r}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from harness import admission, parallel
    from harness.drivers import registry
    from harness.runner import TopologyPool, run_pairs

    backends.check(args.backend)
    auto, jobs = _jobs(args.jobs)
    if args.pairs_file:  # a job of --jobs runs its pairs one after another
        auto, jobs = False, 1
    shard = shards.parse(args.shard) if args.shard else None
    cost = shards.load_durations(args.durations) if args.durations else None
    pairs = _pairs(args)
    matrix = len(pairs)
    if shard:
        pairs = shards.select(pairs, lambda p: (p[0].name, p[1].name), shard, cost or {})
    if args.connections is not None and args.connections < 1:
        raise UsageError(f"--connections must be at least 1, not {args.connections}")
    for family in sorted({sc.family for sc, _ in pairs if sc.storm}):
        limits.check_connections(args.connections or limits.default_connections(family))
    # Fails early, before any server starts, if a driver is missing or an option bad.
    types = {spec.name: registry.option_types(spec) for spec in sorted({s for _, s in pairs}, key=lambda s: s.name)}
    user_options = options.load(args.options, types) if args.options else {}
    app = getattr(args, "app_spec", None)

    procs.reap_orphans()
    out = args.out or _default_out()
    res = results.new(args.backend, args.seed)
    res["run"]["options"] = user_options
    if app:
        res["run"]["app"] = app.command
    if shard:
        res["run"]["shard"] = shards.label(shard)
    # A job of --jobs writes into the folder the parent made for it.
    _output_folder(out, res, args.force or bool(args.pairs_file))
    total = len(pairs)
    # One program at a time: a user's program may hold ports or files of its own.
    jobs = 1 if app else min(jobs, total)
    auto = auto and jobs > 1
    if not args.pairs_file:
        how = f"in {jobs} jobs" if jobs > 1 else "one after another"
        if auto:
            how = (
                f"in {admission.initial(admission.cores(), total)} jobs to start, up to {jobs} while the "
                "measured timing noise allows"
            )
        count = f"{total} of {matrix}" if shard else str(total)
        of = f" (shard {shards.label(shard)})" if shard else ""
        print(
            f"Running {count} scenario x client pairs{of} on the {args.backend} backend, {how}; output in {out}",
            flush=True,
        )

    progress = Progress(total)

    def on_start(i: int, sc, spec) -> None:
        progress.started(f"{sc.name} / {'app' if app else spec.name}")

    def on_entry(i: int, entry: dict) -> None:
        res["entries"].append(entry)
        results.write(res, out)
        took = (entry["ended_ns"] - entry["started_ns"]) / 1e9 if entry["ended_ns"] else 0
        progress.finished(f"{entry['scenario']} / {entry['client']}", f"{terminal.entry_line(entry)} ({took:.1f}s)")

    complete = False
    pool = TopologyPool(args.backend, out / "work")
    try:
        if jobs > 1:
            # Every entry's folder under this run's work/, whichever job ran it (harness replay OUT/work/...).
            base = ["--backend", args.backend, "--seed", str(args.seed), "--entries-dir", str(out / "work")]
            if args.options:
                base += ["--options", str(args.options)]
            if args.connections is not None:
                base += ["--connections", str(args.connections)]
            if cost is None:
                cost = parallel.previous_durations(paths.REPORTS)
            if auto:
                complete = parallel.run_auto(pairs, out, base, res, cost, progress)
            else:
                complete = parallel.run(pairs, jobs, out, base, res, cost, progress)
        else:
            todo = _fed(pairs) if args.pairs_stdin else pairs
            work = args.entries_dir or out / "work"
            run_pairs(
                todo, pool, work, args.seed, on_entry, user_options, on_start, app=app, connections=args.connections
            )
            complete = True
    finally:
        progress.close()
        pool.close()
        results.finish(res, complete)
        results.write(res, out)
        if not args.out:
            _link_latest(out)
        if res["entries"] and not args.pairs_file:
            print()
            print(terminal.render(res))
            report_path = _write_report(res, out)
            if report_path:
                latest = paths.REPORTS / "latest" / report_path.name
                print(f"Report: {latest if not args.out else report_path}")
        if not args.pairs_file:
            print(f"Results: {out / results.FILENAME}", flush=True)
    errors = [e for e in res["entries"] if e["status"] == "error"]
    if errors and not args.pairs_file:
        print(
            f"harness: {len(errors)} of {total} runs hit an environment error; first: {errors[0]['error']}",
            file=sys.stderr,
        )
    return 3 if any(e["status"] != "ok" for e in res["entries"]) else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from harness import merge

    parts = merge.load(args.shards)
    res = merge.merge(parts)
    out = args.out or _default_out("merge")
    _output_folder(out, res, args.force)
    for line in merge.gaps(parts):
        print(f"harness: {line}", file=sys.stderr)
    junit = merge.write_junit(res, out, args.baseline)
    print(terminal.render(res))
    report_path = _write_report(res, out)
    print(f"Merged {len(parts)} shards, {len(res['entries'])} entries: {out / results.FILENAME}")
    if report_path:
        print(f"Report: {report_path}, JUnit: {junit}")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from harness.install import tools

    return tools.command(args.with_compose)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.drivers import registry
    from harness.scenario import load_all
    from harness.topology import registry as topologies

    print("Scenarios:")
    for name, sc in sorted(load_all().items()):
        print(f"  {name:<36} [{sc.family}, {sc.topology}] {sc.description}")
        if args.verbose:
            print(f"  {'':<36} checks: {', '.join(sc.checks)}")
    print("Clients:")
    for name, spec in registry.all_drivers().items():
        print(f"  {name:<36} [{spec.family}, {spec.language}]")
    print("Topologies:")
    for name, topo in topologies().items():
        print(f"  {name:<36} {topo.description}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from harness import standing, standing_faults
    from harness.backends.local import LocalTopology
    from harness.topology import get

    topo = get(args.topology)
    name = standing.check_name(args.name or topo.name)
    workdir = paths.REPORTS / "up" / name
    with standing.claimed(name):
        live = LocalTopology.up(topo, workdir, detached=True, name=name)
        standing_faults.forget(live)
        info = live.detach()
    print(f"{name} is up ({topo.name}: {topo.description}); logs and configs in {workdir}")
    print(f"  toxiproxy API  http://{live.addrs.host}:{live.addrs.api}")
    for link, url in info["urls"].items():
        print(f"  {link:<14} {url}")
    for cert, path in (info.get("certs") or {}).items():
        print(f"  {cert:<14} {path}")
    print(f"See it with `harness status {name}`, fault it with `harness fault {name} KIND TARGET`.")
    print(f"Stop it with `harness down {name}`.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from harness import ports, standing

    if args.name:
        count = standing.stop(standing.check_name(args.name))
        print(f"Stopped {args.name}: {count} process(es).")
        return 0
    records = procs.detached_records()
    reaped = procs.reap_orphans(include_detached=True)
    for rec in records:
        ports.release(rec.get("info", {}).get("ports", []))

    from harness.backends import compose

    projects = compose.reap_projects()
    ports.release_stale()
    print(f"Stopped {len(reaped)} process(es)" + (f": {', '.join(reaped)}" if reaped else "") + ".")
    if projects:
        print(f"Took down {len(projects)} Compose project(s) of runs that are gone: {', '.join(projects)}.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from harness import standing, standing_faults

    names = [standing.check_name(args.name)] if args.name else standing.names()
    shown = []
    for name in names:
        live = standing.adopt(name)
        log = standing_faults.path(live)
        shown.append(
            {
                **standing.status(live),
                "faults_on": standing_faults.faults_on(log),
                "fault_log": standing_faults.history(log),
            }
        )
    if args.json:
        print(json.dumps({"topologies": shown}, indent=1))
    elif not shown:
        print("No topology started by `harness up` is running.")
    else:
        print(
            "\n\n".join(
                standing.render(st, st["faults_on"], standing_faults.render_history(st["fault_log"])) for st in shown
            )
        )
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    from harness import standing, standing_faults

    live = standing.adopt(standing.check_name(args.name))
    log = standing_faults.path(live)
    if args.kind == "heal":
        if args.params:
            raise UsageError(f"heal takes at most one TARGET, not {' '.join([args.target, *args.params])}")
        healed = standing_faults.heal(live, args.target)
        for line in healed:
            print(f"Healed #{line['id']} {line['kind']} on {line['target']} (confirmed).")
        if not healed:
            print(f"No fault is on {args.target or args.name}.")
        print(f"Fault log: {log}")
        return 0
    if not args.target:
        raise UsageError(f"fault {args.kind} needs a TARGET", f"see `harness status {args.name}` for its links")
    line = standing_faults.apply(live, args.kind, args.target, standing_faults.parse_params(args.params, args.kind))
    took = (line["applied_ns"] - line["start_ns"]) / 1e6
    state = "left on" if line["lasting"] else "over once applied"
    print(f"Applied #{line['id']} {line['kind']} on {line['target']} (confirmed in {took:.1f} ms; {state}).")
    if line["lasting"]:
        print(f"Heal it with `harness fault {args.name} heal {args.target}`. Fault log: {log}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness import report, standing_faults

    log = args.results / standing_faults.FILENAME
    if args.results.is_dir() and not (args.results / results.FILENAME).exists() and log.is_file():
        # The folder of a topology `harness up` ran: what was done to it, and when.
        try:
            rows = standing_faults.history(log)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise UsageError(f"{log} is not a fault log the harness wrote: {type(e).__name__}: {e}") from None
        print(f"Fault log of {args.results} ({len(rows)} actions, {log}):")
        for line in standing_faults.render_history(rows):
            print(f"  {line}")
        return 0
    res = results.load(args.results)
    folder = args.results if args.results.is_dir() else args.results.parent
    started = time.monotonic()
    try:
        html, md = report.write(res, folder, self_contained=args.self_contained)
    except OSError as e:
        raise UsageError(f"cannot write the report {e.filename or folder}: {e.strerror or e}") from None
    took = time.monotonic() - started
    size = html.stat().st_size
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
    print(f"Report: {html} ({shown}), summary: {md} (written in {took:.1f}s)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report import compare

    a, b = compare.load_pair(args.before, args.after)
    c = compare.compare(a, b)
    print(compare.render_text(c))
    html = args.html or (args.after if args.after.is_dir() else args.after.parent) / "compare.html"
    try:
        html.write_text(compare.render_html(c))
    except OSError as e:
        raise UsageError(f"cannot write {html}: {e.strerror or e}") from None
    print(f"Comparison: {html}")
    return 1 if compare.gates(c) else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from harness import replay
    from harness.drivers import registry
    from harness.runner import TopologyPool, run_entry
    from harness.scenario import load_all

    data = replay.load(args.bundle)
    scenarios = load_all()
    if data["scenario"] not in scenarios:
        raise UsageError(f"the recorded scenario {data['scenario']!r} no longer exists", "see `harness list`")
    sc, spec = scenarios[data["scenario"]], registry.get(data["client"]).installed_at_version(_say)
    backends.check(data["backend"])
    differ = replay.version_differences(data)
    if differ:
        print(f"Installed versions differ from the recorded run: {'; '.join(differ)}", flush=True)
    for a in data["actors"].values():
        if isinstance(a, dict) and isinstance(a.get("connections"), int):
            limits.check_connections(a["connections"])
    procs.reap_orphans()
    out = args.out or _default_out("replay")
    res = results.new(data["backend"], data["seed"])
    res["run"]["options"] = data["options"]
    _output_folder(out, res, args.force)
    key = f"{sc.name} / {spec.name}"
    print(f"Replaying {key} with seed {data['seed']}; output in {out}", flush=True)
    progress = Progress(1)
    pool = TopologyPool(data["backend"], out / "work")
    entry = None
    try:
        progress.started(key)
        # A storm ran with the connection count its actors recorded.
        counts = [a["connections"] for a in data["actors"].values() if isinstance(a, dict) and "connections" in a]
        work = out / "work" / f"{sc.name}--{spec.name}"
        entry = run_entry(
            sc, spec, pool, work, data["seed"], data["options"], connections=counts[0] if counts else None
        )
        progress.finished(key, terminal.entry_line(entry))
    finally:
        progress.close()
        pool.close()
        res["entries"] = [entry] if entry else []
        results.finish(res, entry is not None and entry["status"] != "interrupted")
        results.write(res, out)
    if entry["status"] == "interrupted":
        raise interruption(entry["error"])
    _write_report(res, out)
    changed = replay.agreement(data, entry)
    if changed:
        print("Verdicts differ from the recorded run:")
        for line in changed:
            print(f"  {line}")
        return 1
    print(f"Verdicts agree with the recorded run ({len(data['verdicts'])} checks). Results: {out / results.FILENAME}")
    return 0


def cmd_stability(args: argparse.Namespace) -> int:
    from harness import stability

    if args.analyze:
        runs = [results.load(d) for d in args.analyze]
        out = args.out
    else:
        if not args.times or args.times < 2:
            raise UsageError("say how many runs (at least 2), e.g. harness stability 5 'nats.*'")
        out = args.out or _default_out("stability")
        _writable(out)
        patterns = args.scenarios or ["*"]
        extra = [f"--client={c}" for c in args.client or []] + ["--jobs", str(args.jobs)]
        runs = []
        for i in range(1, args.times + 1):
            started = time.monotonic()
            print(f"[run {i}/{args.times}] started", flush=True)
            log = out / f"run-{i}.log"
            with open(log, "w") as f:
                rc = subprocess.run(
                    [sys.executable, "-m", "harness.cli", "run", *patterns, *extra, "--out", str(out / f"run-{i}")],
                    stdout=f,
                    stderr=subprocess.STDOUT,
                ).returncode
            if rc in (2, 130, 143):
                raise UsageError(f"run {i} stopped (exit {rc})", f"see {log}")
            res = results.load(out / f"run-{i}")
            runs.append(res)
            errors = sum(1 for e in res["entries"] if e["status"] != "ok")
            print(
                f"[run {i}/{args.times}] done in {time.monotonic() - started:.0f}s: {len(res['entries'])} entries"
                + (f", {errors} with harness errors" if errors else ""),
                flush=True,
            )
    a = stability.analyze(runs)
    text = stability.render_text(a)
    print(text)
    if out:
        _writable(out)
        try:
            (out / "stability.json").write_text(json.dumps(a, indent=1))
            (out / "stability.txt").write_text(text + "\n")
        except OSError as e:
            raise UsageError(f"cannot write the stability report into {out}: {e.strerror or e}") from None
        print(f"Stability report: {out / 'stability.txt'}")
    return 1 if a["flips"] or a["status_flips"] else 0


def _writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot use {out} as the output folder: {e.strerror or e}") from None


def cmd_compose(args: argparse.Namespace) -> int:
    from harness import compose_file

    if args.write:
        for path in compose_file.write():
            print(f"wrote {path.relative_to(paths.ROOT)}")
    else:
        print(compose_file.render()["compose.yaml"], end="")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from harness import baseline

    print(baseline.toml_for(results.load(args.results)["entries"]), end="")
    return 0


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM takes the same path as Ctrl-C (tear down, write what was gathered),
    # naming the signal in the entry, the message and the exit code.
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A harness started from a non-interactive shell in the background inherits
    # SIGINT ignored; Ctrl-C (or a parent passing it on) must still stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        commands = {
            "run": cmd_run,
            "merge": cmd_merge,
            "setup": cmd_setup,
            "list": cmd_list,
            "up": cmd_up,
            "down": cmd_down,
            "status": cmd_status,
            "fault": cmd_fault,
            "compose": cmd_compose,
            "baseline": cmd_baseline,
            "report": cmd_report,
            "compare": cmd_compare,
            "replay": cmd_replay,
            "stability": cmd_stability,
        }
        return commands[args.cmd](args)
    except HarnessError as e:
        # One line, also when it quotes a path or value with a line break in it.
        print(f"harness: {' '.join(e.line().splitlines())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        what = e.reason if isinstance(e, Stopped) else "interrupted"
        print(f"harness: {what}; everything it started has been stopped", file=sys.stderr)
        return stop_exit_code(e)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 1
    except OSError as e:
        # The last resort for a file the system refused (read-only, full, a folder
        # where a file should be): still one line, never a traceback.
        where = f"{e.filename}: " if e.filename else ""
        print(f"harness: {where}{e.strerror or e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
