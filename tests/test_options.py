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
from harness.options import MAX_MS, OptionType, load, option_type

KNOWN = {
    "c": {
        "ReconnectWait": option_type("ms"),
        "AllowReconnect": option_type("bool"),
        "MaxReconnect": option_type("count", -1),
    }
}


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
        ("o.toml", 'ReconnectWait = "fast"\n', 'ReconnectWait = "fast", but c takes a duration in milliseconds'),
        ("o.toml", "ReconnectWait = true\n", "takes a duration in milliseconds"),
        ("o.toml", "AllowReconnect = 1\n", "AllowReconnect = 1, but c takes true or false"),
        ("o.toml", "MaxReconnect = 2.5\n", "takes a whole number"),
        # Seen: these passed the check and failed inside the Go driver, or wrapped around.
        ("o.toml", "MaxReconnect = 5.0\n", "MaxReconnect = 5.0, but c takes a whole number (no decimal point)"),
        ("o.toml", "MaxReconnect = 1e18\n", "from -1 to 9223372036854775807"),
        ("o.toml", "MaxReconnect = 9223372036854775808\n", "from -1 to 9223372036854775807"),
        ("o.toml", "MaxReconnect = -2\n", "from -1 to"),
        (
            "o.toml",
            "ReconnectWait = -1\n",
            f"ReconnectWait = -1, but c takes a duration in milliseconds from 0 to {MAX_MS}",
        ),
        ("o.toml", f"ReconnectWait = {MAX_MS + 1}\n", f"from 0 to {MAX_MS}"),
        ("o.toml", "ReconnectWait = inf\n", "from 0 to"),
        ("o.toml", "ReconnectWait = nan\n", "from 0 to"),
        ("o.json", '{"ReconnectWait": 1e400}', "from 0 to"),
        ("o.json", '{"MaxReconnect": 1' + "0" * 400 + "}", "from -1 to"),  # too big even for a float
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError) as e:
        load(tmp_path / name, KNOWN)
    assert message in e.value.line() and "\n" not in e.value.line()


def test_edges_of_a_range_are_allowed(tmp_path):
    (tmp_path / "o.toml").write_text(f"ReconnectWait = {MAX_MS}\nMaxReconnect = {2**63 - 1}\n")
    assert load(tmp_path / "o.toml", KNOWN) == {"ReconnectWait": MAX_MS, "MaxReconnect": 2**63 - 1}
    (tmp_path / "o.toml").write_text("ReconnectWait = 0.5\n")
    assert load(tmp_path / "o.toml", KNOWN) == {"ReconnectWait": 0.5}


def test_a_value_must_suit_every_client_that_has_the_option(tmp_path):
    types = {
        "a": {"Size": option_type("bytes", -1)},
        "b": {"Size": option_type("bytes")},
        "c": {"Other": option_type("bool")},
    }
    (tmp_path / "o.toml").write_text("Size = -1\n")
    with pytest.raises(UsageError, match="Size = -1, but b takes a size in bytes"):
        load(tmp_path / "o.toml", types)


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read options file"):
        load(tmp_path / "nope.toml", KNOWN)


def test_text_must_not_be_empty():
    assert not OptionType("text").accepts("") and OptionType("text").accepts("x")


def test_every_driver_toml_range_names_an_option_of_its_driver():
    # Runs each driver's --describe (no server).
    for spec in registry.all_drivers().values():
        types = registry.option_types(spec)
        assert all(types[name].kind in ("ms", "count", "bytes") for name, _, _ in spec.ranges), spec.name
    assert registry.option_types(registry.get("rhea"))["max_reconnect_delay"] == OptionType("ms", 0, 2**31 - 1)


def test_driver_toml_ranges(tmp_path, monkeypatch):
    go = registry.get("nats-go")
    monkeypatch.setattr(
        registry,
        "describe",
        lambda s: {"options": {"MaxReconnect": "count", "ReconnectBufSize": "bytes", "Timeout": "ms"}},
    )
    assert registry.option_types(go) == {
        "MaxReconnect": OptionType("count", -1, 2**63 - 1),
        "ReconnectBufSize": OptionType("bytes", -1, 2**63 - 1),
        "Timeout": OptionType("ms", 0, MAX_MS),
    }
    monkeypatch.setattr(registry, "describe", lambda s: {"options": {"Timeout": "ms"}})
    with pytest.raises(EnvironmentFault, match="gives a range for MaxReconnect, which the driver lacks"):
        registry.option_types(go)
    toml = tmp_path / "x" / "driver.toml"
    toml.parent.mkdir()
    toml.write_text('name = "x"\nfamily = "nats"\nlanguage = "go"\ncommand = ["x"]\n[options]\nA = { min = 1.5 }\n')
    monkeypatch.setattr(registry, "DRIVERS", tmp_path)
    registry.all_drivers.cache_clear()
    try:
        with pytest.raises(EnvironmentFault, match="option A must be a table of whole-number min and max"):
            registry.all_drivers()
    finally:
        registry.all_drivers.cache_clear()


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
