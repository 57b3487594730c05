"""benchmarks/suite_wall.py on recorded data: the figures it prints, nothing run."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from harness import paths, results

sys.path.insert(0, str(paths.ROOT / "benchmarks"))  # as when it runs as a script: hog.py beside it
_spec = importlib.util.spec_from_file_location("suite_wall", paths.ROOT / "benchmarks" / "suite_wall.py")
assert _spec is not None and _spec.loader is not None
suite_wall = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite_wall)


def test_a_run_against_itself_differs_in_nothing_and_its_floor_is_its_longest_pair(recorded_results):
    r = suite_wall.row("1", 900.0, recorded_results, recorded_results)
    seconds = [(e["ended_ns"] - e["started_ns"]) / 1e9 for e in recorded_results["entries"] if e["ended_ns"]]
    assert r["differ"] == []
    assert r["floor_s"] == pytest.approx(max(seconds))
    assert r["pairs_sum_s"] == pytest.approx(sum(seconds))
    assert r["ratio"] == pytest.approx(900.0 / max(seconds))
    assert (r["noise"], r["timing"], r["too_loaded"]) == (0, 35, False)


def test_a_flipped_verdict_is_named(recorded_results):
    other = copy.deepcopy(recorded_results)
    e = next(e for e in other["entries"] if e["scenario"] == "nats.single.refused" and e["client"] == "nats-go")
    c = next(c for c in e["checks"] if c["id"] == "ReconnectJitter")
    c.update(verdict="not-measured", why="noise")
    r = suite_wall.row("auto", 300.0, recorded_results, other)
    assert r["differ"] == ["nats.single.refused / nats-go / ReconnectJitter: conforms -> not-measured"]
    assert r["noise"] == 1
    text = suite_wall.table([r])
    assert "| auto | 300.0 |" in text and "| 1 of " in text and "1 of 35 timing" in text
    assert "jobs auto: nats.single.refused / nats-go / ReconnectJitter" in text


def test_analyze_reads_an_earlier_benchmark_s_folders(recorded_results, tmp_path: Path):
    for jobs in ("1", "auto"):
        results.write(recorded_results, tmp_path / f"jobs-{jobs}")
    (tmp_path / suite_wall.WALL_FILE).write_text(json.dumps({"1": 1000.0, "auto": 400.0}))
    rows = suite_wall.analyze(tmp_path)
    assert [(r["jobs"], r["wall_s"], r["differ"]) for r in rows] == [("1", 1000.0, []), ("auto", 400.0, [])]


def test_settings_put_the_serial_reference_first_and_refuse_nonsense():
    assert suite_wall.settings("4,auto,1,4") == ["1", "4", "auto"]
    for bad in ("0", "-2", "x", "4,,auto"):
        with pytest.raises(SystemExit, match="--jobs takes"):
            suite_wall.settings(bad)
