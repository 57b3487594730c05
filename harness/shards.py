"""Shards: the scenario x client matrix split over machines (`--shard I/N`), and the
balancing of pairs over groups that `--jobs` uses within one machine.

One assignment for `harness run --shard` and `pytest --shard`: the pairs sorted by
(scenario, client), then longest first onto the least loaded shard. It depends only on
the set of pairs and the durations given, never on the order the patterns were named
in or on the machine, so every machine of a CI matrix computes the same split. The
shards partition the matrix whatever the durations: every pair is in exactly one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from harness.errors import UsageError

Pair = tuple[str, str]  # (scenario, client)
T = TypeVar("T")

# Seconds assumed for a pair without a recorded duration.
DEFAULT_COST = 15.0

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse(text: str) -> tuple[int, int]:
    """'2/8' -> (2, 8); anything else is a UsageError of one line."""
    m = _SHARD.fullmatch(text or "")
    if not m:
        raise UsageError(f"--shard must be I/N (e.g. 2/8), not {text!r}")
    index, count = int(m[1]), int(m[2])
    if count < 1:
        raise UsageError(f"--shard {text}: the number of shards must be at least 1")
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: the shard must be between 1 and {count}")
    return index, count


def longest_first(keys: Sequence[Pair], cost: dict[Pair, float]) -> list[int]:
    """Indexes of `keys`, the longest pair first (DEFAULT_COST without a duration); ties keep their order."""
    return sorted(range(len(keys)), key=lambda i: -cost.get(keys[i], DEFAULT_COST))


def balance(keys: Sequence[Pair], groups: int, cost: dict[Pair, float]) -> list[list[int]]:
    """Indexes of `keys` per group (exactly `groups` lists, some maybe empty): longest
    first onto the least loaded group; ties keep the order of `keys`."""
    load = [0.0] * groups
    out: list[list[int]] = [[] for _ in range(groups)]
    for i in longest_first(keys, cost):
        k = load.index(min(load))
        out[k].append(i)
        load[k] += cost.get(keys[i], DEFAULT_COST)
    return [sorted(g) for g in out]


def assign(keys: Sequence[Pair], count: int, cost: dict[Pair, float] | None = None) -> dict[Pair, int]:
    """The shard (1..count) of every pair: the same for the same set of pairs and costs."""
    ordered = sorted(set(keys))
    groups = balance(ordered, count, cost or {})
    return {ordered[i]: n for n, group in enumerate(groups, 1) for i in group}


def select(items: Sequence[T], key: Callable[[T], Pair], shard: tuple[int, int], cost: dict[Pair, float]) -> list[T]:
    """The items of shard (index, count), in their own order."""
    index, count = shard
    where = assign([key(x) for x in items], count, cost)
    return [x for x in items if where[key(x)] == index]


def durations(data: dict) -> dict[Pair, float]:
    """Seconds each pair took in a results document (entries without an end are left out)."""
    return {
        (e["scenario"], e["client"]): max(0.0, (e["ended_ns"] - e["started_ns"]) / 1e9)
        for e in data.get("entries", [])
        if e.get("ended_ns") and e.get("started_ns") is not None
    }


def load_durations(path: Path) -> dict[Pair, float]:
    """--durations FILE: a previous run's results.json (or its folder); one line if unreadable."""
    from harness import results

    return durations(results.load(path))


def label(shard: tuple[int, int]) -> str:
    return f"{shard[0]}/{shard[1]}"
