"""Judging a program that is not instrumented (`harness run --app`): what the wire
alone shows, per outage, and nothing inferred.

The wire is what Toxiproxy logged: connections accepted on each link and when
they closed (harness/wire.py). From it, for each fault of the run:

  attempts, attempts_per_link   connections accepted on the app's links from the
                                fault's start to the first lasting connection
                                (that one included)
  order                         the links of those attempts, in time order
  intervals_ms(_per_link)       the pauses between them
  lasting_connection            the first connection accepted outside a fault on
                                its link and still open LASTING_MS later
  heal_to_lasting_connection_ms from the heal to it (negative: the program was
                                back, through another link, before the heal)
  kept_connection_on            unfaulted links whose connection, open before the
                                fault, was still open at the end of its window

A refused link (its proxy disabled) accepts nothing, so the attempts made on it
never reach the wire: while one of the app's links is refused, its attempts, the
order and the intervals are not-measured with that reason, never guessed.
"""

from __future__ import annotations

from harness.judging.metrics import intervals_ms, ms, wire_connections
from harness.judging.timeline import Timeline
from harness.topology import Topology

# The reason of every claim check of an app entry.
NOT_INSTRUMENTED = "the program is not instrumented: judged from the wire alone (metrics wire_outages)"
# A connection that stays open this long after it was accepted is taken as the
# program connected: a blackholed or reset attempt is accepted too, and a refused
# upstream is closed by the proxy at once.
LASTING_MS = 200.0
# Fault kinds whose link accepts no connection, so attempts on it leave no trace.
UNSEEN = ("refuse",)
REFUSED = "the link was refused (proxy disabled), so attempts on it never reached the wire"


def fault_links(fault: dict, topology: Topology) -> list[str]:
    """The links a recorded fault acted on: its target links, or every link to its
    target service; none for a partition (routes between services)."""
    names = fault["target"].split(",")
    if all(n in {x.name for x in topology.links} for n in names):
        return names
    if fault["target"] in {s.name for s in topology.services}:
        return [x.name for x in topology.links_to(fault["target"])]
    return []


def _during(fault: dict, lo_ns: int, hi_ns: int) -> bool:
    """The fault was on at some time in [lo, hi] (one not ended is on to the end)."""
    return fault["start_ns"] <= hi_ns and (fault["end_ns"] is None or fault["end_ns"] >= lo_ns)


def faulted(link: str, t_ns: int, faults: list[dict], topology: Topology) -> bool:
    return any(_during(f, t_ns, t_ns) and link in fault_links(f, topology) for f in faults)


def lasting_connections(
    tl: Timeline, links: list[str], faults: list[dict], topology: Topology, after_ns: int
) -> list[dict]:
    """Connections accepted on `links` from `after_ns` on, outside any fault on their
    link, and still open LASTING_MS later (as far as the timeline reaches)."""
    out = []
    for c in wire_connections(tl, links, after_ns):
        if faulted(c["link"], c["t_ns"], faults, topology):
            continue
        end = c["closed_ns"] if c["closed_ns"] is not None else tl.t1_ns
        if c["closed_ns"] is None and end - c["t_ns"] < LASTING_MS * 1e6:
            continue  # too young to tell yet
        if end - c["t_ns"] >= LASTING_MS * 1e6:
            out.append(c)
    return out


def outage(tl: Timeline, links: list[str], faults: list[dict], topology: Topology, index: int) -> dict:
    """What the wire shows of the program in the run's `index`-th fault."""
    f = faults[index]
    start, heal = f["start_ns"], f["end_ns"]
    window_end = faults[index + 1]["start_ns"] if index + 1 < len(faults) else tl.t1_ns
    back = next((c for c in lasting_connections(tl, links, faults, topology, start) if c["t_ns"] < window_end), None)
    until = back["t_ns"] if back else window_end
    attempts = wire_connections(tl, links, start, until)
    refused = sorted(
        {x for g in faults if g["kind"] in UNSEEN and _during(g, start, until) for x in fault_links(g, topology)}
        & set(links)
    )
    unseen: dict[str, str] = {}
    for link in refused:
        unseen[f"attempts_per_link.{link}"] = REFUSED
    if refused:
        for name in ("attempts", "order", "intervals_ms", "first_attempt_after_fault_ms"):
            unseen[name] = f"{REFUSED} ({', '.join(refused)})"
    # A connection open before the fault that outlived its window on a link no fault
    # touched: nothing to come back from. (On a faulted link an open connection may
    # be blackholed: open on the wire, dead to the program.)
    touched = {x for g in faults if _during(g, start, until) for x in fault_links(g, topology)}
    kept = sorted(
        {
            c["link"]
            for c in wire_connections(tl, links, tl.t0_ns, start)
            if (c["closed_ns"] or tl.t1_ns) >= until and c["link"] not in touched
        }
    )
    if back is None and not kept:
        unseen["lasting_connection"] = f"no connection on the app's links stayed open {LASTING_MS:g} ms before " + (
            "the next fault" if index + 1 < len(faults) else "the run ended"
        )
    per_link = {x: [a["t_ns"] for a in attempts if a["link"] == x] for x in links}
    return {
        "fault": f["kind"],
        "target": f["target"],
        "start_ms": tl.rel_ms(start),
        "heal_ms": tl.rel_ms(heal) if heal is not None else None,
        "attempts": None if refused else len(attempts),
        "attempts_per_link": {x: None if x in refused else len(ts) for x, ts in per_link.items()},
        "order": None if refused else [a["link"] for a in attempts],
        "intervals_ms": None if refused else intervals_ms([a["t_ns"] for a in attempts]),
        "intervals_ms_per_link": {x: None if x in refused else intervals_ms(ts) for x, ts in per_link.items()},
        "first_attempt_after_fault_ms": ms(attempts[0]["t_ns"] - start) if attempts and not refused else None,
        "lasting_connection": {
            "link": back["link"],
            "after_fault_start_ms": ms(back["t_ns"] - start),
            "after_heal_ms": ms(back["t_ns"] - heal) if heal is not None else None,
        }
        if back
        else None,
        "heal_to_lasting_connection_ms": ms(back["t_ns"] - heal) if back and heal is not None else None,
        "kept_connection_on": kept,
        "not_measured": unseen,
    }


def unanswerable(tl: Timeline) -> list[str]:
    """The event kinds the scenario waited for that only an instrumented client reports
    (each wait timed out): where a script stopped early, this says why."""
    return list(dict.fromkeys(k for m in tl.marks("unanswerable_wait") for k in m.get("kinds", [])))


def reason(tl: Timeline) -> str:
    """Why an app entry's claims are not measured."""
    waited = unanswerable(tl)
    return NOT_INSTRUMENTED + (
        f"; the scenario waited for the client's {', '.join(waited)}, which only an instrumented client reports"
        if waited
        else ""
    )


def metrics(tl: Timeline, links: list[str], faults: list[dict], topology: Topology) -> dict:
    """Every wire metric of an app entry (results schema: metrics of an app entry)."""
    first = next(iter(lasting_connections(tl, links, faults, topology, tl.t0_ns)), None)
    seen = wire_connections(tl, links, tl.t0_ns)
    return {
        "judged_from": "wire",
        "connections_per_link": {x: sum(1 for c in seen if c["link"] == x) for x in links},
        "first_lasting_connection_ms": tl.rel_ms(first["t_ns"]) if first else None,
        "unanswerable_waits": unanswerable(tl),
        "wire_outages": [outage(tl, links, faults, topology, i) for i in range(len(faults))],
    }
