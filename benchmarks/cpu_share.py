"""Where a run's CPU goes: every process's CPU time sampled once a second, by kind.

Runs a command (or watches the machine for some seconds) and prints, per kind of
process (the harness's own Python, Artemis JVMs, nats-server, Toxiproxy, each
client driver, the noise probe, everything else), the CPU seconds it used and its
share, against the whole machine's CPU time from /proc/stat over the same time.
A process is charged what its utime + stime grew between samples, so one that
lives less than a second is missed; the "not seen" row is the machine's CPU time
that no sampled process accounts for.

    .venv/bin/python benchmarks/cpu_share.py -- .venv/bin/harness run 'nats.*' --client nats-go
    .venv/bin/python benchmarks/cpu_share.py --seconds 300     # whatever else runs now
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
# (kind, words that must all appear in the command line), first match wins.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("noise probe", ("harness.noise",)),
    ("Artemis JVM", ("java", "artemis")),
    ("client driver (JVM)", ("java",)),
    ("nats-server", ("nats-server",)),
    ("toxiproxy", ("toxiproxy",)),
    ("client driver (node)", ("node",)),
    ("client driver (python)", ("harness/drivers",)),
    ("harness (python)", ("python", "harness")),
    ("client driver (go, rust)", ("harness/drivers",)),
    ("client driver (go, rust)", (".tools",)),
]


def kind_of(cmdline: str) -> str:
    for kind, words in KINDS:
        if all(w in cmdline for w in words):
            return kind
    return "other"


def processes() -> dict[tuple[int, str], tuple[str, int]]:
    """(pid, start time) -> (kind, CPU ticks so far) of every process now."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # Fields after the command: state is [0], utime [11], stime [12], starttime [19].
        out[(int(d.name), stat[19])] = (kind_of(cmd), int(stat[11]) + int(stat[12]))
    return out


def machine_ticks() -> int:
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(x) for x in cpu[:3]) + sum(int(x) for x in cpu[5:8])  # user nice system irq softirq steal


def sample(done) -> tuple[dict[str, float], float, float]:
    """CPU seconds by kind, the machine's CPU seconds, and wall seconds, until done()."""
    seen = processes()
    base = {k: v[1] for k, v in seen.items()}
    used: dict[tuple[int, str], tuple[str, int]] = {}
    m0, t0 = machine_ticks(), time.monotonic()
    while not done():
        time.sleep(1)
        for key, (kind, ticks) in processes().items():
            used[key] = (kind, ticks - base.setdefault(key, 0))  # a new process: all of it
    by_kind: dict[str, float] = {}
    for kind, ticks in used.values():
        by_kind[kind] = by_kind.get(kind, 0.0) + ticks / TICK
    return by_kind, (machine_ticks() - m0) / TICK, time.monotonic() - t0


def table(by_kind: dict[str, float], machine_s: float, wall_s: float) -> str:
    rows = sorted(by_kind.items(), key=lambda kv: -kv[1])
    rows.append(("not seen", max(0.0, machine_s - sum(by_kind.values()))))
    lines = [
        f"{wall_s:.0f} s of wall time, {machine_s:.0f} s of CPU on {os.cpu_count()} cores "
        f"({machine_s / wall_s / (os.cpu_count() or 1):.0%} busy)",
        "",
        "| kind | CPU s | share |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} | {v / machine_s:.1%} |" for k, v in rows if machine_s]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if "--" in argv:
        argv, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    else:
        command = []
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, help="without a command: how long to watch")
    args = p.parse_args(argv)
    if bool(command) == (args.seconds is not None):
        raise SystemExit("cpu_share: give either a command after -- or --seconds N")
    if command:
        proc = subprocess.Popen(command)
        try:
            by_kind, machine_s, wall_s = sample(lambda: proc.poll() is not None)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise SystemExit(130) from None
    else:
        end = time.monotonic() + args.seconds
        by_kind, machine_s, wall_s = sample(lambda: time.monotonic() >= end)
    print(table(by_kind, machine_s, wall_s))


if __name__ == "__main__":
    main(sys.argv[1:])
