"""`harness run --jobs N|auto`: the scenario x client pairs shared out over harness
processes, each with its own topologies, merged back into one results.json.

Each job is a plain `harness run` of the pairs it was given (an internal
--pairs-file), writing to OUT/jobs/<n>. With N, each job gets its share up front
(balanced as shards are); with auto, the parent hands out one pair at a time
(an internal --pairs-stdin) and decides how many jobs run (harness/admission.py).
Their progress lines are relayed under one running count. Ctrl-C reaches only
this process (jobs run in their own session), so it is passed on (the same
signal: a job handles SIGINT and SIGTERM alike, and records which), and every
job still writes what it gathered.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from harness import admission, procs, results, shards
from harness.clock import now_ns
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


class _Jobs:
    """Job processes of one run, their progress relayed and their results gathered
    into `res` (rewriting OUT/results.json, incomplete, as each entry finishes)."""

    def __init__(
        self, pairs: list[tuple[Scenario, DriverSpec]], out: Path, base_args: list[str], res: dict, progress: Progress
    ) -> None:
        self.pairs, self.out, self.base_args, self.res, self.progress = pairs, out, base_args, res, progress
        self.children: list[tuple[procs.Proc, Path]] = []
        self.readers: list[threading.Thread] = []
        self.lock = threading.Lock()

    def spawn(
        self, listed: list[int], on_done: Callable[[procs.Proc, str | None], None], fed: bool = False
    ) -> procs.Proc:
        """A job given the pairs `listed` (indexes); when `fed`, it runs only those whose
        index the parent writes to its stdin, one a line, until that closes.
        `on_done(child, key)` after each entry it finishes, `on_done(child, None)`
        when its output ends."""
        n = len(self.children) + 1
        jdir = self.out / "jobs" / str(n)
        jdir.mkdir(parents=True, exist_ok=True)
        pf = jdir / "pairs.json"
        pf.write_text(json.dumps([[self.pairs[i][0].name, self.pairs[i][1].name] for i in listed]))
        argv = [sys.executable, "-m", "harness.cli", "run", "--pairs-file", str(pf), "--out", str(jdir)]
        argv += ["--pairs-stdin", *self.base_args] if fed else self.base_args
        child = procs.spawn(
            f"harness job {n}",
            argv,
            log=jdir / "job.stderr",
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE if fed else subprocess.DEVNULL,
        )
        self.children.append((child, jdir))
        t = threading.Thread(target=self._relay, args=(child, on_done), daemon=True)
        self.readers.append(t)
        t.start()
        return child

    def gather(self) -> bool:
        """res["entries"] from every job's results.json; True if every job says complete."""
        by_pair: dict[tuple[str, str], dict] = {}
        complete = True
        for _, jdir in list(self.children):
            try:
                part = results.load(jdir)
            except Exception:
                complete = False
                continue
            complete &= part["complete"]
            for e in part["entries"]:
                by_pair[(e["scenario"], e["client"])] = e
        self.res["entries"] = [by_pair[(sc.name, sp.name)] for sc, sp in self.pairs if (sc.name, sp.name) in by_pair]
        return complete

    def _relay(self, child: procs.Proc, on_done: Callable[[procs.Proc, str | None], None]) -> None:
        assert child.popen.stdout is not None
        try:
            for raw in iter(child.popen.stdout.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if m := STARTED.match(line):
                    self.progress.started(m["key"])
                elif m := DONE.match(line):
                    self.progress.finished(m["key"], m["text"])
                    with self.lock:  # the job wrote its results.json before saying so
                        self.gather()
                        results.write(self.res, self.out)
                    on_done(child, m["key"])
        finally:
            on_done(child, None)

    def wait(self) -> None:
        """Until every job has ended; on Ctrl-C or SIGTERM each job is stopped by the
        same signal (cli._terminate), so its entries record the same reason."""
        try:
            for c, _ in list(self.children):
                c.popen.wait()
        except KeyboardInterrupt as e:
            self.stop(e)
            raise

    def stop(self, e: KeyboardInterrupt) -> None:
        for c, _ in self.children:
            if c.popen.poll() is None:
                c.signal(e.signum if isinstance(e, Stopped) else signal.SIGINT)
        for c, _ in self.children:
            try:
                c.popen.wait(60)
            except subprocess.TimeoutExpired:
                c.stop(grace=1)

    def close(self) -> bool:
        for c, _ in self.children:  # only after a harness bug: every job has ended otherwise
            if c.popen.poll() is None:
                c.stop(grace=5)
        for t in self.readers:
            t.join(5)
        for c, _ in self.children:
            procs.forget(c)
        with self.lock:
            return self.gather()


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
    pool = _Jobs(pairs, out, base_args, res, progress)
    try:
        for group in split(pairs, jobs, cost):
            pool.spawn(group, lambda child, key: None)
        pool.wait()
    finally:
        complete = pool.close()
    return complete and len(res["entries"]) == len(pairs)


def run_auto(
    pairs: list[tuple[Scenario, DriverSpec]],
    out: Path,
    base_args: list[str],
    res: dict,
    cost: dict[tuple[str, str], float],
    progress: Progress,
    n_cores: int | None = None,
) -> bool:
    """`--jobs auto`: the pairs handed out one at a time, longest first, to whichever
    job is free; more jobs admitted, or one shed, after each finished entry as
    admission.target() decides from the noise the entries measured. Each job keeps
    its topologies up between pairs, as a job of --jobs N does."""
    n_cores = n_cores or admission.cores()
    keys = [(sc.name, spec.name) for sc, spec in pairs]
    pending = deque(shards.longest_first(keys, cost))
    pool = _Jobs(pairs, out, base_args, res, progress)
    events: queue.Queue[tuple[procs.Proc, str | None]] = queue.Queue()
    # By pid (a Proc is not hashable): jobs whose output has not ended, and of
    # those, the ones still taking pairs.
    alive: dict[int, procs.Proc] = {}
    active: dict[int, procs.Proc] = {}
    since_ns = now_ns()  # entries that started after the concurrency last changed count
    want = admission.initial(n_cores, len(pairs))

    def give(child: procs.Proc) -> None:
        """The next pair to `child`, or, when none is left or it is shed, the end of its input."""
        stdin = child.popen.stdin
        assert stdin is not None
        try:
            if pending and len(active) <= want:
                stdin.write(f"{pending.popleft()}\n".encode())
                stdin.flush()
                return
            active.pop(child.popen.pid, None)
            stdin.close()
        except OSError:  # the job is gone: its reader says so
            active.pop(child.popen.pid, None)

    def admit() -> None:
        while len(active) < want and pending:
            child = pool.spawn(list(range(len(pairs))), lambda c, k: events.put((c, k)), fed=True)
            alive[child.popen.pid] = active[child.popen.pid] = child
            give(child)

    def recent() -> list[float]:
        with pool.lock:
            entries = list(res["entries"])
        return [e["noise"]["p99_ms"] for e in entries if e.get("noise") and e["started_ns"] >= since_ns]

    try:
        admit()
        while alive:
            child, key = events.get()
            if key is None:  # its output ended: the job has exited
                alive.pop(child.popen.pid, None)
                active.pop(child.popen.pid, None)
            elif child.popen.pid in active:
                now = admission.target(len(active), n_cores, recent())
                if now != want:
                    want, since_ns = now, now_ns()
                give(child)
            admit()
        pool.wait()
    except KeyboardInterrupt as e:
        pool.stop(e)
        raise
    finally:
        complete = pool.close()
    return complete and len(res["entries"]) == len(pairs)
