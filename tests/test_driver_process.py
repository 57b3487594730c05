"""A driver's event lines (harness/drivers/process.py: parse_line), property-based: every
line gives a valid event or one line saying what is wrong with it (strategies.py)."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DEPTHS, FLOATS, INTS, JSON_VALUES, SETTINGS, TEXT, Counter, deep, fragments, one_line

from harness.contracts import HERE as CONTRACTS
from harness.contracts import problems
from harness.drivers.process import parse_line

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
            # Every key may have been dropped already: then a new one.
            where = st.sampled_from(sorted(ev)) | TEXT if ev else TEXT
            ev[draw(where)] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
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
        fragments(['"kind"', '"t_ns"', *(f'"{k}"' for k in EVENT_KINDS)]),
        dumped,
        st.tuples(dumped, st.sampled_from(["", " ", "\r", "\r\n", "\t"])).map(lambda t: t[1] + t[0] + t[1]),
        st.tuples(DEPTHS, st.sampled_from(["json-array", "json-object"])).map(lambda d: deep(*d)),
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


def test_regression_driver_lines():
    ev, problem = parse_line("[" * 100_000)  # was RecursionError: the reader thread died, the driver blocked
    assert ev is None and problem.startswith("printed a line that is not JSON")
    ev, problem = parse_line('{"t_ns": 1, "kind": "reconnect_delay_cb", "attempts": 1, "delay_ms": NaN}')
    assert ev is None and "not JSON" in problem  # NaN was accepted as a delay (and written to results.json)
    ev, problem = parse_line(json.dumps({"t_ns": 1, "kind": "driver_error", "error": "bad\noption\r\n"}))
    assert ev["error"] == "bad\noption\r\n" and problem == "reported an error: bad option"  # was two lines
