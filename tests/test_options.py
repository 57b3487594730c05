"""A user's options file."""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DEPTHS, EDGE_NUMBERS, SETTINGS, TEXT, TOML_VALUES, Counter, deep, fragments, one_line, to_toml

from harness import options
from harness.drivers import registry
from harness.errors import EnvironmentFault, UsageError
from harness.options import load

KNOWN = {"ReconnectWait": "ms", "AllowReconnect": "bool", "MaxReconnect": "count"}


def test_toml_and_json(tmp_path):
    (tmp_path / "o.toml").write_text("ReconnectWait = 500\nAllowReconnect = false\n")
    assert load(tmp_path / "o.toml", KNOWN) == {"ReconnectWait": 500, "AllowReconnect": False}
    (tmp_path / "o.json").write_text('{"MaxReconnect": -1}')
    assert load(tmp_path / "o.json", KNOWN) == {"MaxReconnect": -1}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("o.toml", "ReconnectWait = \n", "not valid TOML"),
        ("o.json", "{", "not valid JSON"),
        ("o.json", "[1]", "must hold a table"),
        ("o.toml", "Bogus = 1\n", "unknown option 'Bogus'"),
        ("o.toml", 'ReconnectWait = "fast"\n', "is not a duration in milliseconds"),
        ("o.toml", "ReconnectWait = true\n", "is not a duration in milliseconds"),
        ("o.toml", "AllowReconnect = 1\n", "is not true or false"),
        ("o.toml", "MaxReconnect = 2.5\n", "is not a whole number"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError) as e:
        load(tmp_path / name, KNOWN)
    assert message in e.value.line() and "\n" not in e.value.line()


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read options file"):
        load(tmp_path / "nope.toml", KNOWN)


# -- property: any options file ------------------------------------------------


@pytest.fixture(scope="module")
def option_maps() -> list[dict[str, str]]:
    """The real known-options maps (each driver's --describe), and their union."""
    try:
        maps = [registry.describe(spec)["options"] for spec in registry.all_drivers().values()]
    except EnvironmentFault as e:
        pytest.skip(f"drivers not set up: {e.line()}")
    return [*maps, {k: v for m in maps for k, v in m.items()}]


def kind_ok(kind: str, v: object) -> bool:
    """What a value of each option kind must be (docs/driver-contract.md)."""
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "text":
        return isinstance(v, str)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    if isinstance(v, int):
        return True
    return math.isfinite(v) and (kind == "ms" or v.is_integer())


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
        st.tuples(OPTION_SUFFIXES, fragments(words).map(str.encode), st.none()),
        st.tuples(OPTION_SUFFIXES, st.binary(max_size=40), st.none()),
        st.tuples(
            st.sampled_from([".toml", ".json"]),
            st.tuples(DEPTHS, st.sampled_from(["json-array", "json-object", "toml-array", "toml-table"])).map(
                lambda d: deep(*d).encode()
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
            got = options.load(path, known)
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
            options.load(path, {"ReconnectWait": "ms"})
        assert one_line(e.value.line()) and str(path) in e.value.line()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("o.toml", b"MaxReconnect = inf\n", "is not a whole number"),  # was OverflowError
        ("o.toml", b"MaxReconnect = nan\n", "is not a whole number"),  # was ValueError
        ("o.json", b'{"MaxReconnect": 1e400}', "is not a whole number"),  # was OverflowError
        ("o.toml", b"ReconnectWait = nan\n", "is not a duration"),  # was accepted
        ("o.toml", b"\xff\xfe", "is not UTF-8 text"),  # was UnicodeDecodeError
        ("o.json", b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),  # was RecursionError
        ("o.toml", b"a = " + b"[" * 5000 + b"]" * 5000, "is not valid TOML"),  # was RecursionError
    ],
)
def test_regression_options(tmp_path, name, raw, message):
    (tmp_path / name).write_bytes(raw)
    with pytest.raises(UsageError) as e:
        options.load(tmp_path / name, {"MaxReconnect": "count", "ReconnectWait": "ms"})
    assert message in e.value.line() and one_line(e.value.line())


def test_regression_text_options_are_accepted(tmp_path):
    # A `text` option (connection_details, reconnect_object, ...) was refused as "is not text".
    (tmp_path / "o.toml").write_text('connection_details = "round-robin"\n')
    assert options.load(tmp_path / "o.toml", {"connection_details": "text"}) == {"connection_details": "round-robin"}
    (tmp_path / "o.toml").write_text("connection_details = 1\n")
    with pytest.raises(UsageError, match="is not text"):
        options.load(tmp_path / "o.toml", {"connection_details": "text"})
