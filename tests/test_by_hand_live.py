"""Reproducing an outage by hand, live: two named topologies side by side (real
Toxiproxy and nats-server on the local backend), a fault on one from one `harness`
process, healed from another, and nothing left once both are down."""

from __future__ import annotations

import json
import uuid

from support import poll
from test_cli import Harness, assert_one_line, claimed_ports, first_line_from, refuses

from harness import paths
from harness.standing_faults import FILENAME


def _ok(r) -> str:
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.stdout


def test_two_named_topologies_a_fault_on_one_and_its_heal(harness: Harness):
    tag = uuid.uuid4().hex[:8]
    a, b = f"a-{tag}", f"b-{tag}"
    _ok(harness.run("up", "--topology", "nats-single", "--name", a, timeout=90))
    _ok(harness.run("up", "--topology", "nats-single", "--name", b, timeout=90))
    assert_one_line(harness.run("up", "--topology", "nats-single", "--name", a), 2, "already running", a)
    assert len(harness.children()) == 4  # toxiproxy-server and n1 of each

    shown = {t["name"]: t for t in json.loads(_ok(harness.run("status", "--json")))["topologies"]}
    assert set(shown) == {a, b}
    link = {n: next(x for x in t["links"] if x["name"] == "n1-client") for n, t in shown.items()}
    assert link[a]["listen"] != link[b]["listen"] and shown[a]["toxiproxy"]["api"] != shown[b]["toxiproxy"]["api"]
    assert {x["state"] for t in shown.values() for x in t["links"]} == {"enabled"}
    assert [(s["name"], s["state"]) for s in shown[a]["services"]] == [("n1", "running")]
    url = {n: f"nats://{x['listen']}" for n, x in link.items()}
    assert first_line_from(url[a]).startswith("INFO") and first_line_from(url[b]).startswith("INFO")

    _ok(harness.run("fault", a, "refuse", "n1-client"))
    assert refuses(url[a]), "the refused link still accepts"
    assert first_line_from(url[b]).startswith("INFO"), "the other topology was cut too"
    st = json.loads(_ok(harness.run("status", a, "--json")))["topologies"][0]
    assert next(x["state"] for x in st["links"] if x["name"] == "n1-client") == "disabled"
    assert [(f["kind"], f["target"]) for f in st["faults_on"]] == [("refuse", "n1-client")]

    # A service fault, healed by a later process than the one that applied it.
    _ok(harness.run("fault", a, "latency", "n1-observer", "latency_ms=300"))
    _ok(harness.run("fault", a, "kill", "n1"))
    st = json.loads(_ok(harness.run("status", a, "--json")))["topologies"][0]
    assert [(s["name"], s["state"]) for s in st["services"]] == [("n1", "stopped")]
    toxics = next(x["toxics"] for x in st["links"] if x["name"] == "n1-observer")
    assert {t["type"] for t in toxics} == {"latency"} and toxics[0]["attributes"]["latency"] == 300

    healed = _ok(harness.run("fault", a, "heal", timeout=60))
    assert healed.count("Healed") == 3, healed
    assert first_line_from(url[a]).startswith("INFO"), "heal did not restore the link"
    st = json.loads(_ok(harness.run("status", a, "--json")))["topologies"][0]
    assert st["faults_on"] == [] and all(x["toxics"] == [] for x in st["links"])
    assert [(s["name"], s["state"]) for s in st["services"]] == [("n1", "running")]

    log = [json.loads(x) for x in (paths.REPORTS / "up" / a / FILENAME).read_text().splitlines()]
    assert [(e["action"], e["id"]) for e in log] == [
        ("apply", 1),
        ("apply", 2),
        ("apply", 3),
        ("revert", 2),
        ("revert", 1),
        ("revert", 3),
    ]
    assert all(e["start_ns"] < e["applied_ns"] for e in log if e["action"] == "apply")
    assert all(e["end_ns"] < e["reverted_ns"] for e in log if e["action"] == "revert")

    # What was done when: in status (as JSON and for a person), and after down in a report of its folder.
    st = json.loads(_ok(harness.run("status", a, "--json")))["topologies"][0]
    assert [(x["action"], x["id"]) for x in st["fault_log"]] == [(e["action"], e["id"]) for e in log]
    assert all(x["took_ms"] is not None and x["at"] for x in st["fault_log"])
    assert _ok(harness.run("status", a)).count(" UTC  #") == 6
    assert _ok(harness.run("down", a, timeout=60)).startswith(f"Stopped {a}: 2 process(es)")
    shown = _ok(harness.run("report", str(paths.REPORTS / "up" / a)))
    assert shown.startswith(f"Fault log of {paths.REPORTS / 'up' / a} (6 actions") and "#3 revert kill n1" in shown
    assert [t["name"] for t in json.loads(_ok(harness.run("status", "--json")))["topologies"]] == [b]
    assert first_line_from(url[b]).startswith("INFO")
    _ok(harness.run("down", b, timeout=60))
    assert _ok(harness.run("status")).startswith("No topology")
    assert poll(lambda: harness.children() == {}, 10), f"still running after down: {harness.children()}"
    assert claimed_ports(harness.state) == set(), "down NAME did not release the port claims"
    assert poll(lambda: all(refuses(u) for u in url.values()), 10), url
