"""Liveness: after the client's link or server heals, the client is connected
again and its messages reach the witness, within a bound derived from the
client's own reconnect schedule (harness/judging/schedules.py, `next_wait`).

The bound, from the moment the fault was surely gone (its revert confirmed):
the longest wait the client's schedule lets it be in at the heal, plus the way
back (a connect, the protocol's handshake, re-attaching, one message to the
witness: WAY_BACK_MS), each widened by its measurement slack. A time past the
bound by less than the run's measured timer noise cannot be told from noise
and is not-measured, as a timing check's would be (Judge.in_band).

Judged per healed outage of the publisher's own path (one of its links, or the
server one leads to); a fault elsewhere (a route between routers) is healed on
a schedule that is not the client's. Not-measured, with the reason, when the
client was configured not to come back, or when the run stopped watching
before the bound. A publisher whose library takes no message while it is cut
off (no credit) has nothing flowing: that is the library's, and is judged.
"""

from __future__ import annotations

from harness import topology
from harness.errors import HarnessError
from harness.judging import schedules
from harness.judging.bands import slack_ms
from harness.judging.judge import Judge
from harness.judging.metrics import client_attempts, ms
from harness.judging.outage import INSTANT_MS, Outage

STATEMENT = "after the link heals, the client is connected again and its messages flow, within its own schedule"
# The way back once the client's wait is over, on loopback: TCP connect, the
# protocol's handshake (NATS INFO/CONNECT; AMQP SASL, open, begin, attach,
# credit), and one message through the server to the witness. Measured on a
# quiet machine at 5-60 ms; the rest is room for a busy one (docs/decisions.md).
WAY_BACK_MS = 500.0
WORST = ("violated", "not-measured", "holds")
# A witness that received a message this close to a moment was still catching up
# then (a slow witness on a busy machine); one quiet this long had caught up.
CAUGHT_UP_MS = 500.0


def judge(j: Judge, family: str, publisher: str, witnesses: list[str], why: str | None, mode: str) -> None:
    """The liveness invariant for `publisher`, if a fault on its path healed."""
    healed = [o for o in j.outages() if o.healed and o.target in path(j, publisher)]
    if not healed:
        return
    if why:
        j.invariant("liveness", "not-measured", None, why, statement=STATEMENT, mode=mode)
        return
    per = [outage(j, family, publisher, witnesses, j.outages().index(o), o) for o in healed]
    j.metric("liveness", [p["observed"] for p in per])
    verdict = next(v for v in WORST if any(p["verdict"] == v for p in per))
    detail = "; ".join(p["detail"] for p in per)
    observed = per[0]["observed"] if len(per) == 1 else [p["observed"] for p in per]
    j.invariant("liveness", verdict, observed, detail, statement=STATEMENT, mode=mode)


def path(j: Judge, publisher: str) -> set[str]:
    """The publisher's links and the services they lead to: what, faulted, cuts it off."""
    links = set(j.actors[publisher].get("links") or [])
    try:
        topo = topology.get(j.topology) if j.topology else None
    except HarnessError:
        topo = None
    services = {topo.link(x).to for x in links if topo is not None and x in {y.name for y in topo.links}}
    return links | {s for s in services if s}


def outage(j: Judge, family: str, publisher: str, witnesses: list[str], index: int, o: Outage) -> dict:
    """One healed outage: verdict, what was observed, and why."""
    heal = o.healed_ns
    assert heal is not None
    # Attempts until the heal was surely in force are the outage's: one refused
    # between the heal's request and its confirmation (rhea, 190 ms apart under CI
    # load) set the wait the client was in at the heal.
    rec = schedules.recovery(j, index, publisher, until_ns=heal)
    label = f"{o.kind} {o.target}"
    if why := not_returning(j, family, publisher, o):
        return _r("not-measured", None, f"{label}: {why}")
    # A witness that subscribed after the heal (one that drains what a broker holds,
    # amqp.ha.failback) receives when it starts, not when messages began to flow.
    ready = [j.tl.first(actor=w, kind=("subscribed", "link_opened")) for w in witnesses]
    if not any(e is not None and e["t_ns"] <= heal for e in ready):
        return _r(
            "not-measured",
            None,
            f"{label}: the witness subscribed only after the heal (it drains what the server held), "
            "so when messages began to flow again cannot be timed",
        )
    wait = schedules.next_wait(j, family, rec, publisher)
    if wait.ms is None:
        return _r("not-measured", None, f"{label}: {wait.how}")
    bound = wait.ms + slack_ms(wait.ms) + WAY_BACK_MS + slack_ms(WAY_BACK_MS)
    deadline = heal + int(bound * 1e6)
    loss = j.tl.first(actor=publisher, kind="disconnected", after=o.start_ns, before=deadline)
    back = j.tl.first(actor=publisher, kind="reconnected", after=loss["t_ns"]) if loss else None
    # Flowing: the witness receives the publisher's messages again once it is back
    # (or, never cut off, once the fault is gone). Old messages first is still flow:
    # a library that buffered while cut off sends its backlog in order.
    since = max(heal, back["t_ns"]) if back else heal
    flow = next((e for e in j.tl.select(kind="received", after=since) if e["actor"] in witnesses), None)
    if loss is not None:
        # Receipts while the client had no connection came from a backlog the
        # server still held for a slow witness; one after the heal may be more of it.
        held = [
            e
            for e in j.tl.select(kind="received", after=loss["t_ns"] + int(INSTANT_MS * 1e6), before=min(since, heal))
            if e["actor"] in witnesses
        ]
        # A backlog drained well before the client was back cannot be what arrives after.
        held = [e for e in held if e["t_ns"] > since - int(CAUGHT_UP_MS * 1e6)]
        if held and (back is None or back["t_ns"] > heal):
            return _r(
                "not-measured",
                None,
                f"{label}: the witness was still receiving messages the server held while the client was cut "
                f"off ({len(held)} within {CAUGHT_UP_MS:g} ms before it was back), so a message after the heal "
                "cannot be told from that backlog",
            )
    observed = {
        "outage": label,
        "bound_ms": round(bound, 3),
        "next_wait_ms": round(wait.ms, 3),
        "schedule": wait.how,
        "reconnected_after_heal_ms": ms(back["t_ns"] - heal) if back else None,
        "flowing_after_heal_ms": ms(flow["t_ns"] - heal) if flow else None,
    }
    rule = (
        f"bound {bound:g} ms from the heal: {wait.how}, plus {WAY_BACK_MS:g} ms for the way back, each with its "
        "measurement slack"
    )
    if flow is not None and flow["t_ns"] <= deadline:
        came = f"{_back(observed['reconnected_after_heal_ms'])} and " if back else ""
        return _r(
            "holds",
            observed,
            f"{label}: {came}messages flowing {observed['flowing_after_heal_ms']:g} ms after the heal; {rule}",
        )
    end = observation_end(j, publisher, witnesses)
    if flow is None and end < deadline:
        return _r(
            "not-measured",
            observed,
            f"{label}: the run stopped watching {ms(end - heal):g} ms after the heal, before the {rule}",
        )
    late = ms((flow["t_ns"] if flow else end) - deadline)
    seen = (
        f"messages flowing only {observed['flowing_after_heal_ms']:g} ms after the heal"
        if flow
        else f"no message reached the witness in the {ms(end - heal):g} ms watched after the heal"
    )
    back_s = (
        _back(observed["reconnected_after_heal_ms"])
        if back
        else "never reported reconnected"
        if loss
        else "never reported losing its connection"
    )
    if flow is not None and late <= j.noise_ms:
        return _r(
            "not-measured",
            observed,
            f"{label}: {seen}, {late:g} ms past the {rule}, within the timer noise measured in this run "
            f"({j.noise_ms:g} ms)",
        )
    return _r("violated", observed, f"{label}: {back_s}; {seen}; {rule}")


def not_returning(j: Judge, family: str, publisher: str, o: Outage) -> str | None:
    """Why the client's options make it correct not to come back from this outage."""
    opts = j.actors[publisher]["options"]
    if family == "nats":
        if publisher != "client":
            return None
        attempts = client_attempts(j.tl, publisher, o.start_ns, o.until_ns)
        why = schedules.configured_not_to_return(j, attempts, o.start_ns, o.until_ns)
        closed = j.tl.first(actor=publisher, kind="closed", after=o.start_ns, before=o.until_ns)
        if why is None and closed is not None:
            # A NATS client always has an attempt limit (a client's own default may be
            # lower than the family's: nats.js's 10); giving up within it is the limit's
            # claims' to judge, not liveness's.
            why = (
                f"the client gave up (closed) after {len(attempts)} attempts, before the link healed; "
                "whether it should have is judged by its attempt limit's claims"
            )
        return why
    if opts.get("reconnect") is False:
        return "the client ran with reconnect false, so it is not meant to come back"
    closed = j.tl.first(actor=publisher, kind="closed", after=o.start_ns, before=o.until_ns)
    if closed is not None and "reconnect_limit" in opts:
        return (
            f"the client ran with reconnect_limit {opts['reconnect_limit']} and gave up before the link healed; "
            "with that option coming back is not expected"
        )
    return None


def observation_end(j: Judge, publisher: str, witnesses: list[str]) -> int:
    """The last moment a message from the publisher could be seen arriving: the
    first of the publisher's and the witnesses' stops, else the run's end."""
    stops = {m.get("to"): m["t_ns"] for m in j.tl.marks("stop")}
    return min([stops[a] for a in (publisher, *witnesses) if a in stops] or [j.tl.t1_ns])


def _back(after_heal_ms: float) -> str:
    if after_heal_ms < 0:
        return f"reconnected {-after_heal_ms:g} ms before the heal (elsewhere)"
    return f"reconnected {after_heal_ms:g} ms after the heal"


def _r(verdict: str, observed: dict | None, detail: str) -> dict:
    return {"verdict": verdict, "observed": observed, "detail": detail}
