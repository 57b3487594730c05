"""Fault kinds by name. A kind is a class in its own module of this package,
decorated with @register; its module is named in MODULES, in the order the kinds
are listed to the user."""

from __future__ import annotations

import importlib

from harness.faults.base import Kind

MODULES = (
    "refuse",
    "reset",
    "blackhole",
    "latency",
    "bandwidth",
    "slicer",
    "limit_data",
    "partition",
    "kill",
    "pause",
    "restart",
    "isolate",
)
KINDS: dict[str, type[Kind]] = {}


def register(cls: type[Kind]) -> type[Kind]:
    if cls.name in KINDS:
        raise ValueError(f"fault kind {cls.name!r} is registered twice")
    KINDS[cls.name] = cls
    return cls


def load() -> None:
    for module in MODULES:
        importlib.import_module(f"harness.faults.{module}")


def names(scope: str) -> tuple[str, ...]:
    """The registered kinds acting on a link or on a service, in registration order."""
    return tuple(name for name, cls in KINDS.items() if cls.scope == scope)
