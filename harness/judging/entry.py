"""Judging one entry from what it recorded, and nothing else, so that a recorded
entry can be judged again (tests, `harness stability`, a changed judge)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import expectations
from harness.drivers import versions
from harness.judging import invariants, metrics, outcome, wire_only
from harness.judging.judge import STALLED, Judge
from harness.judging.timeline import Timeline
from harness.noise import Windows, budget_ms
from harness.topology import get as get_topology
from harness.wire import dial_stalls

if TYPE_CHECKING:
    from harness.scenario import Scenario


def applicable_checks(sc: Scenario, exps: dict) -> list[str]:
    """The scenario's declared checks that have an expectation for this client."""
    return [c for c in sc.checks if c in exps]


def judge(entry: dict, sc: Scenario) -> tuple[dict, list[dict]]:
    """Metrics and checks of an entry. Raises if the scenario's judge is broken
    (the runner turns that into an error entry, never a verdict)."""
    client = versions.base(entry["client"])  # NAME@VERSION is held to NAME's documentation
    exps = expectations.for_client(client, entry["family"])
    applicable = applicable_checks(sc, exps)
    tl = Timeline(entry["events"], entry["faults"], entry["started_ns"], entry["ended_ns"])
    j = Judge(
        tl,
        entry["links"],
        exps,
        client,
        entry["actors"],
        applicable,
        budget_ms(entry.get("noise")),
        (entry.get("noise") or {}).get("p99_ms"),
        topology=entry.get("topology"),
        noise_windows=Windows(entry.get("noise"), entry["events"], entry["started_ns"], entry["ended_ns"]),
    )
    unsupported = entry.get("unsupported")
    if unsupported:
        for cid in applicable:
            j.not_measured(cid, unsupported)
    elif entry.get("app"):
        # The user's program printed nothing: every claim needs its events, so none is
        # judged, and no invariant (its messages are unknown); the wire says the rest.
        for cid in applicable:
            j.not_measured(cid, wire_only.reason(tl))
        wire = wire_only.metrics(tl, entry["app"]["links"], entry["faults"], get_topology(entry["topology"]))
        return wire, j.checks
    else:
        assert sc.judge_fn is not None, f"scenario {sc.name} has no judge"
        sc.judge_fn(j)
        missing = [c for c in applicable if c not in {x["id"] for x in j.checks}]
        if missing:
            raise AssertionError(f"judge gave no verdict for {', '.join(missing)}")
        invariants.judge(j, entry["family"])
        if stalls := dial_stalls(tl.select(source="proxy"), tl.t1_ns):
            j.metric("proxy_dial_stalls", stalls)
            j.undecide_all(stalled(stalls, tl.t0_ns), STALLED)
    return {**j.metrics, "client_vs_wire_ms": client_vs_wire(tl, entry["links"])}, j.checks


def stalled(stalls: list[dict], t0_ns: int) -> str:
    """Why a run whose proxy hung dialling cannot carry a verdict, with the figures."""
    said = "; ".join(
        f"{s['link']} {s['ms'] / 1000:.1f} s from {(s['from_ns'] - t0_ns) / 1e9:.1f} s into the run ({s['outcome']})"
        for s in stalls
    )
    return (
        f"the proxy hung dialling a server that had gone ({said}): Toxiproxy dials in its accept loop, so meanwhile "
        "its link accepted nothing and the client's attempts waited unseen"
    )


def judge_again(entry: dict, sc: Scenario) -> dict:
    """The entry judged anew from its record: metrics, checks and outcome replaced."""
    entry["metrics"], entry["checks"] = judge(entry, sc)
    entry["outcome"] = outcome.decide(entry)
    return entry


def client_vs_wire(tl: Timeline, links: dict[str, str]) -> dict | None:
    """Attempts seen both by a client (with their URL) and on the wire: client stamp
    minus wire stamp. A check of the shared clock and of the stamping path."""
    gaps = []
    for actor in {e["actor"] for e in tl.select(source="client")}:
        attempts = [a for a in tl.select(actor=actor, kind="attempt") if a.get("url")]
        wire = metrics.wire_connections(tl, list(links), tl.t0_ns)
        gaps += metrics.client_wire_gaps(attempts, wire, links)
    return metrics.stats(gaps)
