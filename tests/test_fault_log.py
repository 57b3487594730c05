"""The fault log of a standing topology shown later, with times of day: `harness
status NAME` and `harness report reports/up/NAME` (what was done when)."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import Harness, assert_one_line

from harness import standing_faults

S = 10**9
# As apply/heal write them: a refuse applied, a kill that was not confirmed, the refuse healed.
LOG = [
    {"action": "apply", "id": 1, "kind": "refuse", "target": "n1-client", "params": {}, "lasting": True,
     "start_ns": 100 * S, "end_ns": None, "applied_ns": 100 * S + 4_200_000,
     "logged_ns": 100 * S + 5_000_000, "logged_at": "2026-12-01T23:00:00.005+00:00"},
    {"action": "apply", "id": 2, "kind": "kill", "target": "n1", "params": {}, "lasting": True,
     "start_ns": 110 * S, "end_ns": None, "error": "fault kill on n1 was not applied: n1 is still running",
     "logged_ns": 115 * S, "logged_at": "2026-12-01T23:00:15.000+00:00"},
    {"action": "revert", "id": 1, "kind": "refuse", "target": "n1-client", "params": {},
     "end_ns": 160 * S + 4_200_000, "reverted_ns": 160 * S + 7_200_000,
     "logged_ns": 161 * S, "logged_at": "2026-12-01T23:01:01.000+00:00"},
]  # fmt: skip


def _write(folder: Path, lines: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / standing_faults.FILENAME
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return log


def test_history_gives_each_action_its_time_of_day_and_durations(tmp_path: Path):
    rows = standing_faults.history(_write(tmp_path, LOG))
    assert [r["at"] for r in rows] == [
        "2026-12-01T23:00:00.000+00:00",
        "2026-12-01T23:00:10.000+00:00",
        "2026-12-01T23:01:00.004+00:00",
    ]
    assert [r["took_ms"] for r in rows] == [4.2, None, 3.0]
    assert rows[2]["on_ms"] == 60000.0 and "on_ms" not in rows[0]
    text = standing_faults.render_history(rows)
    assert text == [
        "2026-12-01 23:00:00.000 UTC  #1 apply refuse n1-client: confirmed in 4.2 ms",
        "2026-12-01 23:00:10.000 UTC  #2 apply kill n1: NOT confirmed: fault kill on n1 was not applied: "
        "n1 is still running",
        "2026-12-01 23:01:00.004 UTC  #1 revert refuse n1-client: confirmed in 3 ms, on for 60.0 s",
    ]


def test_a_line_of_an_older_harness_is_timed_from_now(tmp_path: Path):
    old = {k: v for k, v in LOG[0].items() if not k.startswith("logged")}
    (row,) = standing_faults.history(_write(tmp_path, [old]))
    assert row["at"].endswith("+00:00") and row["took_ms"] == 4.2


def test_report_of_a_topology_folder_prints_its_fault_log(tmp_path: Path):
    h = Harness(tmp_path)
    folder = tmp_path / "reports" / "up" / "outage-42"
    _write(folder, LOG)
    r = h.run("report", str(folder))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Fault log of {folder} (3 actions")
    shown = standing_faults.render_history(standing_faults.history(folder / standing_faults.FILENAME))
    assert lines[1:] == [f"  {x}" for x in shown]
    (folder / standing_faults.FILENAME).write_text("not json\n")
    assert_one_line(h.run("report", str(folder)), 2, "is not a fault log")
