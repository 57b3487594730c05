"""The baseline gate, and the committed baseline itself."""

from __future__ import annotations

import tomllib

import pytest

from harness import baseline, expectations
from harness.drivers import registry
from harness.errors import UsageError
from harness.judging import outcome
from harness.scenario import load_all


def entry(checks: dict[str, str], status: str = "ok") -> dict:
    e = {
        "scenario": "s",
        "client": "c",
        "status": status,
        "error": "boom" if status != "ok" else None,
        "library": "lib",
        "client_version": "1",
        "checks": [
            {"id": k, "verdict": v, "documented": 1, "observed": 2, "unit": None, "detail": "d"}
            for k, v in checks.items()
        ],
    }
    e["outcome"] = outcome.decide(e)  # as the runner stores it
    return e


KNOWN = {("s", "c", "A"): baseline.Known("s", "c", "A", "A deviates because ...")}


def test_known_deviation_passes_new_one_fails():
    assert baseline.compare(entry({"A": "deviates", "B": "conforms"}), KNOWN) == []
    problems = baseline.compare(entry({"A": "deviates", "B": "deviates"}), KNOWN)
    assert len(problems) == 1 and problems[0].startswith("new deviation B")


@pytest.mark.parametrize("now", ["conforms", "not-measured"])
def test_known_deviation_that_disappeared_fails(now):
    problems = baseline.compare(entry({"A": now}), KNOWN)
    assert len(problems) == 1 and "disappeared" in problems[0] and now in problems[0]


def test_harness_error_fails():
    assert baseline.compare(entry({}, status="error"), KNOWN) == ["harness error: boom"]


def test_other_scenarios_are_not_judged_by_this_entry():
    other = {("t", "c", "A"): baseline.Known("t", "c", "A", "x")}
    assert baseline.compare(entry({"A": "conforms"}), other) == []


def test_generated_entries_load_back(tmp_path):
    text = baseline.toml_for(
        [
            entry({"A": "deviates", "B": "conforms"})
            | {
                "checks": [
                    {
                        "id": "A",
                        "verdict": "deviates",
                        "documented": 1,
                        "observed": [2, 3],
                        "unit": "ms",
                        "detail": 'said "x"',
                    }
                ]
            }
        ]
    )
    path = tmp_path / "b.toml"
    path.write_text(text)
    assert list(baseline.load(path)) == [("s", "c", "A")]


def test_malformed_baseline_is_one_clear_error(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('[[deviation]]\nscenario = "s"\n')
    with pytest.raises(UsageError, match="lacks client, check, evidence"):
        baseline.load(path)
    path.write_text("[[deviation]\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        baseline.load(path)


def test_committed_baseline_names_real_scenarios_clients_and_checks():
    known = baseline.load()
    scenarios = load_all()
    for (sc, cl, cid), k in known.items():
        assert sc in scenarios, f"baseline names unknown scenario {sc}"
        spec = registry.get(cl)
        assert spec.family == scenarios[sc].family
        assert cid in expectations.for_client(cl, spec.family), f"baseline names unknown check {cid}"
        assert cid in scenarios[sc].checks or cid.split("@")[0] in scenarios[sc].checks
        assert len(k.evidence) > 40, f"{sc}/{cl}/{cid}: evidence should say what was seen and why"
    assert tomllib.loads(baseline.DEFAULT.read_text()) is not None
