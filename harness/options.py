"""A user's options file: library options for the client under test.

    # my-options.toml (or .json)
    ReconnectWait = 500
    MaxReconnect = 5

Names are the family's documented option names (see `harness list -v` and
docs/driver-contract.md); durations in milliseconds, sizes in bytes. They override
a scenario's own options for the client under test; the scenario's checks judge
against what the client actually ran with.

Every value is checked here, before anything starts, against the option's type:
its kind (from the driver's --describe) and the range the driver can pass on to
its library (a kind's default range below, narrowed or widened per option in the
driver's driver.toml). A value out of range would otherwise fail, or silently
wrap, inside the driver.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

KINDS = {
    "ms": "a duration in milliseconds",
    "bytes": "a size in bytes",
    "count": "a whole number",
    "bool": "true or false",
    "text": "non-empty text (a path, a name or a documented variant)",
}
INT64_MAX = 2**63 - 1
# Go's time.Duration counts int64 nanoseconds: the longest duration, in whole ms.
MAX_MS = INT64_MAX // 1_000_000
# The range of each numeric kind unless a driver.toml says otherwise.
DEFAULT_RANGES: dict[str, tuple[int, int]] = {"ms": (0, MAX_MS), "bytes": (0, INT64_MAX), "count": (0, INT64_MAX)}


@dataclass(frozen=True)
class OptionType:
    """What one option of one driver accepts."""

    kind: str
    min: int | None = None
    max: int | None = None

    def accepts(self, value: object) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "text":
            return isinstance(value, str) and value != ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind != "ms" and not isinstance(value, int):  # 5.0 is no count: Go's int refuses it
            return False
        if isinstance(value, float) and not math.isfinite(value):  # (an int may be too big for isfinite)
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def allowed(self) -> str:
        """What this option takes, for the one-line refusal."""
        what = KINDS.get(self.kind, self.kind)
        if self.min is None and self.max is None:
            return what
        if self.kind != "ms":
            what += " (no decimal point)"
        return f"{what} from {self.min} to {self.max}"


def option_type(kind: str, low: int | None = None, high: int | None = None) -> OptionType:
    """The type of an option of `kind`: the kind's default range unless a driver.toml
    gives the option its own `low` or `high` edge."""
    default_low, default_high = DEFAULT_RANGES.get(kind, (None, None))
    return OptionType(kind, default_low if low is None else low, default_high if high is None else high)


def load(path: Path, types: Mapping[str, Mapping[str, OptionType]]) -> dict:
    """Read and check an options file against `types` (client name -> option name ->
    its type, as harness.drivers.registry.option_types gives them). A value must suit
    every client of the run that has the option."""
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
    return check(data, types, f"options file {path}")


def check(data: dict, types: Mapping[str, Mapping[str, OptionType]], where: str = "options") -> dict:
    """Check a table of options (an options file's, or given in code) against `types`, as load does."""
    known = sorted({name for of_client in types.values() for name in of_client})
    for name, value in data.items():
        if name not in known:
            raise UsageError(f"{where}: unknown option {name!r}", f"known options: {', '.join(known)}")
        for client, of_client in types.items():
            t = of_client.get(name)
            if t is not None and not t.accepts(value):
                shown = json.dumps(value) if isinstance(value, bool | str) else repr(value)
                raise UsageError(f"{where}: {name} = {shown}, but {client} takes {t.allowed()}")
    return data
