"""The contracts, each defined once as a JSON Schema file beside this module and
described in docs/. Everything that crosses a process or a file boundary is
validated against them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import jsonschema_rs

HERE = Path(__file__).resolve().parent


@cache
def validator(name: str) -> jsonschema_rs.Draft202012Validator:
    # jsonschema-rs rather than the pure-Python jsonschema: a results file of a
    # quarter of a million events took 56 s to validate, and 0.4 s with it.
    schema = json.loads((HERE / f"{name}.schema.json").read_text())
    return jsonschema_rs.Draft202012Validator(schema)


@cache
def slow_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((HERE / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def problems(name: str, instance: object) -> list[str]:
    """Readable reasons why `instance` breaks contract `name` (empty if it holds)."""
    try:
        errors = [(list(e.instance_path), e.message) for e in validator(name).iter_errors(instance)]
    except ValueError:
        # Nested deeper than jsonschema-rs recurses: the pure-Python validator
        # gives the same verdict for such (rare, hostile) input.
        try:
            errors = [(list(e.absolute_path), e.message) for e in slow_validator(name).iter_errors(instance)]
        except RecursionError:
            return ["(top): nested too deeply to check"]
    out = []
    for path, message in sorted(errors, key=lambda x: [str(p) for p in x[0]]):
        where = "/".join(str(p) for p in path) or "(top)"
        out.append(f"{where}: {printable(message)}")
    return out


def printable(text: str) -> str:
    """The text with every unprintable character escaped: jsonschema-rs quotes the
    instance as it is, and a problem must stay one line whatever the data held."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


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
