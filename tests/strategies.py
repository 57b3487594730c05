"""Hypothesis strategies and settings shared by the property-based tests (imported as
`strategies`: pytest puts this folder on the import path).

The properties: every input gets either a result or one clear error. No traceback, no
error of more than one line, nothing left running. The input surfaces: options files
(test_options.py), expectation files (test_expectations.py) and the baseline
(test_baseline.py), driver event lines (test_driver_process.py), schedules
(test_schedule.py) and faults (test_faults.py), and the command line (test_cli.py, run
in-process, and never anything that starts a server). Each property says how many
inputs it tried and what came of them (shown with `-s`, and kept as the test's
`examples` and `outcomes` properties in JUnit XML). The `test_regression_*` tests
beside them are the inputs that found bugs.
"""

from __future__ import annotations

import datetime as dt
import json
import math

from hypothesis import HealthCheck
from hypothesis import strategies as st

from harness.faults import LINK_KINDS, SERVICE_KINDS, STREAMS

SETTINGS = {
    "deadline": None,
    "database": None,  # nothing written into the project (.hypothesis/)
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}


def one_line(text: str) -> bool:
    return isinstance(text, str) and len(text.splitlines()) == 1


class Counter:
    """How many generated inputs a property tried: printed and recorded on the test."""

    def __init__(self, record_property, name: str) -> None:
        self.n, self.name, self.record = 0, name, record_property
        self.outcomes: dict[str, int] = {}

    def __call__(self) -> None:
        self.n += 1

    def saw(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def done(self) -> None:
        self.record("examples", self.n)
        self.record("outcomes", json.dumps(self.outcomes))
        print(f"\n{self.name}: {self.n} generated inputs; outcomes {dict(sorted(self.outcomes.items()))}")


# -- generic values -----------------------------------------------------------

FLOATS = st.floats()  # nan, inf, -0.0, subnormals, huge
INTS = st.one_of(
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([10**400, -(10**400)])
)
# Text, and text made of what breaks lines, quotes and patterns.
TEXT = st.text(max_size=16) | st.text(
    st.sampled_from(list("\n\r\t\x0b\x1c\x85\u2028 aZ9\"'\\{}[]=.*?-_@/")), max_size=8
)
EDGE_NUMBERS = st.sampled_from(
    [math.nan, math.inf, -math.inf, 10**400, -(10**400), 2**64, -1, 0, -0.0, 1.5, 2.0, 1e308]
)
SCALARS = st.one_of(st.booleans(), INTS, FLOATS, TEXT, EDGE_NUMBERS)
TOML_SCALARS = st.one_of(SCALARS, st.dates())
JSON_VALUES = st.recursive(
    st.none() | SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=8
)
TOML_VALUES = st.recursive(
    TOML_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=8
)
DEPTHS = st.sampled_from([1, 2, 100, 900, 1000, 1500, 5000, 100_000]) | st.integers(min_value=1, max_value=5000)


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml_value, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """Any document of TOML values as TOML (nested tables and arrays inline)."""
    return "".join(f"{_toml_str(k)} = {_toml_value(v)}\n" for k, v in doc.items())


def fragments(words: list[str]) -> st.SearchStrategy[str]:
    """Text made of the pieces TOML and JSON are made of, and a little noise."""
    pieces = ["=", " = ", '"', "'", "[", "]", "{", "}", ",", ":", "\n", " ", "#", "true", "false", "null"]
    pieces += ["1", "-1", "1.5", "1e400", "nan", "inf", "NaN", "Infinity", "0x1F", "1979-05-27", '"""', "[[", "]]"]
    return st.lists(st.sampled_from(pieces + words) | st.text(max_size=4), max_size=30).map("".join)


def deep(depth: int, form: str) -> str:
    return {
        "json-array": "[" * depth + "]" * depth,
        "json-object": '{"a": ' * depth + "1" + "}" * depth,
        "toml-array": "a = " + "[" * depth + "]" * depth + "\n",
        "toml-table": "a = " + "{b = " * depth + "1" + "}" * depth + "\n",
    }[form]


def value_paths(v: object, at: tuple = ()) -> list[tuple]:
    """Every path to a value inside a document (the root is ())."""
    out = [at]
    if isinstance(v, dict):
        for k, x in v.items():
            out += value_paths(x, (*at, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += value_paths(x, (*at, i))
    return out


def value_at(doc: object, path: tuple) -> object:
    for p in path:
        doc = doc[p]  # type: ignore[index]
    return doc


# -- faults (shared by the fault and the schedule properties) --------------------

KINDS = st.sampled_from(LINK_KINDS + SERVICE_KINDS) | st.sampled_from(LINK_KINDS + SERVICE_KINDS) | TEXT
PARAM_VALUES = st.sampled_from([*STREAMS, "sideways", "", None, 1]) | JSON_VALUES
FAULT_PARAMS = st.dictionaries(
    st.sampled_from(["stream", "latency_ms", "rate_kbps", "bytes", "drop_existing", "jitter_ms"]) | TEXT,
    PARAM_VALUES,
    max_size=4,
)
GOOD_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "stream": st.sampled_from(sorted(STREAMS)),
        "latency_ms": st.integers(0, 1000),
        "rate_kbps": st.integers(0, 1000),
        "bytes": st.integers(0, 1000),
        "drop_existing": st.booleans(),
    },
)
