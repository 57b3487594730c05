"""The one clock. Every process stamps CLOCK_MONOTONIC nanoseconds; on one host
(containers included) these readings are directly comparable."""

from __future__ import annotations

import time


def now_ns() -> int:
    return time.monotonic_ns()


def seconds(ns: int) -> float:
    return ns / 1e9
