"""Reconnect configurations over two outages (scenarios/configs.py): the pure rules,
the judges on recorded entries (and on those altered so that a finding must change),
and the drivers refusing what their library would not take or would ignore."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.drivers import registry
from harness.judging.entry import judge
from harness.judging.schedules import limit_counted, starts_afresh
from harness.scenario import load_all

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def entries() -> dict[tuple[str, str], dict]:
    """A real run of every configs scenario for rhea, proton-python, nats-go and jnats."""
    with gzip.open(DATA / "recorded-configs.json.gz", "rt") as f:
        return {(e["scenario"], e["client"]): e for e in json.load(f)["entries"]}


def judged(entry: dict) -> tuple[dict, dict[str, str]]:
    metrics, checks = judge(copy.deepcopy(entry), load_all()[entry["scenario"]])
    return metrics, {c["id"]: c["verdict"] for c in checks}


# -- the pure rules ---------------------------------------------------------------


def test_limit_counted():
    assert limit_counted(3, 4, 4) == "per outage"
    assert limit_counted(3, 1, 4) == "per connection"
    assert limit_counted(3, 2, 4) == "neither"


def test_starts_afresh_within_twice_the_slack():
    assert starts_afresh(200.0, 205.0) is True
    assert starts_afresh(200.0, 800.0) is False
    assert starts_afresh(None, 200.0) is None


def test_configured_schedule_doubles_to_the_cap():
    configs = sys.modules[load_all()["amqp.configs.delays"].module]
    assert configs.configured_schedule(5, 200, 800) == [200, 400, 800, 800, 800]


# -- recorded runs ------------------------------------------------------------------


def test_rhea_delays_follow_the_options_in_both_outages(entries):
    metrics, v = judged(entries["amqp.configs.delays", "rhea"])
    assert v["max_reconnect_delay"] == "conforms"
    assert metrics["second_outage_starts_afresh"] is True


def test_rhea_delays_off_the_options_deviate(entries):
    """Every delay of the second outage 300 ms longer: not the configured schedule."""
    e = copy.deepcopy(entries["amqp.configs.delays", "rhea"])
    second = e["faults"][1]["start_ns"]
    n = 0
    for x in e["events"]:
        if x.get("actor") == "client" and x["kind"] == "attempt_failed" and x["t_ns"] > second:
            n += 1
            x["t_ns"] += n * 300_000_000
    e["events"].sort(key=lambda x: x["t_ns"])
    assert judged(e)[1]["max_reconnect_delay"] == "deviates"


def test_proton_backoff_continues_into_the_second_outage(entries):
    """proton's Backoff object hands out one iterator for the connection's life."""
    metrics, _ = judged(entries["amqp.configs.delays", "proton-python"])
    assert metrics["second_outage_starts_afresh"] is False
    first, second = metrics["outages"]
    assert first["first_delay_ms"] < 300 and second["first_delay_ms"] > 700


@pytest.mark.parametrize(
    "scenario,client,counted",
    [
        ("amqp.configs.fixed-limit", "rhea", "per outage"),
        ("amqp.configs.list", "proton-python", "per outage"),
        ("amqp.configs.max-tries", "proton-python", "per connection"),
    ],
)
def test_how_each_limit_counts(entries, scenario: str, client: str, counted: str):
    metrics, _ = judged(entries[scenario, client])
    assert metrics["limit_counted"] == counted
    assert metrics["came_back_after_second_outage"] is False
    # A fixed delay looks the same fresh or continued: not said.
    assert metrics["second_outage_starts_afresh"] is None


def test_rhea_function_argument_changes_per_outage(entries):
    metrics, _ = judged(entries["amqp.configs.function", "rhea"])
    first, second = metrics["library_argument_per_outage"]
    assert len(first) == len(second) == 1 and second[0] == first[0] + 1


@pytest.mark.parametrize("client", ["nats-go", "jnats"])
def test_nats_custom_delay_in_both_outages(entries, client: str):
    metrics, v = judged(entries["nats.configs.custom-delay", client])
    assert v["CustomReconnectDelayCB.delay"] == "conforms"
    assert metrics["callback_count_starts_afresh"] is True


# -- the drivers refuse what they cannot pass on --------------------------------------


def run_config(name: str, options: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "contract": 1,
                "client": name,
                "servers": ["amqp://127.0.0.1:1"],
                "options": options,
                "workload": {"subject": "t.configs", "subscribe": False, "publish": None},
            }
        )
    )
    return subprocess.run(
        [*registry.get(name).argv(), str(cfg)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    "name,options,says",
    [
        ("proton-python", {"reconnect_delays": "300,soon"}, "reconnect_delays"),
        ("proton-python", {"reconnect_delays": "300", "initial_reconnect_delay": 100}, "give one"),
        ("proton-python", {"backoff_max_tries": 0}, "backoff_max_tries"),
        ("proton-python", {"reconnect": False, "backoff_max_tries": 3}, "reconnect=false"),
        ("rhea", {"reconnect_delay": 500, "reconnect_function": "fixed"}, "give one"),
        ("rhea", {"reconnect_delay": 500, "initial_reconnect_delay": 100}, "ignores"),
        ("rhea", {"reconnect_function": "doubling", "reconnect_limit": 3}, "reconnect_limit"),
        ("rhea", {"reconnect_function": "sometimes"}, "reconnect_function"),
    ],
)
def test_a_reconnect_value_the_driver_cannot_pass_is_one_driver_error(
    name: str, options: dict, says: str, tmp_path: Path
):
    r = run_config(name, options, tmp_path)
    lines = r.stdout.splitlines()
    assert r.returncode == 2 and len(lines) == 1, f"stdout {r.stdout!r}, stderr {r.stderr!r}"
    ev = json.loads(lines[0])
    assert ev["kind"] == "driver_error" and says in ev["error"], ev
    assert "Traceback" not in r.stderr
