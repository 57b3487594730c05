"""Where things live: the project's folders, the binaries the set-up installed."""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path

from harness.errors import EnvironmentFault

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
TOOLS = ROOT / ".tools"
MANIFEST = TOOLS / "manifest.json"
REPORTS = ROOT / "reports"
SCENARIOS = ROOT / "scenarios"
SEEDS = ROOT.parent / "shared" / "seeds"
# Per-user runtime state: port claims and the record of what `harness up` started (not the
# container engine's .state/ folder of scripts/engine.py).
RUNTIME_STATE = Path(os.environ.get("HARNESS_STATE_DIR") or f"/tmp/fault-harness-{os.getuid()}")


# The one reader on the harness side of what the set-up installed; the format is described
# in the docstring of its writer, scripts/setup.py. The scripts read it too (scripts/_common.py),
# because they run before the virtualenv exists and cannot import harness.
@cache
def manifest() -> dict:
    try:
        return json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise EnvironmentFault(f"{MANIFEST} is unreadable ({e})", "run `make setup` again") from e


def installed(name: str) -> dict | None:
    """The manifest's entry for `name` (path, version, source, pin...), or None if the set-up
    did not install it."""
    return manifest().get("binaries", {}).get(name)


def binary(name: str) -> str:
    """Path of a binary installed by `make setup` (or found on PATH by it)."""
    entry = installed(name)
    if entry and Path(entry["path"]).exists():
        return entry["path"]
    raise EnvironmentFault(f"{name} is not installed", "run `make setup`")


def binary_version(name: str) -> str:
    entry = installed(name) or {}
    return entry.get("version", "unknown")


def python() -> str:
    """The interpreter of this environment (the project's .venv when installed)."""
    return sys.executable
