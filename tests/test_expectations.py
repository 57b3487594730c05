"""Expectations: quoted verbatim, well-formed, and every one of them judged somewhere."""

from __future__ import annotations

import copy
import dataclasses
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    DEPTHS,
    SETTINGS,
    TEXT,
    TOML_VALUES,
    Counter,
    deep,
    fragments,
    one_line,
    to_toml,
    value_at,
    value_paths,
)

from harness import expectations, paths
from harness.contracts import problems
from harness.drivers import registry
from harness.errors import EnvironmentFault, UsageError
from harness.scenario import load_all

FILES = expectations.files()


def test_the_seeds_are_there():
    assert paths.SEEDS.is_dir(), f"the documentation seeds are expected at {paths.SEEDS} (../shared/seeds)"


@pytest.mark.parametrize("exp", [(f, e) for f in FILES for e in f.expectations], ids=lambda fe: fe[1].id)
def test_every_quote_is_verbatim_in_its_source(exp):
    f, e = exp
    assert expectations.quote_problem(f, e) is None


def test_a_changed_quote_is_noticed():
    f = next(f for f in FILES if "seed" in f.source)
    e = f.expectations[0]
    bent = dataclasses.replace(e, quote=e.quote + " Surely.")
    assert "is not in" in expectations.quote_problem(f, bent)


def test_ids_are_unique_per_client():
    for spec in registry.all_drivers().values():
        ids = [e.id for f in FILES if f.family == spec.family or f.client == spec.name for e in f.expectations]
        assert len(ids) == len(set(ids)), spec.name


def test_variant_ids_name_an_existing_claim():
    """`X@doc` records what another document says about claim X: X must exist for that client."""
    for spec in registry.all_drivers().values():
        ids = set(expectations.for_client(spec.name, spec.family))
        for i in ids:
            if "@" in i:
                assert i.split("@")[0] in ids, f"{i}: no claim {i.split('@')[0]} for {spec.name}"


def test_every_expectation_is_judged_by_some_scenario():
    scenarios = load_all().values()
    for f in FILES:
        family = f.family or registry.get(f.client).family
        declared = {c for s in scenarios if s.family == family for c in s.checks}
        unjudged = [e.id for e in f.expectations if e.id.split("@")[0] not in declared and e.id not in declared]
        assert not unjudged, f"{f.path.name}: no scenario judges {unjudged}"


def test_every_declared_check_has_an_expectation():
    for s in load_all().values():
        known = {i for spec in registry.of_family(s.family) for i in expectations.for_client(spec.name, spec.family)}
        assert set(s.checks) <= known, f"{s.name} declares checks without expectations: {set(s.checks) - known}"


def test_timing_values_have_units():
    for f in FILES:
        for e in f.expectations:
            if isinstance(e.value, int | float) and not isinstance(e.value, bool):
                assert e.unit in ("ms", "bytes", "attempts", "pings", "port", "factor"), e.id


def test_every_expectation_says_what_a_check_shows_as_documented():
    """A value or a short form: scenario code never writes a documented string of its own."""
    bare = [f"{f.path.name}:{e.id}" for f in FILES for e in f.expectations if e.value is None and not e.short]
    assert bare == []


# -- property: any expectation file --------------------------------------------

REAL_EXPECTATIONS = {p.name: tomllib.loads(p.read_text()) for p in sorted(expectations.HERE.glob("*.toml"))}
EXPECTATION_KEYS = ["family", "client", "source", "expectation", "seed", "package", "file", "title"]
EXPECTATION_KEYS += ["id", "claim", "quote", "value", "unit"]


@st.composite
def mutated_expectations(draw) -> dict:
    """A real expectations file with keys dropped, values of the wrong type, extra keys, emptied lists."""
    doc = copy.deepcopy(REAL_EXPECTATIONS[draw(st.sampled_from(sorted(REAL_EXPECTATIONS)))])
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "retype", "extra", "empty", "duplicate", "source", "source"]))
        path = draw(st.sampled_from(value_paths(doc)))
        parent, last = (value_at(doc, path[:-1]), path[-1]) if path else (None, None)
        if op == "drop" and parent is not None:
            del parent[last]
        elif op == "retype" and parent is not None:
            parent[last] = draw(TOML_VALUES)
        elif op == "extra":
            target = value_at(doc, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(EXPECTATION_KEYS) | TEXT)] = draw(TOML_VALUES)
        elif op == "empty":
            target = value_at(doc, path)
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
        fragments(words).map(lambda t: (t.encode(), None)),
        st.binary(max_size=40).map(lambda b: (b, None)),
        st.tuples(DEPTHS, st.sampled_from(["toml-array", "toml-table"])).map(lambda d: (deep(*d).encode(), None)),
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


def test_real_expectation_files_parse():
    assert [f.path.name for f in expectations.files()] == sorted(REAL_EXPECTATIONS)
    for path in sorted(expectations.HERE.glob("*.toml")):
        assert expectations.parse_file(path).expectations


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


def test_a_maven_source_is_read_from_the_drivers_sources_jar(tmp_path):
    # jnats.toml quotes the javadoc in the sources jar the set-up put beside the driver's jars.
    path = tmp_path / "e.toml"
    source = {"title": "t", "package": "maven:io.nats:jnats", "file": "io/nats/client/Options.java"}
    for client, quote, problem in [
        ("nobody", "q", "is not installed for client nobody"),
        ("jnats", "not a sentence of jnats's javadoc", "is not in io/nats/client/Options.java"),
    ]:
        path.write_text(
            to_toml({"client": client, "source": source, "expectation": [{"id": "a", "claim": "c", "quote": quote}]})
        )
        f = expectations.parse_file(path)
        if client == "jnats" and not (paths.maven_build(registry.get("jnats").folder) / "sources").is_dir():
            pytest.skip("the jnats driver is not built: run make setup")
        assert problem in expectations.quote_problem(f, f.expectations[0])


def test_a_crate_quote_is_read_from_the_locked_version_without_doc_comment_markers(tmp_path, monkeypatch):
    f = next(f for f in FILES if f.source.get("package", "").startswith(expectations.CRATE))
    e = f.expectations[0]
    assert expectations.quote_problem(f, e) is None  # a quote spanning `///` lines reads as one sentence
    assert "is not in" in expectations.quote_problem(f, dataclasses.replace(e, quote=e.quote + " Surely."))
    monkeypatch.setenv("CARGO_HOME", str(tmp_path))
    assert "is not in cargo's registry sources" in expectations.quote_problem(f, e)
    orphan = dataclasses.replace(f, client="nats-go")  # a client without a Cargo.lock
    assert "has no Cargo.lock" in expectations.quote_problem(orphan, e)
