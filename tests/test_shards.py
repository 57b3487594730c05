"""Shards of the scenario x client matrix (`--shard I/N`) and `harness merge`, on recorded
data: the split is a partition, the same in any order, and merged shards hold exactly
the entries of the unsharded run. The live run of two shards is tests/test_shards_live.py."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import __version__, cli, paths, results, shards
from harness.drivers import registry
from harness.errors import UsageError
from harness.scenario import load_all


def _key(e: dict) -> tuple[str, str]:
    return (e["scenario"], e["client"])


@pytest.mark.parametrize("text", ["0/4", "5/4", "x", "1/0", "", "2", "1/2/3", "-1/4", "a/b"])
def test_a_bad_shard_is_a_usage_error(text: str):
    with pytest.raises(UsageError):
        shards.parse(text)


def test_a_good_shard_parses():
    assert shards.parse("2/8") == (2, 8)
    assert shards.parse("1/1") == (1, 1)


@pytest.mark.parametrize("text", ["0/4", "5/4", "x", "1/0"])
def test_a_bad_shard_on_the_command_line_is_one_line_exit_2(text: str, capsys):
    assert cli.main(["run", "nats.*", "--shard", text]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shard" in err, err


pairs_st = st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from(["go", "py", "js"])), unique=True)


@given(
    keys=pairs_st,
    count=st.integers(1, 9),
    costs=st.lists(st.floats(0, 500, allow_nan=False), min_size=21, max_size=21),
    seed=st.integers(0, 1000),
)
def test_shards_partition_the_matrix_whatever_the_order_and_durations(keys, count, costs, seed):
    cost = {k: costs[i % len(costs)] for i, k in enumerate(keys)}
    got = [shards.select(keys, lambda k: k, (i, count), cost) for i in range(1, count + 1)]
    flat = [k for g in got for k in g]
    assert sorted(flat) == sorted(keys)  # every pair exactly once
    shuffled = list(keys)
    random.Random(seed).shuffle(shuffled)
    assert shards.assign(shuffled, count, cost) == shards.assign(keys, count, cost)


def test_durations_balance_the_shards(recorded_results):
    cost = shards.durations(recorded_results)
    keys = list(cost)
    where = shards.assign(keys, 4, cost)
    loads = [sum(cost[k] for k in keys if where[k] == i) for i in range(1, 5)]
    assert max(loads) - min(loads) < max(cost.values()), loads


def _write_shards(recorded_results: dict, folder: Path, count: int, entries: int | None = None) -> list[Path]:
    """The recorded run (its first `entries`) split as `harness run --shard i/count` splits
    it, one folder each."""
    cost: dict = {}
    out = []
    whole = {**recorded_results, "entries": recorded_results["entries"][:entries]}
    for i in range(1, count + 1):
        part = copy.deepcopy(whole)
        part["entries"] = shards.select(part["entries"], _key, (i, count), cost)
        part["run"]["shard"] = f"{i}/{count}"
        part["run"]["id"] = f"shard{i}"
        part["run"]["harness_version"] = __version__
        results.write(part, folder / f"shard-{i}")
        out.append(folder / f"shard-{i}")
    return out


def test_merged_shards_hold_exactly_the_entries_of_the_unsharded_run(recorded_results, tmp_path: Path, capsys):
    folders = _write_shards(recorded_results, tmp_path, 2)
    assert all(results.load(f)["entries"] for f in folders)
    merged = tmp_path / "all"
    assert cli.main(["merge", *map(str, folders), "--out", str(merged)]) == 0, capsys.readouterr().err
    res = results.load(merged)
    assert len(res["entries"]) == 72
    assert {_key(e): e for e in res["entries"]} == {_key(e): e for e in recorded_results["entries"]}
    assert res["complete"] is True
    assert [s["shard"] for s in res["run"]["shards"]] == ["1/2", "2/2"]
    assert sum(s["entries"] for s in res["run"]["shards"]) == 72
    assert (merged / "report.html").is_file() and (merged / "summary.md").is_file()

    suite = ET.parse(merged / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 72 == int(suite.get("tests"))
    by_name = {c.get("name"): c for c in cases}
    for e in recorded_results["entries"]:
        case = by_name[f"{e['scenario']}[{e['client']}]"]
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props == {c["id"]: c["verdict"] for c in e["checks"]}
        if e["outcome"]["result"] == "skipped":
            assert case.find("skipped") is not None
        if e["outcome"]["result"] in ("error", "interrupted"):
            assert case.find("failure") is not None


def test_a_missing_shard_leaves_the_merged_run_incomplete(recorded_results, tmp_path: Path, capsys):
    folders = _write_shards(recorded_results, tmp_path, 3, 6)
    assert cli.main(["merge", str(folders[0]), str(folders[2]), "--out", str(tmp_path / "all")]) == 0
    assert "lacks shard(s) 2/3" in capsys.readouterr().err
    assert results.load(tmp_path / "all")["complete"] is False


def test_junit_fails_an_entry_the_baseline_gate_rejects(recorded_results):
    from harness.report import junit

    res = copy.deepcopy(recorded_results)
    root = ET.fromstring(junit.render(res, {}))
    deviating = [e for e in res["entries"] if e["outcome"]["result"] == "deviates"]
    assert deviating
    failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
    assert {f"{e['scenario']}[{e['client']}]" for e in deviating} <= failed


def _refused(tmp_path: Path, capsys, folders: list[Path], mentions: str) -> None:
    assert cli.main(["merge", *map(str, folders), "--out", str(tmp_path / "all")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and mentions in err, err
    assert not (tmp_path / "all" / results.FILENAME).exists()


def _retouch(folder: Path, change) -> None:
    res = results.load(folder)
    change(res)
    results.write(res, folder)


def test_merge_refuses_shards_of_different_harness_versions(recorded_results, tmp_path: Path, capsys):
    a, b = _write_shards(recorded_results, tmp_path, 2, 6)
    _retouch(b, lambda r: r["run"].update(harness_version="0.0.1"))
    _refused(tmp_path, capsys, [a, b], "different harness versions")


def test_merge_refuses_shards_of_different_backends(recorded_results, tmp_path: Path, capsys):
    a, b = _write_shards(recorded_results, tmp_path, 2, 6)
    _retouch(b, lambda r: r["run"].update(backend="compose"))
    _refused(tmp_path, capsys, [a, b], "different backends")


def test_merge_refuses_an_entry_in_two_shards(recorded_results, tmp_path: Path, capsys):
    a, b = _write_shards(recorded_results, tmp_path, 2, 6)
    first = results.load(a)["entries"][0]
    _retouch(b, lambda r: r["entries"].append(first))
    _refused(tmp_path, capsys, [a, b], "is in two shards")


def test_merge_refuses_a_folder_without_results(recorded_results, tmp_path: Path, capsys):
    a, _ = _write_shards(recorded_results, tmp_path, 2, 6)
    (tmp_path / "empty").mkdir()
    _refused(tmp_path, capsys, [a, tmp_path / "empty"], "holds no results.json")


def test_merge_refuses_the_same_shard_twice(recorded_results, tmp_path: Path, capsys):
    a, b = _write_shards(recorded_results, tmp_path, 2, 6)
    _retouch(b, lambda r: r["run"].update(shard="1/2", entries=[]))
    _refused(tmp_path, capsys, [a, b], "shard 1/2 twice")


def _pytest_collect(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "scenarios", *args],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
        env=env,
        timeout=120,
    )


def _collected(r: subprocess.CompletedProcess) -> list[str]:
    return [line.split("::")[-1] for line in r.stdout.splitlines() if "::" in line]


def test_pytest_shard_deselects_the_items_of_other_shards(recorded_results, tmp_path: Path):
    every = {(sc.name, spec.name) for sc in load_all().values() for spec in registry.of_family(sc.family)}
    durations = tmp_path / "results.json"
    durations.write_text(json.dumps(recorded_results))
    cost = shards.durations(recorded_results)
    got: list[tuple[str, str]] = []
    for i in (1, 2):
        r = _pytest_collect("--shard", f"{i}/2", "--harness-durations", str(durations))
        assert r.returncode == 0, r.stdout + r.stderr
        mine = [(n.split("[")[0], n.split("[")[1].rstrip("]")) for n in _collected(r)]
        assert set(mine) == set(shards.select(sorted(every), tuple, (i, 2), cost))
        got += mine
    assert sorted(got) == sorted(every)


def test_pytest_bad_shard_is_a_usage_error():
    r = _pytest_collect("--shard", "5/4")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "--shard 5/4" in r.stderr
