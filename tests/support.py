"""Helpers shared by the live tests (imported as `support`: pytest puts this folder
on the import path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from harness import topology
from harness.backends.local import LocalTopology


def poll(predicate: Callable[[], object], timeout: float, what: str | None = None, interval: float = 0.02) -> object:
    """Call `predicate` until it returns something truthy, and return that. After
    `timeout` s: with `what`, fail the test naming it; without, return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            if what is not None:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            return value
        time.sleep(interval)


def topology_fixture(name: str, workdir: str | None = None):
    """A module-scoped fixture: topology `name` brought up once for the module (its
    cold start in `.cold_start_s`) and torn down after it, in a temporary folder
    named `workdir` (default: `name`)."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTopology]:
        started = time.monotonic()
        live = LocalTopology.up(topology.get(name), tmp_path_factory.mktemp(workdir or name))
        live.cold_start_s = time.monotonic() - started  # type: ignore[attr-defined]
        try:
            yield live
        finally:
            live.down()

    return fixture
