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
# Run from the project's checkout (or an editable install of it), or pip-installed: then
# ROOT is site-packages, and nothing of the harness's own is written there.
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "scenarios").is_dir()
# What installs the servers and drivers, as the user can type it.
SETUP_COMMAND = "make setup" if CHECKOUT else "harness setup"


def _tools() -> Path:
    if os.environ.get("HARNESS_HOME"):
        return Path(os.environ["HARNESS_HOME"]).resolve()
    if CHECKOUT:
        return ROOT / ".tools"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve() / "fault-harness"


# What the set-up installed: binaries in bin/, distributions, node packages, the manifest.
TOOLS = _tools()
BIN = TOOLS / "bin"
MANIFEST = TOOLS / "manifest.json"
PINS_FILE = PACKAGE / "pins.toml"
# Where runs write: the checkout's reports/, else the current directory's.
REPORTS = (ROOT if CHECKOUT else Path.cwd()) / "reports"
# The built-in scenarios: scenarios/ of the checkout, shipped in the wheel as a subpackage.
SCENARIOS = ROOT / "scenarios" if CHECKOUT else PACKAGE / "builtin_scenarios"
# The documentation the expectations quote, beside the checkout (or $HARNESS_SEEDS, e.g. for a
# worktree); only the quote check reads it.
SEEDS = Path(os.environ.get("HARNESS_SEEDS") or ROOT.parent / "shared" / "seeds")
# Per-user runtime state: port claims and the record of what `harness up` started (not the
# container engine's .state/ folder of scripts/engine.py).
RUNTIME_STATE = Path(os.environ.get("HARNESS_STATE_DIR") or f"/tmp/fault-harness-{os.getuid()}")


# The one reader on the harness side of what the set-up installed; the format is described
# in the docstring of its writer, harness/install/tools.py (which reads it with the stdlib
# only: it runs before the virtualenv exists).
@cache
def manifest() -> dict:
    try:
        return json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise EnvironmentFault(f"{MANIFEST} is unreadable ({e})", f"run `{SETUP_COMMAND}` again") from e


def installed(name: str) -> dict | None:
    """The manifest's entry for `name` (path, version, source, pin...), or None if the set-up
    did not install it."""
    return manifest().get("binaries", {}).get(name)


def binary(name: str) -> str:
    """Path of a binary installed by the set-up (or found on PATH by it)."""
    entry = installed(name)
    if entry and Path(entry["path"]).exists():
        return entry["path"]
    raise EnvironmentFault(f"{name} is not installed", f"run `{SETUP_COMMAND}`")


def binary_version(name: str) -> str:
    entry = installed(name) or {}
    return entry.get("version", "unknown")


def python() -> str:
    """The interpreter of this environment (the project's .venv when installed)."""
    return sys.executable


def node_modules(driver_folder: Path) -> Path:
    """Where the set-up installs a Node driver's packages: beside its package.json in the
    checkout, in TOOLS when pip-installed (site-packages is not the set-up's to write)."""
    if CHECKOUT:
        return driver_folder / "node_modules"
    return TOOLS / "node" / driver_folder.name / "node_modules"


def maven_build(driver_folder: Path) -> Path:
    """Where the set-up puts a Java driver's jars (driver.jar and its dependencies) and the
    sources jars of its direct dependencies (sources/): TOOLS/drivers/FOLDER, in the checkout
    too, since Maven's output is a build product."""
    return TOOLS / "drivers" / driver_folder.name
