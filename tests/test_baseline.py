"""The baseline gate, and the committed baseline itself."""

from __future__ import annotations

import copy
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

from harness import baseline, expectations
from harness.drivers import registry
from harness.errors import UsageError
from harness.judging import invariants, outcome
from harness.scenario import load_all


def entry(checks: dict[str, str], status: str = "ok") -> dict:
    e = {
        "scenario": "s",
        "client": "c",
        "status": status,
        "error": "boom" if status != "ok" else None,
        "library": "lib",
        "client_version": "1",
        "checks": [
            {"id": k, "verdict": v, "documented": 1, "observed": 2, "unit": None, "detail": "d"}
            for k, v in checks.items()
        ],
    }
    e["outcome"] = outcome.decide(e)  # as the runner stores it
    return e


KNOWN = {("s", "c", "A"): baseline.Known("s", "c", "A", "A deviates because ...")}


def test_known_deviation_passes_new_one_fails():
    assert baseline.compare(entry({"A": "deviates", "B": "conforms"}), KNOWN) == []
    problems = baseline.compare(entry({"A": "deviates", "B": "deviates"}), KNOWN)
    assert len(problems) == 1 and problems[0].startswith("new deviation B")


@pytest.mark.parametrize("now", ["conforms", "not-measured"])
def test_known_deviation_that_disappeared_fails(now):
    problems = baseline.compare(entry({"A": now}), KNOWN)
    assert len(problems) == 1 and "disappeared" in problems[0] and now in problems[0]


def test_harness_error_fails():
    assert baseline.compare(entry({}, status="error"), KNOWN) == ["harness error: boom"]


def test_other_scenarios_are_not_judged_by_this_entry():
    other = {("t", "c", "A"): baseline.Known("t", "c", "A", "x")}
    assert baseline.compare(entry({"A": "conforms"}), other) == []


def test_generated_entries_load_back(tmp_path):
    text = baseline.toml_for(
        [
            entry({"A": "deviates", "B": "conforms"})
            | {
                "checks": [
                    {
                        "id": "A",
                        "verdict": "deviates",
                        "documented": 1,
                        "observed": [2, 3],
                        "unit": "ms",
                        "detail": 'said "x"',
                    }
                ]
            }
        ]
    )
    path = tmp_path / "b.toml"
    path.write_text(text)
    assert list(baseline.load(path)) == [("s", "c", "A")]


def test_malformed_baseline_is_one_clear_error(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('[[deviation]]\nscenario = "s"\n')
    with pytest.raises(UsageError, match="lacks client, check, evidence"):
        baseline.load(path)
    path.write_text("[[deviation]\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        baseline.load(path)


def test_committed_baseline_names_real_scenarios_clients_and_checks():
    known = baseline.load()
    scenarios = load_all()
    for (sc, cl, cid), k in known.items():
        assert sc in scenarios, f"baseline names unknown scenario {sc}"
        spec = registry.get(cl)
        assert spec.family == scenarios[sc].family
        if cid.startswith("invariant."):
            names = {*invariants.STATEMENTS, "liveness"}  # liveness has its own module (judging/liveness.py)
            assert cid.removeprefix("invariant.") in names, f"baseline names unknown invariant {cid}"
        else:
            assert cid in expectations.for_client(cl, spec.family), f"baseline names unknown check {cid}"
            assert cid in scenarios[sc].checks or cid.split("@")[0] in scenarios[sc].checks
        assert len(k.evidence) > 40, f"{sc}/{cl}/{cid}: evidence should say what was seen and why"
    assert tomllib.loads(baseline.DEFAULT.read_text()) is not None


# -- property: any baseline ----------------------------------------------------

REAL_BASELINE = tomllib.loads(baseline.DEFAULT.read_text())
BASELINE_KEYS = ["deviation", "scenario", "client", "check", "evidence"]


@st.composite
def mutated_baselines(draw) -> dict:
    """The real baseline, a few deviations of it, with keys dropped, values retyped, extras added."""
    deviations = copy.deepcopy(REAL_BASELINE.get("deviation", []))
    doc = {"deviation": draw(st.lists(st.sampled_from(deviations), max_size=3)) if deviations else []}
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(value_paths(doc)))
        op = draw(st.sampled_from(["drop", "retype", "extra", "empty", "field"]))
        target = value_at(doc, path)
        devs = doc.get("deviation")
        tables = [d for d in devs if isinstance(d, dict)] if isinstance(devs, list) else []
        if op == "field" and tables:  # one field of one deviation, of another type
            draw(st.sampled_from(tables))[draw(st.sampled_from(BASELINE_KEYS[1:]))] = draw(TOML_VALUES)
        if op == "drop" and path:
            del value_at(doc, path[:-1])[path[-1]]
        elif op == "retype" and path:
            value_at(doc, path[:-1])[path[-1]] = draw(TOML_VALUES | st.just(""))
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
        fragments([*BASELINE_KEYS, "[[deviation]]", '"""']).map(str.encode),
        st.binary(max_size=40),
        st.tuples(DEPTHS, st.sampled_from(["toml-array", "toml-table"])).map(lambda d: deep(*d).encode()),
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


def test_known_deviations_of_skipped_scenarios_are_said_to_be_unjudged():
    known = {
        ("amqp.router.broker-lost", "rhea", "router.connector.reconnect"): baseline.Known(
            "amqp.router.broker-lost", "rhea", "router.connector.reconnect", "2 s"
        ),
        ("amqp.single.refused", "rhea", "x"): baseline.Known("amqp.single.refused", "rhea", "x", "y"),
    }
    skipped = {
        "scenario": "amqp.router.broker-lost",
        "client": "rhea",
        "outcome": {"result": "skipped", "reason": "no router"},
    }
    ran = {"scenario": "amqp.single.refused", "client": "rhea", "outcome": {"result": "deviates", "reason": None}}
    note = baseline.unjudged([skipped, ran], known)
    assert note == "baseline: 1 known deviation not judged, their scenarios skipped (no router); not counted as holding"
    assert baseline.unjudged([ran], known) is None


def test_a_known_deviation_left_undecided_by_noise_is_said_not_failed():
    """Timing noise neither confirms nor refutes a known deviation: the gate does not
    call it disappeared, and the summary says it was not judged."""
    key = ("nats.storm.restart", "nats-py", "ReconnectJitter.storm")
    known = {key: baseline.Known(*key, "no jitter")}
    check = {"id": key[2], "verdict": "not-measured", "why": "noise", "documented": 100, "observed": None}
    entry = {"scenario": key[0], "client": key[1], "outcome": {"result": "not-measured"}, "checks": [check]}
    assert baseline.compare(entry, known) == []
    note = baseline.unjudged([entry], known)
    assert note == (
        "baseline: 1 known deviation not judged, left undecided by the run's timing noise "
        "(nats.storm.restart / nats-py / ReconnectJitter.storm); not counted as holding"
    )
    del check["why"]  # not-measured for another reason: the known deviation is gone
    assert "disappeared" in baseline.compare(entry, known)[0]


def test_a_known_deviation_left_undecided_by_a_stalled_proxy_is_said_not_failed():
    """A proxy that hung dialling (compose: rhea's broker-down entry ran wholly inside
    one) neither confirms nor refutes a known deviation, as noise does not; the two
    reasons are said apart."""
    stalled = ("amqp.single.broker-down", "rhea", "reconnect.growth")
    noisy = ("nats.storm.restart", "nats-py", "ReconnectJitter.storm")
    known = {k: baseline.Known(*k, "known") for k in (stalled, noisy)}
    entries = [
        {
            "scenario": k[0],
            "client": k[1],
            "outcome": {"result": "not-measured"},
            "checks": [{"id": k[2], "verdict": "not-measured", "why": why, "documented": 1, "observed": None}],
        }
        for k, why in ((stalled, "proxy-stalled"), (noisy, "noise"))
    ]
    assert [baseline.compare(e, known) for e in entries] == [[], []]
    assert baseline.unjudged(entries, known) == (
        "baseline: 2 known deviations not judged, 1 left undecided by the run's timing noise "
        "(nats.storm.restart / nats-py / ReconnectJitter.storm); 1 left undecided by a proxy that hung dialling a "
        "server gone (amqp.single.broker-down / rhea / reconnect.growth); not counted as holding"
    )


def test_an_intermittent_known_deviation_may_come_and_go():
    key = ("nats.fates.reset", "nats-go", "invariant.no-silent-loss")
    known = {key: baseline.Known(*key, "1 message lost in 1 of 3 runs", intermittent=True)}
    held = {"id": key[2], "verdict": "holds", "documented": None, "observed": {}, "detail": ""}
    entry = {"scenario": key[0], "client": key[1], "outcome": {"result": "holds"}, "checks": [held]}
    assert baseline.compare(entry, known) == []
    entry["checks"] = [{**held, "verdict": "violated"}]
    assert baseline.compare(entry, known) == []


def test_intermittent_must_be_true_or_false(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('[[deviation]]\nscenario = "s"\nclient = "c"\ncheck = "x"\nevidence = "e"\nintermittent = "yes"\n')
    with pytest.raises(UsageError, match="intermittent must be true or false"):
        baseline.load(path)
