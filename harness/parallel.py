"""`harness run --jobs N`: the scenario x client pairs shared out over N harness
processes, each with its own topologies, merged back into one results.json.

Each job is a plain `harness run` of the pairs it was given (an internal
--pairs-file), writing to OUT/jobs/<n>. Its progress lines are relayed under one
running count. Ctrl-C reaches only this process (jobs run in their own session),
so it is passed on (the same signal: a job handles SIGINT and SIGTERM alike, and
records which), and every job still writes what it gathered.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from harness import procs, results, shards
from harness.drivers.registry import DriverSpec
from harness.errors import Stopped
from harness.progress import DONE, STARTED, Progress
from harness.scenario import Scenario


def previous_durations(out_root: Path) -> dict[tuple[str, str], float]:
    """Seconds each pair took in the latest run, to balance the jobs (none: all equal)."""
    # A hint only: anything unreadable or malformed balances the jobs evenly.
    try:
        return shards.durations(json.loads((out_root / "latest" / results.FILENAME).read_text()))
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return {}


def split(pairs: list[tuple[Scenario, DriverSpec]], jobs: int, cost: dict[tuple[str, str], float]) -> list[list[int]]:
    """Indexes of `pairs` per job (as shards are balanced), jobs left empty dropped."""
    groups = shards.balance([(sc.name, spec.name) for sc, spec in pairs], jobs, cost)
    return [g for g in groups if g]


def run(
    pairs: list[tuple[Scenario, DriverSpec]],
    jobs: int,
    out: Path,
    base_args: list[str],
    res: dict,
    cost: dict[tuple[str, str], float],
    progress: Progress,
) -> bool:
    """Run the pairs in `jobs` processes; fill res["entries"] in the pairs' order,
    rewriting OUT/results.json (incomplete) each time a job finishes an entry, so a
    killed run leaves what was done. True if every job finished its pairs."""
    groups = split(pairs, jobs, cost)
    total = len(pairs)
    children: list[tuple[procs.Proc, Path]] = []
    for n, group in enumerate(groups, 1):
        jdir = out / "jobs" / str(n)
        jdir.mkdir(parents=True, exist_ok=True)
        pf = jdir / "pairs.json"
        pf.write_text(json.dumps([[pairs[i][0].name, pairs[i][1].name] for i in group]))
        argv = [sys.executable, "-m", "harness.cli", "run", "--pairs-file", str(pf), "--out", str(jdir), *base_args]
        child = procs.spawn(f"harness job {n}", argv, log=jdir / "job.stderr", stdout=subprocess.PIPE)
        children.append((child, jdir))

    lock = threading.Lock()

    def gather() -> bool:
        """res["entries"] from every job's results.json; True if every job says complete."""
        by_pair: dict[tuple[str, str], dict] = {}
        complete = True
        for _, jdir in children:
            try:
                part = results.load(jdir)
            except Exception:
                complete = False
                continue
            complete &= part["complete"]
            for e in part["entries"]:
                by_pair[(e["scenario"], e["client"])] = e
        res["entries"] = [by_pair[(sc.name, sp.name)] for sc, sp in pairs if (sc.name, sp.name) in by_pair]
        return complete

    def relay(child: procs.Proc) -> None:
        assert child.popen.stdout is not None
        for raw in iter(child.popen.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if m := STARTED.match(line):
                progress.started(m["key"])
            elif m := DONE.match(line):
                progress.finished(m["key"], m["text"])
                with lock:  # the job wrote its results.json before saying so
                    gather()
                    results.write(res, out)

    readers = [threading.Thread(target=relay, args=(c,), daemon=True) for c, _ in children]
    for t in readers:
        t.start()
    try:
        for c, _ in children:
            c.popen.wait()
    except KeyboardInterrupt as e:
        # Each job is stopped by the signal that stopped this process (cli._terminate),
        # so its entries record the same reason.
        for c, _ in children:
            c.signal(e.signum if isinstance(e, Stopped) else signal.SIGINT)
        for c, _ in children:
            try:
                c.popen.wait(60)
            except subprocess.TimeoutExpired:
                c.stop(grace=1)
        raise
    finally:
        for t in readers:
            t.join(5)
        for c, _ in children:
            procs.forget(c)
        with lock:
            complete = gather()
    return complete and len(res["entries"]) == total
