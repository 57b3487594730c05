"""Stability analysis over several runs: flips, status changes, timings spread wide."""

from __future__ import annotations

import copy

from harness import stability


def find(res: dict, scenario: str, client: str, check: str) -> dict:
    e = next(e for e in res["entries"] if e["scenario"] == scenario and e["client"] == client)
    return next(c for c in e["checks"] if c["id"] == check)


def test_identical_runs_are_stable(recorded_results):
    a = stability.analyze([recorded_results, recorded_results, recorded_results])
    assert a["flips"] == [] and a["status_flips"] == [] and a["wide_timings"] == []
    assert a["checks_compared"] > 100 and a["timings_compared"] > 10


def test_a_flipped_verdict_is_reported_run_by_run(recorded_results):
    second = copy.deepcopy(recorded_results)
    find(second, "nats.single.refused", "nats-go", "ReconnectJitter")["verdict"] = "deviates"
    a = stability.analyze([recorded_results, second, recorded_results])
    assert a["flips"] == [
        {
            "scenario": "nats.single.refused",
            "client": "nats-go",
            "check": "ReconnectJitter",
            "verdicts": ["conforms", "deviates", "conforms"],
        }
    ]
    assert "ReconnectJitter: conforms, deviates, conforms" in stability.render_text(a)


def test_a_status_change_is_reported(recorded_results):
    second = copy.deepcopy(recorded_results)
    second["entries"][0]["status"] = "error"
    a = stability.analyze([recorded_results, second])
    assert len(a["status_flips"]) == 1 and a["status_flips"][0]["statuses"] == ["ok", "error"]


def test_timings_spread_wider_than_the_band_are_reported(recorded_results):
    check = find(recorded_results, "nats.single.refused", "nats-go", "ReconnectWait")
    low, high = check["band"]["documented"]
    second = copy.deepcopy(recorded_results)
    moved = find(second, "nats.single.refused", "nats-go", "ReconnectWait")
    moved["observed"] = [v + 200 for v in moved["observed"]]  # wider than [2000, 2100] plus slack
    a = stability.analyze([recorded_results, second])
    wide = [w for w in a["wide_timings"] if w["check"] == "ReconnectWait" and w["client"] == "nats-go"]
    assert len(wide) == 1 and wide[0]["spread"] > wide[0]["tolerance"] > high - low
    small = copy.deepcopy(recorded_results)
    nudged = find(small, "nats.single.refused", "nats-go", "ReconnectWait")
    nudged["observed"] = [v + 5 for v in nudged["observed"]]
    assert not [
        w
        for w in stability.analyze([recorded_results, small])["wide_timings"]
        if w["check"] == "ReconnectWait" and w["client"] == "nats-go"
    ]
