"""Expectations: quoted verbatim, well-formed, and every one of them judged somewhere."""

from __future__ import annotations

import dataclasses

import pytest

from harness import expectations, paths
from harness.drivers import registry
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
                assert e.unit in ("ms", "bytes", "attempts", "pings", "port"), e.id


def test_every_expectation_says_what_a_check_shows_as_documented():
    """A value or a short form: scenario code never writes a documented string of its own."""
    bare = [f"{f.path.name}:{e.id}" for f in FILES for e in f.expectations if e.value is None and not e.short]
    assert bare == []
