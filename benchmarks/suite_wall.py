"""How close a run comes to its floor, and what running side by side costs in verdicts.

Runs `harness run SELECTION --jobs J` once per jobs setting (a serial run first:
the reference), each into its own folder, and prints per setting: the wall time;
the floor (the longest single pair of the serial run: no schedule can finish
sooner); the sum of every pair's own time in the serial run (its intrinsic
waits: the scenarios mostly wait on real reconnect schedules); wall / floor; the
checks whose verdict differs from the serial run's; the timing checks lost to
noise (outcome.run_noise) and the worst noise budget; and the entries that hit a
harness error.

    .venv/bin/python benchmarks/suite_wall.py 'nats.single.no-*' --client nats-go --jobs 1,2,auto
    .venv/bin/python benchmarks/suite_wall.py 'nats.*' 'amqp.*' --jobs 1,4,8,16,auto --out /tmp/wall
    .venv/bin/python benchmarks/suite_wall.py --analyze /tmp/wall    # the table again, nothing run
    .venv/bin/python benchmarks/suite_wall.py 'nats.*' 'amqp.*' --jobs 4,auto --reference /tmp/wall --out /tmp/wall2
    .venv/bin/python benchmarks/suite_wall.py 'nats.*' 'amqp.*' --jobs auto --cpu-hog --reference /tmp/wall --out /tmp/h

The whole suite takes hours this way (the serial run alone is the sum of its
pairs); on a shared machine, try a few short scenarios first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hog import cpu_hog  # benchmarks/, this script's folder

from harness import results, shards
from harness.errors import UsageError
from harness.judging import outcome

SERIAL = "1"
WALL_FILE = "wall.json"  # {jobs setting: wall seconds}, beside the runs' folders


def run_setting(patterns: list[str], clients: list[str], jobs: str, out: Path, durations: Path | None) -> float:
    """Wall seconds of one `harness run` into `out` (its output kept in out.log)."""
    argv = [sys.executable, "-m", "harness", "run", *patterns, "--jobs", jobs, "--out", str(out), "--force"]
    argv += [f"--client={c}" for c in clients]
    if durations is not None:  # balanced by the serial run's times, as a later run would be
        argv += ["--durations", str(durations)]
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(out.parent / f"{out.name}.log", "w") as log:
        rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    wall = time.monotonic() - started
    if rc not in (0, 3):  # 3: some entry hit an environment error, counted below
        raise SystemExit(f"suite_wall: harness run --jobs {jobs} exited {rc}; see {out.parent / out.name}.log")
    return wall


def verdicts(res: dict) -> dict[tuple[str, str, str], str]:
    """(scenario, client, check) -> verdict; an entry that failed counts as its outcome."""
    out = {}
    for e in res["entries"]:
        if not e["checks"]:
            out[(e["scenario"], e["client"], "(entry)")] = e["outcome"]["result"]
        for c in e["checks"]:
            out[(e["scenario"], e["client"], c["id"])] = c["verdict"]
    return out


def differences(reference: dict, other: dict) -> list[str]:
    """Checks whose verdict differs from the reference run's (or that only one run has)."""
    a, b = verdicts(reference), verdicts(other)
    return [
        f"{s} / {c} / {k}: {a.get((s, c, k), 'absent')} -> {b.get((s, c, k), 'absent')}"
        for s, c, k in sorted(set(a) | set(b))
        if a.get((s, c, k)) != b.get((s, c, k))
    ]


def row(jobs: str, wall_s: float, reference: dict, res: dict) -> dict:
    pair_s = shards.durations(reference)
    floor = max(pair_s.values(), default=0.0)
    loaded = outcome.run_noise(res["entries"])
    return {
        "jobs": jobs,
        "wall_s": wall_s,
        "floor_s": floor,
        "pairs_sum_s": sum(pair_s.values()),
        "ratio": wall_s / floor if floor else None,
        "differ": differences(reference, res),
        "checks": len(verdicts(res)),
        "noise": loaded["noise"],
        "timing": loaded["timing"],
        "noise_max_ms": loaded["max_ms"],
        "too_loaded": loaded["too_loaded"],
        "errors": sum(1 for e in res["entries"] if e["status"] == "error"),
        "entries": len(res["entries"]),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| jobs | wall s | floor s | sum of pair times s | wall / floor | verdicts differing from serial "
        "| not-measured for noise | worst noise ms | errors |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        worst = f"{r['noise_max_ms']:g}" if r["noise_max_ms"] is not None else "-"
        loaded = " (too loaded)" if r["too_loaded"] else ""
        lines.append(
            f"| {r['jobs']} | {r['wall_s']:.1f} | {r['floor_s']:.1f} | {r['pairs_sum_s']:.1f} | {ratio} "
            f"| {len(r['differ'])} of {r['checks']} | {r['noise']} of {r['timing']} timing{loaded} | {worst} "
            f"| {r['errors']} of {r['entries']} |"
        )
    for r in rows:
        for d in r["differ"]:
            lines.append(f"  jobs {r['jobs']}: {d}")
    return "\n".join(lines)


def analyze(out: Path) -> list[dict]:
    """The rows of the runs in `out`, the serial one as the reference."""
    try:
        walls = json.loads((out / WALL_FILE).read_text())
        reference = results.load(out / f"jobs-{SERIAL}")
    except (OSError, ValueError) as e:
        raise SystemExit(f"suite_wall: {out} holds no benchmark runs ({e})") from None
    return [row(jobs, wall, reference, results.load(out / f"jobs-{jobs}")) for jobs, wall in walls.items()]


def settings(text: str) -> list[str]:
    """'4,auto,1' -> ['1', '4', 'auto']: the serial reference first, each setting once."""
    out = [SERIAL]
    for word in (w.strip().lower() for w in text.split(",")):
        if word != "auto" and not (word.isdigit() and int(word) >= 1):
            raise SystemExit(f"suite_wall: --jobs takes numbers of at least 1 and auto, not {word!r}")
        if word not in out:
            out.append(word)
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="the selection, as harness run takes it")
    p.add_argument("--client", action="append", default=[], help="as harness run --client (repeatable)")
    p.add_argument("--jobs", default="1,4,8,16,auto", help="jobs settings, comma-separated (default 1,4,8,16,auto)")
    p.add_argument("--out", type=Path, help="where the runs go (default: a new temporary folder)")
    p.add_argument("--analyze", type=Path, metavar="DIR", help="print the table of an earlier benchmark's runs")
    p.add_argument(
        "--cpu-hog",
        action="store_true",
        help="a busy loop per core during every setting but the serial reference (rows labelled N+hog)",
    )
    p.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="an earlier benchmark of the same selection whose serial run is the reference (none is run)",
    )
    args = p.parse_args(argv)
    if args.analyze:
        print(table(analyze(args.analyze)))
        return
    if not args.scenarios:
        raise SystemExit("suite_wall: name a selection, e.g. 'nats.single.no-*'")
    todo = settings(args.jobs)
    out = args.out or Path(tempfile.mkdtemp(prefix="suite-wall-"))
    walls: dict[str, float] = {}
    if args.reference:  # its serial run stands for this one's: linked, with its wall time
        try:
            walls[SERIAL] = json.loads((args.reference / WALL_FILE).read_text())[SERIAL]
            results.load(args.reference / f"jobs-{SERIAL}")
        except (OSError, ValueError, KeyError, UsageError) as e:
            raise SystemExit(f"suite_wall: {args.reference} holds no serial run ({e})") from None
        out.mkdir(parents=True, exist_ok=True)
        link = out / f"jobs-{SERIAL}"
        if not link.exists():
            link.symlink_to((args.reference / f"jobs-{SERIAL}").resolve())
        (out / WALL_FILE).write_text(json.dumps(walls))
        todo.remove(SERIAL)
    for jobs in todo:
        durations = out / f"jobs-{SERIAL}" if jobs != SERIAL else None
        hog = args.cpu_hog and jobs != SERIAL  # the reference is always a quiet run
        label = f"{jobs}+hog" if hog else jobs
        with cpu_hog(hog):
            walls[label] = run_setting(args.scenarios, args.client, jobs, out / f"jobs-{label}", durations)
        (out / WALL_FILE).write_text(json.dumps(walls))
        print(f"jobs {label}: {walls[label]:.1f} s", flush=True)
    print(f"Runs in {out}")
    print(table(analyze(out)))


if __name__ == "__main__":
    main(sys.argv[1:])
