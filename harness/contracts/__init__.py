"""The contracts, each defined once as a JSON Schema file beside this module and
described in docs/. Everything that crosses a process or a file boundary is
validated against them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

HERE = Path(__file__).resolve().parent


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((HERE / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def problems(name: str, instance: object) -> list[str]:
    """Readable reasons why `instance` breaks contract `name` (empty if it holds)."""
    out = []
    for err in sorted(validator(name).iter_errors(instance), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        out.append(f"{where}: {err.message}")
    return out


def read_json(path: Path, filename: str, what: str, missing: str, todo: str | None = None) -> tuple[Path, object]:
    """A JSON document from `path`, or from `filename` in it if it is a folder: the
    file read and its data, or one line naming the file and the problem."""
    from harness.errors import UsageError

    if path.is_dir():
        path = path / filename
    try:
        return path, json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: {missing}", todo) from None
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: JSON nested too deep
        raise UsageError(f"{path}: not a readable {what} ({e})") from None
