"""results.json: one file per run, every scenario x client in it.

The schema is harness/contracts/results.schema.json (versioned; described in
docs/results-schema.md). Everything written is validated first; everything read
is checked for its schema version before use. A run writes the file before its
first entry and again after each (complete = false; a run of several jobs less
often, see parallel._Jobs._checkpoint), always whole, by rename, so a run killed
at any moment leaves a valid file holding what it finished.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
import threading
import uuid
from pathlib import Path

from harness import __version__
from harness.contracts import problems, read_json
from harness.errors import UsageError

SCHEMA = "fault-harness/results"
SCHEMA_VERSION = 2
FILENAME = "results.json"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new(backend: str, seed: int | None, command: list[str] | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": uuid.uuid4().hex[:12],
            "started_at": now_iso(),
            "finished_at": None,
            "harness_version": __version__,
            "backend": backend,
            "seed": seed,
            "command": shlex.join(command if command is not None else [os.path.basename(sys.argv[0]), *sys.argv[1:]]),
            "host": {
                "machine": platform.machine(),
                "system": platform.system(),
                "release": platform.release(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
        },
        "complete": False,
        "entries": [],
    }


def finish(results: dict, complete: bool) -> None:
    results["complete"] = complete
    results["run"]["finished_at"] = now_iso()


def validate(results: dict) -> list[str]:
    return problems("results", results)


def write(results: dict, out_dir: Path) -> Path:
    bad = validate(results)
    if bad:
        raise AssertionError(f"harness bug: results break their schema: {bad[0]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILENAME
    # No indent: with one, json encodes in pure Python, 4.5x slower (3.0 s for a
    # 65 MB run), and a run rewrites this file after every entry. A temporary name
    # of this writer's own, so two writers never rename each other's file away.
    tmp = path.with_name(f".{FILENAME}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(results))
    tmp.replace(path)
    return path


def load(path: Path) -> dict:
    """Read a results file, or fail with one line naming the file and the problem."""
    path, data = read_json(path, FILENAME, "results file", "no such results file")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(f"{path}: not a harness results file")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: results schema version {data.get('schema_version')} is not supported "
            f"(this harness reads version {SCHEMA_VERSION})",
            "re-run the scenarios",
        )
    bad = validate(data)
    if bad:
        raise UsageError(f"{path}: results file is corrupt ({bad[0]})")
    return data
