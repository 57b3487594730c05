"""Invariants: what every client is held to whatever its documentation says.

Judged for every entry in which the client under test published messages that
an unfaulted witness subscribed to. Their verdicts are their own words (a claim
of the documentation conforms or deviates; an invariant holds or is violated),
and a fate is never inferred: a message is lost only when the witness was
connected throughout and the run waited after the last publish.

  no-silent-loss  every message the library accepted was delivered, or the
                  application was told (a refused, released, modified outcome,
                  or a send the library reported failed after accepting it);
                  one accepted within 100 ms of a fault's start (or, where the
                  library reports settlements, within the longest a message
                  was seen to wait for its settlement just before), in flight
                  at its instant, is counted but not judged: whether one is is chance;
                  nor one accepted once the fault that took the publisher's
                  last connection began, when it never had a connection again
                  before it was stopped, still trying (not closed) on a path
                  that had not healed: the library had nowhere to send it, and
                  it is still in doubt; nor one accepted before the first the
                  witness received, before any fault: the witness's interest
                  had not reached the publisher's server yet (NATS propagates a
                  subscription across a cluster's routes after the SUB; under
                  load that took 880 ms of publishing), so it was never deliverable
  no-duplicates   no message delivered twice, where the mode promises it
                  (at-most-once: NATS core publish)
  order           the witness received the publisher's messages in the order
                  they were published; an older one accepted at a fault's
                  instant that arrived after a newer one is counted, not
                  judged: in flight on the old connection, it raced the new one
  liveness        after a fault on the publisher's path heals, it is connected
                  again and its messages flow, within a bound from its own
                  reconnect schedule (harness/judging/liveness.py)
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from harness.judging import liveness
from harness.judging.judge import Judge
from harness.judging.liveness import CAUGHT_UP_MS
from harness.judging.outage import instant_pad_ms

STATEMENTS = {
    "no-silent-loss": "every accepted message is delivered, or the application is told",
    "no-duplicates": "no message is delivered twice where the mode is at-most-once",
    "order": "messages arrive in the order the publisher sent them",
}
# How long the witness must go on after the publisher stopped, for what was in
# flight to arrive (the scenarios' drain waits are 1.5 s).
DRAIN_MS = 1000.0
# The application was told: the peer's outcome said the message was not taken.
TOLD = ("rejected", "released", "modified")
# Delivery mode as the drivers run it (docs/driver-contract.md): NATS core
# publish; AMQP per workload.publish.settlement. At most once promises no duplicate.
MODES = {
    ("nats", None): "at-most-once",
    ("amqp", "unsettled"): "at-least-once (unsettled sends, settlement reported, not awaited)",
    ("amqp", "awaited"): "at-least-once (unsettled sends, each settlement awaited before the next)",
    ("amqp", "presettled"): "at-most-once (pre-settled sends)",
}


def delivery_mode(family: str, workload: dict | None) -> str:
    """The delivery mode the publisher ran in."""
    if family != "amqp":
        return MODES.get((family, None), "unknown")
    return MODES[("amqp", ((workload or {}).get("publish") or {}).get("settlement", "unsettled"))]


def applies(j: Judge, publisher: str = "client") -> list[str]:
    """The witnesses of `publisher`: actors subscribed to the subject it publishes on."""
    mine = j.actors.get(publisher)
    if not mine or not (mine.get("workload") or {}).get("publish"):
        return []
    subject = mine["workload"]["subject"]
    return [
        a
        for a, x in j.actors.items()
        if a != publisher and (x.get("workload") or {}).get("subscribe") and x["workload"]["subject"] == subject
    ]


def judge(j: Judge, family: str, publisher: str = "client") -> None:
    """Every invariant for `publisher`, if it published to a witness."""
    witnesses = applies(j, publisher)
    if not witnesses:
        return
    accepted = [e["seq"] for e in j.tl.select(actor=publisher, kind="published")]
    why = _cannot_judge(j, publisher, witnesses, accepted)
    mode = delivery_mode(family, j.actors[publisher].get("workload"))
    at_most_once = mode.startswith("at-most-once")
    j.metric("delivery_mode", mode)
    if why:
        for iid in STATEMENTS:
            if iid != "no-duplicates" or at_most_once:
                j.invariant(iid, "not-measured", None, why, statement=STATEMENTS[iid], mode=mode)
        liveness.judge(j, family, publisher, witnesses, why, mode)
        return
    received = [e["seq"] for e in j.tl.select(kind="received") if e["actor"] in witnesses]
    times = Counter(received)
    told = {e["seq"] for e in j.tl.select(actor=publisher, kind="settled") if e.get("outcome") in TOLD}
    # An asynchronous send API tells its failures later (JMS CompletionListener.onException).
    told |= {e["seq"] for e in j.tl.select(actor=publisher, kind="send_failed")}
    lost = [s for s in accepted if times[s] == 0]
    silent = [s for s in lost if s not in told]
    fates = {
        "accepted": len(accepted),
        "delivered": sum(1 for s in accepted if times[s] >= 1),
        "lost_reported": len(lost) - len(silent),
        "lost_silently": len(silent),
        "duplicated": sum(1 for s in accepted if times[s] > 1),
    }
    j.metric("fates", fates)
    settle = settlement_ms(j, publisher)
    if settle is not None:
        j.metric("settlement_before_fault_ms", settle)
    late = writer_late_ms(j, publisher)
    phase = phases(j, publisher, settle or 0.0)
    pad = round(instant_pad_ms(late), 3)
    reach = round(instant_pad_ms(late, settle or 0.0), 3)
    j.metric("fates_by_phase", by_phase(phase, times, told))
    # In flight at the instant of a fault is chance (one run loses the message that
    # was on the wire, the next has none there): counted, shown, not judged.
    judged = [s for s in silent if phase.get(s) != "at_the_instant"]
    in_flight = len(silent) - len(judged)
    # A witness still receiving when it stopped had not caught up (a slow witness on
    # a busy machine): what comes after the last it got may still have been on its
    # way, in order. Counted, not judged; a gap below it is a loss.
    pending = _not_arrived(j, witnesses, judged, received)
    judged = [s for s in judged if s not in pending]
    j.metric("not_arrived_when_witness_stopped", len(pending))
    early = _before_listening(j, publisher, judged, received)
    judged = [s for s in judged if s not in early]
    if early:
        j.metric("accepted_before_witness_listened", len(early))
    stranded = _stranded(j, publisher, judged)
    judged = [s for s in judged if s not in stranded]
    if stranded:
        j.metric("accepted_with_no_connection_to_come", len(stranded))
    j.invariant(
        "no-silent-loss",
        "violated" if judged else "holds",
        fates,
        f"{len(accepted)} messages accepted by the library, {fates['delivered']} delivered to the witness "
        f"({', '.join(witnesses)}), {fates['lost_reported']} lost and reported, {len(judged)} lost without the "
        "application being told"
        + (f" (first: {judged[:10]})" if judged else "")
        + (
            f"; besides, {in_flight} accepted at the fault's instant (from {reach:g} ms before it was made to "
            f"{pad:g} ms after it surely took effect) were lost in flight "
            "(counted in fates_by_phase, not judged: whether a message is in flight then is chance)"
            if in_flight
            else ""
        )
        + (
            f"; {len(pending)} accepted after the last message the witness received had not arrived when it "
            f"stopped, still receiving (not judged: they may have been on their way)"
            if pending
            else ""
        )
        + (
            f"; {len(early)} accepted before the first the witness received, before any fault, were never "
            "deliverable (not judged: the witness's subscription had not taken effect where they were published)"
            if early
            else ""
        )
        + (
            f"; {len(stranded)} accepted once the fault that took its last connection began never had a "
            "connection to go over before the publisher was stopped (not judged: still in doubt)"
            if stranded
            else ""
        ),
        statement=STATEMENTS["no-silent-loss"],
        mode=mode,
    )
    if at_most_once:
        dups = [s for s in accepted if times[s] > 1]
        j.invariant(
            "no-duplicates",
            "violated" if dups else "holds",
            fates["duplicated"],
            f"{len(dups)} messages delivered more than once in {mode} mode"
            + (f" (first: {dups[:10]})" if dups else ""),
            statement=STATEMENTS["no-duplicates"],
            mode=mode,
        )
    first = list(dict.fromkeys(received))
    back = [(a, b) for a, b in pairwise(first) if b < a]
    # An older message accepted at a fault's instant, still in flight on the old
    # connection, can race a newer one sent on the new: chance, as a loss then is.
    racing = [(a, b) for a, b in back if phase.get(b) == "at_the_instant"]
    judged_back = [x for x in back if x not in racing]
    if racing:
        j.metric("out_of_order_at_the_instant", len(racing))
    j.invariant(
        "order",
        "violated" if judged_back else "holds",
        len(judged_back),
        f"{len(first)} distinct messages received; {len(judged_back)} arrived after a later one"
        + (f" (first: {judged_back[:5]})" if judged_back else "")
        + (
            f"; besides, {len(racing)} accepted at the fault's instant arrived after a later one "
            f"(first: {racing[:5]}; not judged: in flight on the old connection, they raced the new one)"
            if racing
            else ""
        ),
        statement=STATEMENTS["order"],
        mode=mode,
    )
    liveness.judge(j, family, publisher, witnesses, None, mode)


PHASES = ("before", "at_the_instant", "during", "after")


# The settlements a message's time in flight is measured on: of those sent this
# long before the fault (the delay then, not at the connect's first send).
SETTLEMENT_WINDOW_MS = 1000.0


def settlement_ms(j: Judge, publisher: str) -> float | None:
    """How long a message stayed in flight just before the run's first fault, where
    the library reports settlements: the longest a message sent in the
    SETTLEMENT_WINDOW_MS before the fault waited for its settlement, among those
    settled before it. One sent within that of the fault may have been unsettled,
    on its way or in the broker, when the fault struck (under CI load an Artemis
    primary settled 250-330 ms after the send). None without a fault or a settlement."""
    if not j.outages():
        return None
    start = j.outage().start_ns
    since = start - int(SETTLEMENT_WINDOW_MS * 1e6)
    sent = {e["seq"]: e["t_ns"] for e in j.tl.select(actor=publisher, kind="published", after=since)}
    waits = [
        e["t_ns"] - sent[e["seq"]]
        for e in j.tl.select(actor=publisher, kind="settled", before=start)
        if e["seq"] in sent
    ]
    return round(max(waits) / 1e6, 3) if waits else None


def writer_late_ms(j: Judge, publisher: str) -> float:
    """How late the publisher's own loop woke around the run's first fault, from its
    request to its confirmation (Judge.lateness_of): what its library's writer may
    still have held, accepted that much earlier, as the fault struck. The witness's
    lateness or the harness's is no part of it: under CI load the witness's loop
    woke 948 ms late once, and an instant that wide took nats.js's 630 messages
    lost while it reconnected for chance. The run's figure without a fault."""
    if not j.outages():
        return j.noise_ms
    o = j.outage()
    return j.lateness_of(publisher, o.start_ns, max(o.start_ns, o.applied_ns or o.start_ns))


def fault_instant_ns(j: Judge, publisher: str, in_flight_ms: float = 0.0) -> tuple[int, int]:
    """The run's first fault's instant as `publisher` saw it (Outage.instant_ns): the
    loss it reported, its own lateness and, where longer, `in_flight_ms` before."""
    o = j.outage()
    noticed = j.tl.first(actor=publisher, kind="disconnected", after=o.start_ns)
    return o.instant_ns(noticed["t_ns"] if noticed else None, writer_late_ms(j, publisher), in_flight_ms)


def phases(j: Judge, publisher: str, in_flight_ms: float = 0.0) -> dict[int, str]:
    """The phase of each accepted message, by when it was accepted, around the run's
    first fault: before it, at its instant (fault_instant_ns: from INSTANT_MS, or
    `in_flight_ms` where longer, plus the publisher's lateness before its request to
    INSTANT_MS plus that lateness after it surely took effect), during it, after it
    healed. Empty without a fault."""
    if not j.outages():
        return {}
    o = j.outage()
    lo, hi = fault_instant_ns(j, publisher, in_flight_ms)
    out = {}
    for e in j.tl.select(actor=publisher, kind="published"):
        t = e["t_ns"]
        out[e["seq"]] = "before" if t < lo else "at_the_instant" if t < hi else "during" if t < o.until_ns else "after"
    return out


def by_phase(phase: dict[int, str], times: Counter, told: set[int]) -> dict | None:
    """The fates of the accepted messages counted per phase."""
    if not phase:
        return None
    counts: dict[str, Counter] = {p: Counter() for p in PHASES}
    for seq, p in phase.items():
        counts[p]["delivered" if times[seq] else "lost_reported" if seq in told else "lost_silently"] += 1
        if times[seq] > 1:
            counts[p]["duplicated"] += 1
    return {p: dict(c) for p, c in counts.items()}


def _not_arrived(j: Judge, witnesses: list[str], lost: list[int], received: list[int]) -> set[int]:
    """The lost messages that may only have been late: those after the highest one
    the witness received, if it was still receiving when it stopped."""
    if not received or not lost:
        return set()
    stops = {m.get("to"): m["t_ns"] for m in j.tl.marks("stop")}
    end = min((stops[w] for w in witnesses if w in stops), default=j.tl.t1_ns)
    last = max(e["t_ns"] for e in j.tl.select(kind="received") if e["actor"] in witnesses)
    if end - last > CAUGHT_UP_MS * 1e6:
        return set()
    top = max(received)
    return {s for s in lost if s > top}


def _before_listening(j: Judge, publisher: str, lost: list[int], received: list[int]) -> set[int]:
    """The lost messages accepted before the first one the witness received, and
    before any fault began: nothing was faulted yet, so the witness's subscription
    had not taken effect where they were published (a property of the set-up, not
    of the library). A gap after the first received is judged."""
    if not received or not lost:
        return set()
    first = min(received)
    outages = j.outages()
    start = min((o.start_ns for o in outages), default=None)
    at = {e["seq"]: e["t_ns"] for e in j.tl.select(actor=publisher, kind="published")}
    return {s for s in lost if s < first and (start is None or at.get(s, start) < start)}


def _stranded(j: Judge, publisher: str, lost: list[int]) -> set[int]:
    """The lost messages accepted once the publisher was cut off for good: after
    the start of the fault on its path that took its last connection (or after that
    loss, with no such fault), when it was not connected again before it was stopped,
    that fault had not healed by then, and the library had not given up (closed): it
    was still trying, so whether it would have sent them is unknown. A library that
    closed, or did not reconnect to a healed path, had its chance: those are losses."""
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == publisher), j.tl.t1_ns)
    # Its own stop closes its connection: only a loss before that counts.
    loss = j.tl.select(actor=publisher, kind="disconnected", before=stop - 1)
    if not loss or not lost:
        return set()
    last = loss[-1]["t_ns"]
    if j.tl.first(actor=publisher, kind=("reconnected", "connected"), after=last, before=stop) is not None:
        return set()
    if j.tl.first(actor=publisher, kind="closed", after=last, before=stop) is not None:
        return set()
    on_path = liveness.path(j, publisher)
    cut = [o for o in j.outages() if o.target in on_path and o.start_ns <= last]
    if cut and all(o.end_ns is not None and o.end_ns < stop for o in cut):
        return set()
    since = max(o.start_ns for o in cut) if cut else last
    at = {e["seq"]: e["t_ns"] for e in j.tl.select(actor=publisher, kind="published")}
    return {s for s in lost if at.get(s, 0) >= since}


def _cannot_judge(j: Judge, publisher: str, witnesses: list[str], accepted: list[int]) -> str | None:
    """Why fates cannot be told apart here, or None."""
    if not accepted:
        return "the library accepted no message"
    stops = {m.get("to"): m["t_ns"] for m in j.tl.marks("stop")}
    for w in witnesses:
        # Its own stop closes its connection: only a loss before that counts.
        lost = j.tl.first(actor=w, kind="disconnected", before=stops.get(w, j.tl.t1_ns) - 1)
        if lost is not None:
            return f"the witness {w} itself lost its connection, so what it missed says nothing of the publisher"
    last = j.tl.select(actor=publisher, kind="published")[-1]["t_ns"]
    end = min((stops[w] for w in witnesses if w in stops), default=j.tl.t1_ns)
    waited = (end - max(last, stops.get(publisher, last))) / 1e6
    if waited < DRAIN_MS:
        return (
            f"the witness stopped {waited:.0f} ms after the last publish; {DRAIN_MS:g} ms are needed for what was "
            "in flight to arrive"
        )
    return None
