"""results.json: written valid, read back, and refused with one clear line when it is not."""

from __future__ import annotations

import json

import pytest
from strategies import one_line

from harness import replay, results
from harness.contracts import HERE as CONTRACTS
from harness.errors import UsageError
from harness.judging import outcome
from harness.report import model


def test_round_trip(tmp_path, recorded_results):
    res = results.new("local", 1, ["harness", "run", "x"])
    res["entries"] = recorded_results["entries"][:2]
    results.finish(res, complete=True)
    path = results.write(res, tmp_path)
    back = results.load(tmp_path)
    assert back["complete"] is True and back["run"]["command"] == "harness run x"
    assert back["entries"] == res["entries"]
    assert path == tmp_path / "results.json"


def test_recorded_results_still_validate(recorded_results):
    assert results.validate(recorded_results) == []


def test_writing_an_invalid_document_is_refused(tmp_path):
    res = results.new("local", 1)
    res["entries"] = [{"scenario": "x"}]
    with pytest.raises(AssertionError, match="break their schema"):
        results.write(res, tmp_path)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such results file"),
        ("{not json", "not a readable results file"),
        (json.dumps({"hello": 1}), "not a harness results file"),
        (json.dumps({"schema": "fault-harness/results", "schema_version": 0}), "schema version 0 is not supported"),
        (json.dumps({"schema": "fault-harness/results", "schema_version": 2, "run": {}}), "corrupt"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as e:
        results.load(path)
    assert message in e.value.line() and str(path) in e.value.line()
    assert "\n" not in e.value.line()


# -- regression ----------------------------------------------------------------


@pytest.mark.parametrize("loader", [results.load, replay.load])
def test_regression_deep_json_is_one_usage_error(tmp_path, loader):
    (tmp_path / "x.json").write_text("[" * 100_000 + "]" * 100_000)  # was RecursionError
    with pytest.raises(UsageError) as e:
        loader(tmp_path / "x.json")
    assert one_line(e.value.line())


def test_one_outcome_vocabulary():
    """The judge's outcome words, the schema's and the reports' labels are one list."""
    schema = json.loads((CONTRACTS / "results.schema.json").read_text())
    assert set(schema["$defs"]["outcome"]["properties"]["result"]["enum"]) == set(outcome.OUTCOMES)
    assert set(model.OUTCOMES) == set(outcome.OUTCOMES)
