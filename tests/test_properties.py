"""Property-based tests: every input gets either a result or one clear error.

No traceback, no error of more than one line, nothing left running. The input
surfaces: options files, expectation files (and the baseline), driver event lines,
schedules and faults, and the command line (run in-process, and never anything that
starts a server). Each property says how many inputs it tried and what came of them
(shown with `-s`, and kept as the test's `examples` and `outcomes` properties in
JUnit XML). The regression tests at the end are the inputs that found bugs.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import gzip
import io
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness import baseline, cli, compose_file, expectations, options, paths, ports, procs, replay, results
from harness.contracts import HERE as CONTRACTS
from harness.contracts import problems
from harness.drivers import registry
from harness.drivers.process import parse_line
from harness.errors import EnvironmentFault, UsageError
from harness.faults import LINK_KINDS, SERVICE_KINDS, STREAMS, Fault
from harness.scenario import load_all
from harness.schedule import Schedule, Step

DATA = Path(__file__).parent / "data"
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


def _fragments(words: list[str]) -> st.SearchStrategy[str]:
    """Text made of the pieces TOML and JSON are made of, and a little noise."""
    pieces = ["=", " = ", '"', "'", "[", "]", "{", "}", ",", ":", "\n", " ", "#", "true", "false", "null"]
    pieces += ["1", "-1", "1.5", "1e400", "nan", "inf", "NaN", "Infinity", "0x1F", "1979-05-27", '"""', "[[", "]]"]
    return st.lists(st.sampled_from(pieces + words) | st.text(max_size=4), max_size=30).map("".join)


def _deep(depth: int, form: str) -> str:
    return {
        "json-array": "[" * depth + "]" * depth,
        "json-object": '{"a": ' * depth + "1" + "}" * depth,
        "toml-array": "a = " + "[" * depth + "]" * depth + "\n",
        "toml-table": "a = " + "{b = " * depth + "1" + "}" * depth + "\n",
    }[form]


# -- 1. options files -----------------------------------------------------------


@pytest.fixture(scope="module")
def option_maps() -> list[dict[str, str]]:
    """The real known-options maps (each driver's --describe), and their union."""
    try:
        maps = [registry.describe(spec)["options"] for spec in registry.all_drivers().values()]
    except EnvironmentFault as e:
        pytest.skip(f"drivers not set up: {e.line()}")
    return [*maps, {k: v for m in maps for k, v in m.items()}]


def kind_ok(kind: str, v: object) -> bool:
    """What a value of each option kind must be (docs/driver-contract.md), in the kind's default range."""
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "text":
        return isinstance(v, str) and v != ""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    if kind != "ms" and not isinstance(v, int):  # 5.0 is no count
        return False
    low, high = options.DEFAULT_RANGES[kind]
    return (isinstance(v, int) or math.isfinite(v)) and low <= v <= high


def typed(known: dict[str, str]) -> dict:
    """A name -> kind map as options.load takes it: one client, each kind's default range."""
    return {"c": {name: options.option_type(kind) for name, kind in known.items()}}


def good_value(kind: str) -> st.SearchStrategy:
    return {
        "bool": st.booleans(),
        "text": TEXT,
        "ms": st.integers(min_value=-(10**6), max_value=10**9) | st.floats(allow_nan=False, allow_infinity=False),
    }.get(kind, st.integers(min_value=-(10**12), max_value=10**12) | st.integers(-100, 100).map(float))


@st.composite
def option_docs(draw, known: dict[str, str]) -> dict:
    """Known options, each with a value of its kind, an edge number (nan, inf, huge) or anything;
    sometimes an unknown option."""
    names = draw(st.lists(st.sampled_from(sorted(known)), max_size=4, unique=True))
    if draw(st.sampled_from(range(5))) == 3:
        names.append(draw(TEXT))
    doc = {}
    for n in names:
        how = draw(st.sampled_from(["good", "good", "good", "edge", "any"]))
        kind = known.get(n, "ms")
        doc[n] = draw(good_value(kind) if how == "good" else EDGE_NUMBERS if how == "edge" else TOML_VALUES)
    return doc


OPTION_SUFFIXES = st.sampled_from([".toml", ".json", ".JSON", ".txt", ""])


def option_inputs(known: dict[str, str]) -> st.SearchStrategy[tuple[str, bytes, object]]:
    """(file suffix, file bytes, what was meant: a parsed document, or None when unknown)."""
    words = [*known, *(f'"{k}"' for k in known)]
    doc = option_docs(known)
    return st.one_of(
        st.tuples(OPTION_SUFFIXES, _fragments(words).map(str.encode), st.none()),
        st.tuples(OPTION_SUFFIXES, st.binary(max_size=40), st.none()),
        st.tuples(
            st.sampled_from([".toml", ".json"]),
            st.tuples(DEPTHS, st.sampled_from(["json-array", "json-object", "toml-array", "toml-table"])).map(
                lambda d: _deep(*d).encode()
            ),
            st.none(),
        ),
        doc.map(lambda d: (".toml", to_toml(d).encode(), "toml")),
        doc.map(lambda d: (".toml", to_toml(d).encode(), "toml")),
        doc.filter(lambda d: not _has_date(d)).map(lambda d: (".json", json.dumps(d).encode(), "json")),
    )


def _has_date(v: object) -> bool:
    if isinstance(v, dict):
        return any(_has_date(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_date(x) for x in v)
    return isinstance(v, dt.date)


def test_options_files_give_a_checked_table_or_one_usage_error(option_maps, tmp_path, record_property):
    count = Counter(record_property, "options files")

    @settings(max_examples=1000, **SETTINGS)
    @given(st.data())
    def prop(data):
        count()
        known = data.draw(st.sampled_from(option_maps), label="known")
        suffix, raw, form = data.draw(option_inputs(known), label="input")
        path = tmp_path / f"opts{suffix}"
        path.write_bytes(raw)
        expected = _expected_options(raw, form, known)
        try:
            got = options.load(path, typed(known))
        except UsageError as e:
            assert one_line(e.line()) and str(path) in e.line(), e.line()
            assert expected in (None, UsageError), f"refused a valid file: {e.line()}"
            count.saw("UsageError")
            return
        count.saw("table")
        assert isinstance(got, dict)
        for name, value in got.items():
            assert name in known and kind_ok(known[name], value), (name, value)
        assert expected is None or expected == got

    prop()
    count.done()


def _expected_options(raw: bytes, form: str | None, known: dict[str, str]) -> object:
    """For a rendered document: the table it must give, or UsageError (None: not known)."""
    if form is None:
        return None
    try:
        data = tomllib.loads(raw.decode()) if form == "toml" else json.loads(raw)
    except ValueError:
        return UsageError
    ok = all(k in known and kind_ok(known[k], v) for k, v in data.items())
    return data if ok else UsageError


def test_options_directory_and_missing_file(tmp_path):
    for path in (tmp_path, tmp_path / "missing.toml"):
        with pytest.raises(UsageError) as e:
            options.load(path, typed({"ReconnectWait": "ms"}))
        assert one_line(e.value.line()) and str(path) in e.value.line()


# -- 2. expectation files -------------------------------------------------------

REAL_EXPECTATIONS = {p.name: tomllib.loads(p.read_text()) for p in sorted(expectations.HERE.glob("*.toml"))}
EXPECTATION_KEYS = ["family", "client", "source", "expectation", "seed", "package", "file", "title"]
EXPECTATION_KEYS += ["id", "claim", "quote", "value", "unit"]


def _paths(v: object, at: tuple = ()) -> list[tuple]:
    """Every path to a value inside a document (the root is ())."""
    out = [at]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*at, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*at, i))
    return out


def _at(doc: object, path: tuple) -> object:
    for p in path:
        doc = doc[p]  # type: ignore[index]
    return doc


@st.composite
def mutated_expectations(draw) -> dict:
    """A real expectations file with keys dropped, values of the wrong type, extra keys, emptied lists."""
    doc = copy.deepcopy(REAL_EXPECTATIONS[draw(st.sampled_from(sorted(REAL_EXPECTATIONS)))])
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "retype", "extra", "empty", "duplicate", "source", "source"]))
        path = draw(st.sampled_from(_paths(doc)))
        parent, last = (_at(doc, path[:-1]), path[-1]) if path else (None, None)
        if op == "drop" and parent is not None:
            del parent[last]
        elif op == "retype" and parent is not None:
            parent[last] = draw(TOML_VALUES)
        elif op == "extra":
            target = _at(doc, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(EXPECTATION_KEYS) | TEXT)] = draw(TOML_VALUES)
        elif op == "empty":
            target = _at(doc, path)
            if isinstance(target, list | dict):
                target.clear()
        elif op == "duplicate" and isinstance(doc.get("expectation"), list) and doc["expectation"]:
            doc["expectation"].append(copy.deepcopy(doc["expectation"][0]))
        elif op == "source":
            doc["source"] = draw(SOURCES)
    return doc


# Sources the schema allows (and a few it does not), naming files that exist, folders, nothing.
WHERE = st.sampled_from(["", ".", "..", "/", "/etc", "nats", "nats/aio/client.py", "nope.txt", "a\nb"]) | TEXT
SEED = WHERE | st.sampled_from(sorted(p.name for p in paths.SEEDS.glob("*.txt")) or ["x.txt"])
PACKAGE = st.sampled_from(["", "nats-py", "no-such-package", "pip", " "]) | TEXT
SOURCES = st.one_of(
    st.fixed_dictionaries({"title": TEXT, "seed": SEED}),
    st.fixed_dictionaries({"title": TEXT, "package": PACKAGE, "file": WHERE}),
    st.fixed_dictionaries({"title": TEXT}, optional={"seed": SEED, "package": PACKAGE, "file": WHERE}),
)


RANDOM_EXPECTATIONS = st.dictionaries(st.sampled_from(EXPECTATION_KEYS) | TEXT, TOML_VALUES, max_size=5)


def test_expectation_files_parse_or_give_one_error_naming_the_file(tmp_path, record_property):
    count = Counter(record_property, "expectation files")
    words = [*EXPECTATION_KEYS, "[source]", "[[expectation]]", '"nats"']
    inputs = st.one_of(
        mutated_expectations().map(lambda d: (to_toml(d).encode(), d)),
        st.tuples(st.sampled_from(sorted(REAL_EXPECTATIONS)), SOURCES).map(
            lambda t: (to_toml({**REAL_EXPECTATIONS[t[0]], "source": t[1]}).encode(), t)
        ),
        RANDOM_EXPECTATIONS.map(lambda d: (to_toml(d).encode(), d)),
        _fragments(words).map(lambda t: (t.encode(), None)),
        st.binary(max_size=40).map(lambda b: (b, None)),
        st.tuples(DEPTHS, st.sampled_from(["toml-array", "toml-table"])).map(lambda d: (_deep(*d).encode(), None)),
    )

    @settings(max_examples=1000, **SETTINGS)
    @given(inputs)
    def prop(given_input):
        count()
        raw, doc = given_input
        path = tmp_path / "claims.toml"
        path.write_bytes(raw)
        if doc is not None:
            doc = tomllib.loads(raw.decode())  # what the rendering means (dates, floats as parsed)
        try:
            f = expectations.parse_file(path)
        except (EnvironmentFault, UsageError) as e:
            assert one_line(e.line()) and path.name in e.line(), e.line()
            assert doc is None or problems("expectations", doc), f"refused a valid file: {e.line()}"
            count.saw(type(e).__name__)
            return
        count.saw("valid file")
        assert isinstance(f, expectations.ExpectationFile)
        assert doc is None or not problems("expectations", doc)
        assert [e.id for e in f.expectations] == [e["id"] for e in tomllib.loads(raw.decode())["expectation"]]
        for e in f.expectations[:2]:  # the quote check answers too, never raises
            q = expectations.quote_problem(f, e)
            assert q is None or isinstance(q, str)
            count.saw("quote found" if q is None else "quote problem")

    prop()
    count.done()


REAL_BASELINE = tomllib.loads(baseline.DEFAULT.read_text())
BASELINE_KEYS = ["deviation", "scenario", "client", "check", "evidence"]


@st.composite
def mutated_baselines(draw) -> dict:
    """The real baseline, a few deviations of it, with keys dropped, values retyped, extras added."""
    deviations = copy.deepcopy(REAL_BASELINE.get("deviation", []))
    doc = {"deviation": draw(st.lists(st.sampled_from(deviations), max_size=3)) if deviations else []}
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["drop", "retype", "extra", "empty", "field"]))
        target = _at(doc, path)
        devs = doc.get("deviation")
        tables = [d for d in devs if isinstance(d, dict)] if isinstance(devs, list) else []
        if op == "field" and tables:  # one field of one deviation, of another type
            draw(st.sampled_from(tables))[draw(st.sampled_from(BASELINE_KEYS[1:]))] = draw(TOML_VALUES)
        if op == "drop" and path:
            del _at(doc, path[:-1])[path[-1]]
        elif op == "retype" and path:
            _at(doc, path[:-1])[path[-1]] = draw(TOML_VALUES | st.just(""))
        elif op == "extra" and isinstance(target, dict):
            target[draw(st.sampled_from(BASELINE_KEYS) | TEXT)] = draw(TOML_VALUES)
        elif op == "empty" and isinstance(target, list | dict):
            target.clear()
    return doc


def test_baselines_load_or_give_one_usage_error(tmp_path, record_property):
    count = Counter(record_property, "baselines")
    inputs = st.one_of(
        mutated_baselines().map(lambda d: to_toml(d).encode()),
        st.dictionaries(st.sampled_from(BASELINE_KEYS) | TEXT, TOML_VALUES, max_size=3).map(
            lambda d: to_toml(d).encode()
        ),
        _fragments([*BASELINE_KEYS, "[[deviation]]", '"""']).map(str.encode),
        st.binary(max_size=40),
        st.tuples(DEPTHS, st.sampled_from(["toml-array", "toml-table"])).map(lambda d: _deep(*d).encode()),
    )

    @settings(max_examples=600, **SETTINGS)
    @given(inputs)
    def prop(raw):
        count()
        path = tmp_path / "baseline.toml"
        path.write_bytes(raw)
        try:
            known = baseline.load(path)
        except UsageError as e:
            assert one_line(e.line()) and str(path) in e.line(), e.line()
            count.saw("UsageError")
            return
        count.saw("loaded")
        for key, k in known.items():
            assert key == (k.scenario, k.client, k.check)
            assert all(isinstance(x, str) for x in (k.scenario, k.client, k.check, k.evidence))

    prop()
    count.done()


def test_real_expectation_files_parse():
    assert [f.path.name for f in expectations.files()] == sorted(REAL_EXPECTATIONS)
    for path in sorted(expectations.HERE.glob("*.toml")):
        assert expectations.parse_file(path).expectations


# -- 3. driver event lines ------------------------------------------------------

EVENT_SCHEMA = json.loads((CONTRACTS / "driver-event.schema.json").read_text())
EVENT_KINDS = EVENT_SCHEMA["properties"]["kind"]["enum"]
EVENT_FIELDS = {
    r["if"]["properties"]["kind"]["const"]: (r["then"].get("required", []), r["then"].get("properties", {}))
    for r in EVENT_SCHEMA["allOf"]
}
STRICT_JSON = st.recursive(
    st.none()
    | st.booleans()
    | INTS.filter(lambda i: abs(i) < 10**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3),
    max_leaves=6,
)


def _from_schema(prop: dict) -> st.SearchStrategy:
    """Values valid for one property of the event schema."""
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    low = prop.get("minimum")
    make = {
        "string": lambda: TEXT,
        "integer": lambda: st.integers(min_value=low) | st.sampled_from([2**63, 10**30]),
        "number": lambda: st.integers(min_value=low) | st.floats(min_value=low, allow_nan=False, allow_infinity=False),
        "null": st.none,
        "boolean": st.booleans,
        "array": lambda: st.lists(_from_schema(prop["items"]), max_size=3),
    }
    return st.one_of([make[t]() for t in types])


@st.composite
def valid_events(draw) -> dict:
    """An event of any kind with its required fields, drawn from the contract, and extra fields."""
    kind = draw(st.sampled_from(EVENT_KINDS) | st.just("driver_error"))  # the one that is also a problem
    required, props = EVENT_FIELDS.get(kind, ([], {}))
    ev = {"t_ns": draw(st.integers(min_value=0) | st.just(2**64)), "kind": kind}
    for name in required:
        ev[name] = draw(_from_schema(props[name]))
    extra = draw(st.dictionaries(TEXT, STRICT_JSON, max_size=2))
    return {**{k: v for k, v in extra.items() if k not in ev and k not in props}, **ev}


@st.composite
def mutated_events(draw) -> dict:
    """A valid event with fields dropped or retyped, another kind, a bad t_ns, NaN or Infinity."""
    ev = draw(valid_events())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "retype", "kind", "t_ns", "not-a-json-number"]))
        key = draw(st.sampled_from(sorted(ev))) if ev else None
        if op == "drop" and key is not None:
            del ev[key]
        elif op == "retype" and key is not None:
            ev[key] = draw(JSON_VALUES)
        elif op == "not-a-json-number":  # NaN or Infinity in a field, or a new one
            ev[draw(st.sampled_from(sorted(ev)) | TEXT)] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif op == "kind":
            ev["kind"] = draw(st.sampled_from(EVENT_KINDS) | TEXT | JSON_VALUES)
        else:
            ev["t_ns"] = draw(st.sampled_from([-1, 1.5, 1.0, "1", None, True, 10**400, math.nan]) | JSON_VALUES)
    return ev


RANDOM_EVENT_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(EVENT_KINDS) | TEXT | JSON_VALUES,
        "t_ns": INTS | FLOATS | TEXT | st.none() | st.booleans(),
        "error": TEXT | st.none(),
        "url": TEXT | st.none(),
        "seq": INTS,
        "bytes": INTS,
    },
)


def _valid_event(line: str) -> dict | None:
    """The oracle: the event a line holds if it is JSON as specified (no NaN or Infinity) and
    keeps the contract, else None."""

    def no_constant(name: str) -> None:
        raise ValueError(name)

    try:
        ev = json.loads(line.strip(), parse_constant=no_constant)
    except (ValueError, RecursionError):
        return None
    return None if problems("driver-event", ev) else ev


def test_driver_lines_give_a_valid_event_or_one_line_problem(record_property):
    count = Counter(record_property, "driver event lines")
    dumped = st.one_of(JSON_VALUES, RANDOM_EVENT_OBJECTS, mutated_events(), valid_events()).map(json.dumps)
    lines = st.one_of(
        TEXT,
        st.text(max_size=200),
        _fragments(['"kind"', '"t_ns"', *(f'"{k}"' for k in EVENT_KINDS)]),
        dumped,
        st.tuples(dumped, st.sampled_from(["", " ", "\r", "\r\n", "\t"])).map(lambda t: t[1] + t[0] + t[1]),
        st.tuples(DEPTHS, st.sampled_from(["json-array", "json-object"])).map(lambda d: _deep(*d)),
    )

    @settings(max_examples=2000, **SETTINGS)
    @given(lines)
    def prop(line):
        count()
        ev, problem = parse_line(line)
        meant = _valid_event(line)
        if not line.strip():
            assert (ev, problem) == (None, None)
            count.saw("blank")
            return
        count.saw("event" if ev is not None else "problem")
        assert problem is None or (one_line(problem) and problem), problem
        if meant is not None:  # a valid event is never turned into a problem
            assert ev == meant
            assert problem is None or (meant["kind"] == "driver_error" and problem.startswith("reported an error"))
        else:
            assert ev is None
            assert problem.startswith(("printed a line that is not JSON", "printed an event that breaks the contract"))

    prop()
    count.done()


def test_every_valid_event_is_kept(record_property):
    count = Counter(record_property, "valid driver events")

    @settings(max_examples=600, **SETTINGS)
    @given(valid_events())
    def prop(ev):
        count()
        assert problems("driver-event", ev) == []
        got, problem = parse_line(json.dumps(ev))
        count.saw(ev["kind"] if ev["kind"] == "driver_error" else "other kinds")
        assert got == ev
        assert problem is None if ev["kind"] != "driver_error" else one_line(problem)

    prop()
    count.done()


# -- 4. schedules and faults ----------------------------------------------------

SECONDS = st.one_of(
    st.floats(min_value=0, max_value=1e4, allow_nan=False),
    st.integers(0, 100),
    FLOATS,
    st.sampled_from([-1, -0.0, 1e308, 10**308, 10**400, math.nan, math.inf, True]),
)
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
GOOD_SECONDS = st.floats(min_value=0, max_value=1e4, allow_nan=False) | st.integers(0, 100)
GOOD_STEP_ARGS = st.fixed_dictionaries(
    {
        "at_s": GOOD_SECONDS,
        "kind": st.sampled_from(["refuse", "reset", "blackhole", "kill", "pause", "restart", "partition"]),
        "target": st.sampled_from(["n1-client", "n1|n2,n3", "n1"]),
        "params": st.sampled_from([{}, {"stream": "upstream"}, {"stream": "both", "drop_existing": True}]),
    },
    optional={"for_s": GOOD_SECONDS | st.none(), "every_s": GOOD_SECONDS.filter(bool), "times": st.integers(1, 20)},
)
RANDOM_STEP_ARGS = st.fixed_dictionaries(
    {"at_s": SECONDS, "kind": KINDS, "target": TEXT, "params": FAULT_PARAMS},
    optional={
        "for_s": SECONDS | st.none(),
        "every_s": SECONDS | st.none(),
        # A count, as the annotation says; bounded: a schedule of a billion repeats is long, not wrong.
        "times": st.integers(-3, 60) | st.sampled_from([0, 10**12, True]) | st.sampled_from([math.nan, 2.0]),
    },
)


def _one_bad(kwargs: dict) -> st.SearchStrategy[dict]:
    """A valid step with one argument replaced by anything."""
    return st.sampled_from(["at_s", "for_s", "every_s", "times", "kind", "params"]).flatmap(
        lambda key: (SECONDS if key.endswith("_s") else JSON_VALUES).map(lambda v: {**kwargs, key: v})
    )


def _step_or_error(kwargs: dict) -> Step | None:
    try:
        step = Step(**kwargs)
    except UsageError as e:
        assert one_line(e.line()), e.line()
        return None
    if step.times > 1000:  # valid and huge: not expanded here (it would take its time, and be right)
        assume(False)
    return step


def test_schedules_expand_to_a_sorted_list_or_refuse(record_property):
    count = Counter(record_property, "schedules")
    schedules = st.tuples(
        st.lists(GOOD_STEP_ARGS | RANDOM_STEP_ARGS | GOOD_STEP_ARGS.flatmap(_one_bad), max_size=4),
        st.integers() | st.sampled_from([None, "seed", 1.5, [1]]),
        GOOD_SECONDS | SECONDS,
    )

    @settings(max_examples=1500, **SETTINGS)
    @given(schedules)
    def prop(args):
        count()
        step_args, seed, jitter = args
        steps = [_step_or_error(kw) for kw in step_args]
        if None in steps:
            count.saw("step refused")
            return
        try:
            sched = Schedule(steps, seed=seed, jitter_s=jitter)
        except UsageError as e:
            assert one_line(e.line()), e.line()
            count.saw("schedule refused")
            return
        count.saw("expanded")
        first, again = sched.expand(), sched.expand()
        assert first == again == sorted(first)
        assert first == Schedule(steps, seed=seed, jitter_s=jitter).expand()  # same seed, same list
        assert all(isinstance(t, float) and not math.isnan(t) and b in (0, 1) for t, b, _ in first)
        assert sum(b for _, b, _ in first) == sum(s.times for s in steps)
        begins = {i: t for t, b, i in first if b}
        assert all(t >= begins[i] for t, b, i in first if not b)  # nothing ends before it begins
        for s in steps:  # every step's fault is one the harness can run
            assert Fault(s.kind, s.target, s.params).kind in LINK_KINDS + SERVICE_KINDS

    prop()
    count.done()


def test_faults_construct_or_refuse(record_property):
    count = Counter(record_property, "faults")

    @settings(max_examples=1000, **SETTINGS)
    @given(KINDS, TEXT, GOOD_PARAMS | FAULT_PARAMS | st.sampled_from([None, [], "x", 1]))
    def prop(kind, target, params):
        count()
        try:
            f = Fault(kind, target, params)
        except UsageError as e:
            assert one_line(e.line()), e.line()
            count.saw("refused")
            return
        count.saw("fault")
        assert f.kind in LINK_KINDS + SERVICE_KINDS and f._streams()
        assert f.describe() == {"kind": kind, "target": target, "params": params}

    prop()
    count.done()


# -- 5. the command line --------------------------------------------------------

SCENARIOS = sorted(load_all())
COMMANDS = ["list", "run", "report", "compare", "replay", "compose", "baseline", "down"]
FLAGS = {
    "list": ["--verbose", "-v"],
    "run": ["--client", "--backend", "--out", "--seed", "--jobs", "-j", "--pairs-file", "--options"],
    "report": [],
    "compare": ["--html"],
    "replay": ["--out"],
    "compose": [],  # never --write
    "baseline": [],
    "down": [],
}
TAKES_VALUE = {"--client", "--backend", "--out", "--seed", "--jobs", "-j", "--pairs-file", "--options", "--html"}
POSITIONALS = {"run": (0, 3), "report": (1, 1), "compare": (2, 2), "replay": (1, 1), "baseline": (1, 1)}


def names_a_scenario(token: str) -> bool:
    return any(fnmatch(n, token) or n == token for n in SCENARIOS)


def safe_text(token: str) -> bool:
    """Text that is no scenario, never writes outside the test's folder (it runs in a temporary
    working folder: no absolute path, also not as --flag=/path, no way up), and that argv can
    carry (no NUL)."""
    return (
        token != "up"  # after a junk first token, any token may become the command
        and "\0" not in token
        and not token.startswith("/")
        and "=/" not in token
        and ".." not in token
        and not token.startswith("--w")  # compose --write, abbreviated
        and not names_a_scenario(token)
    )


def _recorded_entry() -> dict:
    with gzip.open(DATA / "recorded-suite.json.gz", "rt") as f:
        return json.load(f)["entries"][0]


@st.composite
def file_contents(draw, entry: dict, kind: str | None = None) -> str | bytes:
    """What a file handed to the command line holds: noise, JSON, a valid results file, a replay
    bundle of a scenario that does not exist."""
    kinds = ["results", "text", "bytes", "json", "results-bad", "bundle", "pairs", "toml", "results", "deep", "deep"]
    kind = kind or draw(st.sampled_from(kinds))
    if kind == "text":
        return draw(_fragments(['"schema"', '"fault-harness/results"', '"entries"']))
    if kind == "bytes":
        return draw(st.binary(max_size=30))
    if kind == "deep":
        depth = draw(st.sampled_from([1000, 5000, 100_000]) | DEPTHS)
        return _deep(depth, draw(st.sampled_from(["json-array", "json-object", "json-array", "toml-table"])))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES))
    if kind == "toml":
        return to_toml(draw(st.dictionaries(TEXT, TOML_VALUES, max_size=3)))
    if kind in ("results", "results-bad"):
        res = results.new("local", draw(st.integers(0, 5)), ["harness", "run"])
        results.finish(res, draw(st.booleans()))
        if draw(st.booleans()):
            res["entries"] = [copy.deepcopy(entry)]
        if kind == "results-bad":
            key = draw(st.sampled_from(["schema", "schema_version", "run", "entries", "complete"]))
            res[key] = draw(JSON_VALUES)
        return json.dumps(res)
    if kind == "pairs":  # none naming a real scenario: an empty list runs nothing
        pairs = draw(st.lists(st.lists(TEXT.filter(lambda t: t not in SCENARIOS), max_size=3), max_size=3))
        return json.dumps(pairs)
    if kind == "options":
        names = ["", "ReconnectWait", "reconnect", "connection_details"]
        return to_toml(draw(st.dictionaries(st.sampled_from(names) | TEXT, TOML_VALUES, max_size=2)))
    name = draw(TEXT.filter(lambda t: t not in SCENARIOS))
    data = replay.bundle(entry, "local", {}) | {"scenario": name}
    if draw(st.booleans()):
        data[draw(st.sampled_from(sorted(data)))] = draw(JSON_VALUES)
    return json.dumps(data)


def starts_nothing(content: str | bytes) -> bool:
    """A file that, if it ends up as --pairs-file (abbreviations included), names no real pair."""
    try:
        listed = json.loads(content)
    except (ValueError, RecursionError):
        return True
    return not isinstance(listed, list) or not any(name in str(listed) for name in SCENARIOS)


@st.composite
def argvs(draw, entry: dict) -> tuple[list[str], dict[str, str | bytes]]:
    """(argv, files to create first: name -> content). File values are written as `@name`."""
    files: dict[str, str | bytes] = {}

    def rarely() -> bool:  # one time in ten (hypothesis favours the ends of an integer range)
        return draw(st.sampled_from(range(10))) == 7

    def value(content_kind: str | None = None) -> str:
        what = (
            "file"
            if content_kind
            else draw(st.sampled_from(["file", "folder", "text", "file", "folder", "missing", "number", "a run"]))
        )
        if what == "text":
            return draw(TEXT.filter(safe_text))
        if what == "number":
            return str(draw(st.sampled_from([0, -1, 1, 2, 10**6, 10**30, -(10**30)]) | st.integers()))
        if what == "missing":
            odd = draw(st.sampled_from(["", "a\nb", "x\ry", "tab\tz", "\u2028", " ", "é", "[x]"]))
            return f"@missing-{odd}{draw(st.integers(0, 9))}" + draw(st.sampled_from(["", "/results.json"]))
        name = f"f{len(files)}" + draw(st.sampled_from(["", "", "a\nb", " c", "\u0085"]))
        content_kind = "results" if what == "a run" else content_kind
        content = draw(file_contents(entry, content_kind).filter(starts_nothing))
        if what in ("folder", "a run"):
            for inner in ["other"] if rarely() else ["results.json", "replay.json"]:  # what each command looks for
                files[f"{name}/{inner}"] = content
            return f"@{name}"
        name += draw(st.sampled_from(["", ".json", ".toml"]))
        files[name] = content
        return f"@{name}"

    def flag_value(flag: str) -> str:
        if flag in ("--seed", "--jobs", "-j") and draw(st.booleans()):
            return str(draw(st.sampled_from([0, -1, 1, 2, 4, 10**6, 10**30, -(10**30)]) | st.integers()))
        if flag == "--backend" and draw(st.booleans()):
            return draw(st.sampled_from(["local", "compose", "docker", ""]))
        if flag == "--client" and draw(st.booleans()):
            return draw(st.sampled_from(sorted(registry.all_drivers())))
        if flag in ("--pairs-file", "--options") and draw(st.booleans()):
            return value("pairs" if flag == "--pairs-file" else "options")
        return value()

    # Mostly well-formed (so that the commands' own checks are reached), sometimes not.
    junk_cmd = TEXT.filter(lambda t: safe_text(t) and t not in COMMANDS)
    cmd = draw(junk_cmd) if rarely() else draw(st.sampled_from(COMMANDS))
    argv = [cmd]
    lo, hi = POSITIONALS.get(cmd, (0, 0))
    wrong = rarely()
    for _ in range(draw(st.integers(max(0, lo - wrong), hi + wrong))):
        argv.append(value())
    real = FLAGS.get(cmd, [])
    for _ in range(draw(st.integers(0, 3)) if real else int(rarely())):
        if real and not rarely():
            flag = draw(st.sampled_from(real))
        else:
            flag = draw(st.sampled_from(["--junk", "-q", "-h"]) | TEXT.map("--{}".format).filter(safe_text))
        argv.append(flag)
        if flag in TAKES_VALUE or rarely():
            argv.append(flag_value(flag))
    if rarely():
        argv.insert(0, draw(st.sampled_from(["--junk", "-x"])))
    return argv, files


def _children() -> set[int]:
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(int(entry))
    return out


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """harness.cli.main(argv) in this process: (exit code, stdout, stderr). Restores the signal
    handlers main installs."""
    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse: usage errors (2), --help (0)
                code = e.code if isinstance(e.code, int) else 2
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def isolated_cli(tmp_path, monkeypatch):
    """State, reports and the working folder under tmp_path; every process start and compose
    --write refused and recorded."""
    state = tmp_path / "state"
    monkeypatch.setattr(paths, "STATE", state)
    monkeypatch.setattr(ports, "CLAIMS", state / "ports")
    monkeypatch.setattr(procs, "RECORDS", state / "procs")
    monkeypatch.setattr(paths, "REPORTS", tmp_path / "reports")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    started: list[object] = []

    def refuse(*args, **kwargs):
        started.append(args or kwargs)
        raise AssertionError(f"the command line tried to start or write something: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(compose_file, "write", refuse)
    return tmp_path, started


def test_command_line_gives_an_exit_code_and_one_line_errors(isolated_cli, record_property):
    tmp_path, started = isolated_cli
    count = Counter(record_property, "command lines")
    entry = _recorded_entry()
    children, threads = _children(), set(threading.enumerate())

    @settings(max_examples=1500, **SETTINGS)
    @given(argvs(entry))
    def prop(example):
        count()
        argv_spec, files = example
        base = tmp_path / f"ex{count.n}"
        for name, content in files.items():
            path = base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        argv = [str(base / a[1:]) if a.startswith("@") else a for a in argv_spec]
        assert not any(names_a_scenario(a) for a in argv), "a generated command could start a scenario"
        try:
            code, out, err = run_main(argv)
        finally:
            shutil.rmtree(base, ignore_errors=True)  # a report is a few MB
        kind = "ok" if code == 0 else "argparse" if "usage:" in err else "harness"
        count.saw(f"{argv[0] if argv[0] in COMMANDS else '(junk)'} {kind} {code}")
        assert isinstance(code, int) and code in (0, 2, 3), (code, err)
        assert "Traceback" not in err and "Traceback" not in out
        assert not started, started
        if code != 0 and "usage:" not in err:  # ours: exactly one line
            assert err.startswith("harness: ") and one_line(err.rstrip("\n")) and err.endswith("\n"), err

    prop()
    assert _children() <= children, "a process was left running"
    assert set(threading.enumerate()) <= threads, "a thread was left running"
    claims = tmp_path / "state" / "ports"
    assert not [p for p in claims.iterdir() if p.name.isdigit()] if claims.exists() else True
    count.done()


# -- regressions: each input that found a bug -----------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("o.toml", b"MaxReconnect = inf\n", "takes a whole number"),  # was OverflowError
        ("o.toml", b"MaxReconnect = nan\n", "takes a whole number"),  # was ValueError
        ("o.json", b'{"MaxReconnect": 1e400}', "takes a whole number"),  # was OverflowError
        ("o.toml", b"ReconnectWait = nan\n", "takes a duration"),  # was accepted
        ("o.toml", b"\xff\xfe", "is not UTF-8 text"),  # was UnicodeDecodeError
        ("o.json", b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),  # was RecursionError
        ("o.toml", b"a = " + b"[" * 5000 + b"]" * 5000, "is not valid TOML"),  # was RecursionError
    ],
)
def test_regression_options(tmp_path, name, raw, message):
    (tmp_path / name).write_bytes(raw)
    with pytest.raises(UsageError) as e:
        options.load(tmp_path / name, typed({"MaxReconnect": "count", "ReconnectWait": "ms"}))
    assert message in e.value.line() and one_line(e.value.line())


def test_regression_text_options_are_accepted(tmp_path):
    # A `text` option (connection_details, reconnect_object, ...) was refused as "is not text".
    (tmp_path / "o.toml").write_text('connection_details = "round-robin"\n')
    assert options.load(tmp_path / "o.toml", typed({"connection_details": "text"})) == {
        "connection_details": "round-robin"
    }
    (tmp_path / "o.toml").write_text("connection_details = 1\n")
    with pytest.raises(UsageError, match="takes non-empty text"):
        options.load(tmp_path / "o.toml", typed({"connection_details": "text"}))


@pytest.mark.parametrize("loader", [results.load, replay.load])
def test_regression_deep_json_is_one_usage_error(tmp_path, loader):
    (tmp_path / "x.json").write_text("[" * 100_000 + "]" * 100_000)  # was RecursionError
    with pytest.raises(UsageError) as e:
        loader(tmp_path / "x.json")
    assert one_line(e.value.line())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff", "is not valid TOML"),  # UnicodeDecodeError
        (b"deviation = 1\n", "must be a list"),  # TypeError
        (b"deviation = [1]\n", "must be a list"),  # AttributeError
        (b'[[deviation]]\nscenario = 1\nclient = "c"\ncheck = "k"\nevidence = 2\n', "must be text"),  # AttributeError
        (b"a = " + b"[" * 5000 + b"]" * 5000, "is not valid TOML"),  # RecursionError
    ],
)
def test_regression_baseline(tmp_path, raw, message):
    (tmp_path / "b.toml").write_bytes(raw)
    with pytest.raises(UsageError) as e:
        baseline.load(tmp_path / "b.toml")
    assert message in e.value.line() and one_line(e.value.line())
    with pytest.raises(UsageError, match="cannot read baseline"):  # IsADirectoryError
        baseline.load(tmp_path)


def test_regression_expectations(tmp_path):
    path = tmp_path / "e.toml"
    # seed = "" is allowed by the schema: was KeyError 'package', then IsADirectoryError in the quote check.
    path.write_text(
        to_toml(
            {
                "family": "x",
                "source": {"title": "t", "seed": ""},
                "expectation": [{"id": "a", "claim": "c", "quote": "q"}],
            }
        )
    )
    f = expectations.parse_file(path)
    assert expectations.quote_problem(f, f.expectations[0]).endswith("does not exist")
    # package = "": was ValueError from importlib.metadata.
    path.write_text(
        to_toml(
            {
                "family": "x",
                "source": {"title": "t", "package": "", "file": "f"},
                "expectation": [{"id": "a", "claim": "c", "quote": "q"}],
            }
        )
    )
    f = expectations.parse_file(path)
    assert "is not installed" in expectations.quote_problem(f, f.expectations[0])
    path.write_bytes(b"\xff")  # was UnicodeDecodeError
    with pytest.raises(EnvironmentFault, match=r"e\.toml is not valid TOML"):
        expectations.parse_file(path)


def test_regression_driver_lines():
    ev, problem = parse_line("[" * 100_000)  # was RecursionError: the reader thread died, the driver blocked
    assert ev is None and problem.startswith("printed a line that is not JSON")
    ev, problem = parse_line('{"t_ns": 1, "kind": "reconnect_delay_cb", "attempts": 1, "delay_ms": NaN}')
    assert ev is None and "not JSON" in problem  # NaN was accepted as a delay (and written to results.json)
    ev, problem = parse_line(json.dumps({"t_ns": 1, "kind": "driver_error", "error": "bad\noption\r\n"}))
    assert ev["error"] == "bad\noption\r\n" and problem == "reported an error: bad option"  # was two lines


@pytest.mark.parametrize(
    "make",
    [
        lambda: Step(math.nan, "refuse", "a"),  # was accepted: nan in the expanded list, unsorted
        lambda: Step(0, "refuse", "a", times=math.nan),  # was TypeError in expand
        lambda: Step(0, "refuse", "a", every_s=10**400, times=2),  # was OverflowError in expand
        lambda: Step(0, "bogus", "a"),  # was accepted, refused only once the schedule played (servers up)
        lambda: Step(0, "refuse", "a", {"stream": []}),  # was accepted, TypeError once played
        lambda: Fault("refuse", "a", {"stream": []}),  # was TypeError (unhashable)
        lambda: Fault("refuse", "a", None),  # was AttributeError
        lambda: Schedule([], seed=[1]),  # was TypeError in expand
        lambda: Schedule([], seed=None),  # was accepted: a random seed, another list at each expansion
        lambda: Schedule([], jitter_s=math.nan),  # was accepted: nan times
        lambda: Schedule([], jitter_s=-1),  # was accepted: starts before the schedule
    ],
)
def test_regression_schedules(make):
    with pytest.raises(UsageError) as e:
        make()
    assert one_line(e.value.line())


def test_regression_huge_repeat_period_expands():
    s = Schedule([Step(1, "refuse", "a", every_s=10**308, times=3)])  # was OverflowError (int + float)
    assert [t for t, _, _ in s.expand()] == [1.0, 1e308, math.inf]


def test_regression_error_with_a_newline_is_one_line(isolated_cli):
    code, _, err = run_main(["report", "a\nb"])  # the path was printed as is: two lines
    assert code == 2 and err.startswith("harness: ") and one_line(err.rstrip("\n"))
