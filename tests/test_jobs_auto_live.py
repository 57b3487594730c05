"""`--jobs auto`, the default, for real: four short pairs against real servers,
handed out one at a time to jobs the parent starts; every pair runs once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths, results

SCENARIOS = ["nats.single.no-reconnect", "nats.single.resubscribe"]
PAIRS = [(s, c) for s in SCENARIOS for c in ("nats-go", "nats-py")]


def _harness(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(paths.ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.scenario
def test_the_default_run_hands_every_pair_to_one_job_once(tmp_path: Path):
    out = tmp_path / "out"
    r = _harness(tmp_path, "run", *SCENARIOS, "--client", "nats-go", "--client", "nats-py", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in 2 jobs to start, up to" in r.stdout or "in 1 jobs to start" in r.stdout, r.stdout
    res = results.load(out)
    assert res["complete"]
    assert sorted((e["scenario"], e["client"]) for e in res["entries"]) == sorted(PAIRS)
    assert all(e["noise"] and e["noise"]["n"] > 0 for e in res["entries"])
    # Each job was given the whole list and ran only what it was handed.
    ran = [e["scenario"] + "/" + e["client"] for d in (out / "jobs").iterdir() for e in results.load(d)["entries"]]
    assert sorted(ran) == sorted(f"{s}/{c}" for s, c in PAIRS)
    assert all(len(json.loads((d / "pairs.json").read_text())) == 4 for d in (out / "jobs").iterdir())
    # Whichever job ran it, each entry's folder is under the run's own work/, as in a serial run.
    for e in res["entries"]:
        assert Path(e["workdir"]) == out / "work" / f"{e['scenario']}--{e['client']}"
        assert (Path(e["workdir"]) / "replay.json").is_file()
