"""Two shards run for real (`harness run --shard 1/2` and `2/2` of two short scenarios
for nats.go, against real servers) and merged: together they ran each pair once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths, results

SCENARIOS = ["nats.single.no-reconnect", "nats.single.resubscribe"]


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
def test_two_live_shards_merge_into_the_whole_matrix(tmp_path: Path):
    folders = []
    for i in (1, 2):
        out = tmp_path / f"shard-{i}"
        r = _harness(tmp_path, "run", *SCENARIOS, "--client", "nats-go", "--shard", f"{i}/2", "--out", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"Running 1 of 2 scenario x client pairs (shard {i}/2)" in r.stdout
        res = results.load(out)
        assert res["run"]["shard"] == f"{i}/2" and len(res["entries"]) == 1
        folders.append(out)
    r = _harness(tmp_path, "merge", *map(str, folders), "--out", str(tmp_path / "all"))
    assert r.returncode == 0, r.stdout + r.stderr
    merged = results.load(tmp_path / "all")
    assert sorted((e["scenario"], e["client"]) for e in merged["entries"]) == [(s, "nats-go") for s in SCENARIOS]
    assert merged["complete"] and [s["shard"] for s in merged["run"]["shards"]] == ["1/2", "2/2"]
    assert (tmp_path / "all" / "junit.xml").is_file() and (tmp_path / "all" / "summary.md").is_file()
