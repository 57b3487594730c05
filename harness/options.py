"""A user's options file: library options for the client under test.

    # my-options.toml (or .json)
    ReconnectWait = 500
    MaxReconnect = 5

Names are the family's documented option names (see `harness list -v` and
docs/driver-contract.md); durations in milliseconds, sizes in bytes. They override
a scenario's own options for the client under test; the scenario's checks judge
against what the client actually ran with.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from harness.errors import UsageError

KINDS = {
    "ms": "a duration in milliseconds",
    "bytes": "a size in bytes",
    "count": "a whole number",
    "bool": "true or false",
    "text": "text (the name of a documented variant)",
}


def load(path: Path, known: dict[str, str]) -> dict:
    """Read and check an options file against `known` (option name -> kind, as the
    drivers' --describe gives them)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise UsageError(f"cannot read options file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"options file {path} is not UTF-8 text: {e.reason} at byte {e.start}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # TOMLDecodeError is a ValueError; RecursionError: nested too deep
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise UsageError(f"options file {path} is not valid {kind}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"options file {path} must hold a table of option = value")
    for name, value in data.items():
        if name not in known:
            raise UsageError(
                f"options file {path}: unknown option {name!r}", f"known options: {', '.join(sorted(known))}"
            )
        kind = known[name]
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "text":
            ok = isinstance(value, str)
        else:  # a finite number (nan and inf are no duration, size or count); a whole one unless ms
            ok = isinstance(value, int | float) and not isinstance(value, bool) and abs(value) != math.inf
            ok = ok and value == value and (kind == "ms" or value == int(value))
        if not ok:
            raise UsageError(f"options file {path}: {name} = {value!r} is not {KINDS.get(kind, kind)}")
    return data
