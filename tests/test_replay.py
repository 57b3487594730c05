"""Replay bundles: written for every entry, read back, versions checked, verdicts compared;
and a real replay through the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from harness import replay
from harness.contracts import problems
from harness.errors import UsageError

# This interpreter's harness (also from a worktree without its own .venv).
HARNESS = [sys.executable, "-m", "harness"]


def test_every_recorded_entry_makes_a_valid_bundle(recorded_results):
    for e in recorded_results["entries"]:
        data = replay.bundle(e, "local", {})
        assert problems("replay", data) == [], (e["scenario"], e["client"])
        assert data["verdicts"] == {c["id"]: c["verdict"] for c in e["checks"]}


def test_written_bundle_loads_back(recorded, tmp_path):
    e = recorded("nats.single.refused", "nats-go")
    path = replay.write(e, "local", {"ReconnectWait": 500}, tmp_path)
    back = replay.load(tmp_path)
    assert path == tmp_path / "replay.json"
    assert back["seed"] == e["seed"] and back["options"] == {"ReconnectWait": 500}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no replay bundle here"),
        ("{", "not a readable replay bundle"),
        (json.dumps({"format": "other"}), "not a replay bundle"),
        (json.dumps({"format": "fault-harness/replay", "version": 9}), "version 9 is not supported"),
        (json.dumps({"format": "fault-harness/replay", "version": 1}), "corrupt"),
    ],
)
def test_bad_bundles_are_one_clear_line(tmp_path, content, message):
    if content is not None:
        (tmp_path / "replay.json").write_text(content)
    with pytest.raises(UsageError) as e:
        replay.load(tmp_path)
    assert message in e.value.line() and "\n" not in e.value.line()


def test_version_differences_name_what_changed(recorded):
    data = replay.bundle(recorded("nats.single.refused", "nats-go"), "local", {})
    assert replay.version_differences(data) == []
    changed = copy.deepcopy(data)
    changed["versions"]["client"]["version"] = "v0.0.1"
    changed["versions"]["servers"]["nats-server"] = "1.0.0"
    diffs = replay.version_differences(changed)
    assert any("v0.0.1 -> " in d for d in diffs) and any(d.startswith("nats-server 1.0.0 -> ") for d in diffs)


def test_agreement_lists_each_changed_verdict(recorded):
    e = recorded("nats.single.refused", "nats-go")
    data = replay.bundle(e, "local", {})
    assert replay.agreement(data, e) == []
    e2 = copy.deepcopy(e)
    e2["checks"][0]["verdict"] = "deviates" if e2["checks"][0]["verdict"] != "deviates" else "conforms"
    assert replay.agreement(data, e2) == [
        f"{e2['checks'][0]['id']}: {e['checks'][0]['verdict']} -> {e2['checks'][0]['verdict']}"
    ]
    e3 = {**e, "status": "error", "error": "boom"}
    assert replay.agreement(data, e3)[0].startswith("status ok -> error")


def test_a_real_replay_agrees_and_a_changed_record_does_not(tmp_path):
    run = subprocess.run(
        [*HARNESS, "run", "nats.single.no-reconnect", "--client", "nats-go", "--out", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    bundle = tmp_path / "a" / "work" / "nats.single.no-reconnect--nats-go"
    again = subprocess.run(
        [*HARNESS, "replay", str(bundle), "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Verdicts agree" in again.stdout and "Installed versions differ" not in again.stdout
    data = json.loads((bundle / "replay.json").read_text())
    data["verdicts"]["ClosedCB"] = "deviates"
    data["versions"]["client"]["version"] = "v0.0.1"
    (bundle / "replay.json").write_text(json.dumps(data))
    differ = subprocess.run(
        [*HARNESS, "replay", str(bundle), "--out", str(tmp_path / "c")], capture_output=True, text=True, timeout=120
    )
    assert differ.returncode == 1, differ.stdout + differ.stderr
    out = differ.stdout
    assert out.index("Installed versions differ") < out.index("Replaying")  # said before running
    assert "ClosedCB: deviates -> conforms" in out


def test_replay_of_an_entry_whose_client_lacks_the_feature(recorded_results, tmp_path):
    # Nothing ran for it (no work folder files): the replay is one short run, no traceback.
    entry = next(e for e in recorded_results["entries"] if e["unsupported"] and e["client"] == "nats-py")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    replay.write(entry, "local", {}, bundle)
    r = subprocess.run(
        [*HARNESS, "replay", str(bundle), "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "Verdicts agree" in r.stdout, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    # Into the same folder again: refused in one line, unless --force.
    again = subprocess.run(
        [*HARNESS, "replay", str(bundle), "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "holds an earlier run's results.json" in again.stderr and "--force" in again.stderr
