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
    into `res` (rewriting OUT/results.json, incomplete, as entries finish)."""

    def __init__(
        self, pairs: list[tuple[Scenario, DriverSpec]], out: Path, base_args: list[str], res: dict, progress: Progress
    ) -> None:
        self.pairs, self.out, self.base_args, self.res, self.progress = pairs, out, base_args, res, progress
        self.children: list[tuple[procs.Proc, Path]] = []
        self.readers: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.parts: dict[Path, dict] = {}  # each job's results, as last read
        self.closed = False  # after close(), the caller writes the final file
        self.written_ns = self.write_cost_ns = 0

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
        t = threading.Thread(target=self._relay, args=(child, jdir, on_done), daemon=True)
        self.readers.append(t)
        t.start()
        return child

    def gather(self, only: Path | None = None) -> bool:
        """res["entries"] from the jobs' results.json (re-reading only job folder `only`
        when given: the others have not changed); True if every job says complete."""
        for _, jdir in list(self.children):
            if only is None or jdir == only:
                try:
                    self.parts[jdir] = results.load(jdir)
                except Exception:
                    self.parts.pop(jdir, None)
        by_pair: dict[tuple[str, str], dict] = {}
        complete = True
        for _, jdir in list(self.children):
            part = self.parts.get(jdir)
            if part is None:
                complete = False
                continue
            complete &= part["complete"]
            for e in part["entries"]:
                by_pair[(e["scenario"], e["client"])] = e
        self.res["entries"] = [by_pair[(sc.name, sp.name)] for sc, sp in self.pairs if (sc.name, sp.name) in by_pair]
        return complete

    def _checkpoint(self) -> None:
        """Rewrite OUT/results.json, unless the last rewrite was so recent that
        rewriting would take more than a tenth of the time: the file holds every
        event and grows to tens of MB, and rewriting it after every entry of a
        large run took a good share of a core. A killed run's jobs keep their own."""
        now = now_ns()
        if self.closed or now - self.written_ns < 10 * self.write_cost_ns:
            return
        results.write(self.res, self.out)
        self.written_ns = now_ns()
        self.write_cost_ns = self.written_ns - now

    def _relay(self, child: procs.Proc, jdir: Path, on_done: Callable[[procs.Proc, str | None], None]) -> None:
        assert child.popen.stdout is not None
        try:
            for raw in iter(child.popen.stdout.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if m := STARTED.match(line):
                    self.progress.started(m["key"])
                elif m := DONE.match(line):
                    self.progress.finished(m["key"], m["text"])
                    with self.lock:  # the job wrote its results.json before saying so
                        self.gather(only=jdir)
                        self._checkpoint()
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
        with self.lock:  # a reader still busy must not rewrite the file after the caller's final write
            self.closed = True
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
    rewriting OUT/results.json (incomplete) as jobs finish entries (_checkpoint), so a
    killed run leaves what was done. True if every job finished its pairs."""
    pool = _Jobs(pairs, out, base_args, res, progress)
    try:
        for group in split(pairs, jobs, cost):
            pool.spawn(group, lambda child, key: None)
        pool.wait()
    finally:
        complete = pool.close()
    return complete and len(res["entries"]) == len(pairs)


def _machine_probe(into: queue.Queue) -> procs.Proc:
    """`python -m harness.noise` beside the jobs; each second's p99 lateness (ms) put
    on `into` as (None, p99)."""
    probe = procs.spawn(
        "machine noise probe",
        [sys.executable, "-m", "harness.noise"],
        log=None,
        stdout=subprocess.PIPE,
    )

    def read() -> None:
        assert probe.popen.stdout is not None
        for raw in iter(probe.popen.stdout.readline, b""):
            try:
                into.put((None, float(json.loads(raw)["p99_ms"])))
            except (ValueError, KeyError, TypeError):
                continue

    threading.Thread(target=read, name="machine-probe", daemon=True).start()
    return probe


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
    job is free; more jobs admitted, or one shed, as admission.target() decides from
    the machine's noise, measured beside the jobs. Each job keeps its topologies up
    between pairs, as a job of --jobs N does."""
    n_cores = n_cores or admission.cores()
    keys = [(sc.name, spec.name) for sc, spec in pairs]
    pending = deque(shards.longest_first(keys, cost))
    pool = _Jobs(pairs, out, base_args, res, progress)
    # (a job, the entry it finished or None when its output ended), or (None, the
    # machine's p99 lateness of the last second).
    events: queue.Queue[tuple[procs.Proc | None, str | float | None]] = queue.Queue()
    # By pid (a Proc is not hashable): jobs whose output has not ended, and of
    # those, the ones still taking pairs.
    alive: dict[int, procs.Proc] = {}
    active: dict[int, procs.Proc] = {}
    machine: list[float] = []  # per-second p99 since the concurrency last changed
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

    probe = _machine_probe(events)
    try:
        admit()
        while alive:
            child, what = events.get()
            if child is None:
                assert isinstance(what, float)
                machine.append(what)
                now = admission.target(len(active), n_cores, machine)
                if now is not None and now != want and pending:
                    p99 = admission.machine_ms(machine)
                    progress.note(
                        f"{'admitting' if now > want else 'shedding'} a job: {now} of at most "
                        f"{admission.ceiling(n_cores)} (machine timer p99 {p99:.1f} ms over {admission.WINDOWS} s)"
                    )
                    want = now
                    machine.clear()
            elif what is None:  # its output ended: the job has exited
                alive.pop(child.popen.pid, None)
                active.pop(child.popen.pid, None)
            elif child.popen.pid in active:
                give(child)
            admit()
        pool.wait()
    except KeyboardInterrupt as e:
        pool.stop(e)
        raise
    finally:
        probe.stop(grace=1)
        complete = pool.close()
    return complete and len(res["entries"]) == len(pairs)
