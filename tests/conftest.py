"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from harness import procs

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def recorded_results() -> dict:
    """results.json of a real full-suite run (every scenario for nats.go, nats.py,
    python-qpid-proton and rhea against real servers), kept as test data."""
    with gzip.open(DATA / "recorded-suite.json.gz", "rt") as f:
        return json.load(f)


@pytest.fixture
def recorded(recorded_results):
    """recorded(scenario, client) -> a deep copy of that entry, free to mutate."""

    def get(scenario: str, client: str) -> dict:
        for e in recorded_results["entries"]:
            if e["scenario"] == scenario and e["client"] == client:
                return copy.deepcopy(e)
        raise KeyError((scenario, client))

    return get


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[procs.Proc]:
    """Every process the backend starts during the test (the real spawn, watched)."""
    seen: list[procs.Proc] = []
    real = procs.spawn

    def spy(*args, **kwargs) -> procs.Proc:
        proc = real(*args, **kwargs)
        seen.append(proc)
        return proc

    monkeypatch.setattr(procs, "spawn", spy)
    return seen


@pytest.fixture
def harness(tmp_path: Path):
    """`harness` subprocesses of one test (test_cli.Harness), and after it `harness
    down` of everything in its state folder, then what is left killed by pid."""
    from test_cli import Harness  # a test module: imported once pytest has set the path up

    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.cleanup()
