"""AMQP failover over three independent brokers: the order tried, starting over,
where a second loss starts, the documented failover functions, and misuse.

proton-python is given the list as `urls`; rhea gets the rhea doc's round-robin
`connection_details` function (the documented way to fail over with rhea).
"""

from __future__ import annotations

import itertools

from harness.judging import Judge, schedules
from harness.judging.metrics import hostport, link_of_address, link_of_url, ms
from harness.scenario import Run, scenario

CONNECT_S = 15.0
LINKS = ["a1-client", "a2-client", "a3-client"]


def link_of(j: Judge, e: dict) -> str | None:
    """The link an attempt event went to, from what the library said (a URL, or the
    host and port a connection_details call returned)."""
    if e["kind"] == "connection_details_cb":
        target = f"{e['host']}:{e['port']}" if e["host"] is not None and e["port"] is not None else None
    else:
        target = hostport(e.get("url"))
    if target is None:
        return None
    return link_of_address(target, j.links) or f"elsewhere ({target})"


def tried(j: Judge, after: int, before: int | None) -> list[str | None]:
    """Links of every attempt in order; the successful one (reconnected) last."""
    out = [link_of(j, e) for e in schedules.attempt_marks(j.tl, "client", after, before)]
    return out


def starts_seen(j: Judge) -> bool:
    """Whether the client reports attempt starts (the successful one included)."""
    return any(a["kind"] != "attempt_failed" for a in schedules.attempt_marks(j.tl, "client", j.tl.t0_ns))


@scenario(
    "amqp.failover.next",
    family="amqp",
    topology="artemis-3",
    checks=["urls.next", "connection_details.per_attempt", "connection_details.round_robin"],
)
def failover_next(run: Run) -> None:
    """Three brokers; the one in use is cut: where the client goes, then where a second loss sends it."""
    run.start("client", LINKS)
    first = run.wait("client", "connected", CONNECT_S)
    if first is None:
        return
    run.sleep(0.5)
    brokers = {link: run.url(link) for link in LINKS}
    on = link_of_url(first["url"], brokers) or LINKS[0]
    cut1 = run.fault("refuse", on)
    back = run.wait("client", "reconnected", 10, after_ns=cut1.start_ns)
    run.sleep(1.0)
    cut1.end()
    if back is None:
        return
    run.sleep(1.0)
    now_on = link_of_url(back["url"], brokers)
    if now_on is None:
        return
    cut2 = run.fault("refuse", now_on)
    run.wait("client", "reconnected", 10, after_ns=cut2.start_ns)
    run.sleep(0.5)
    cut2.end()
    run.sleep(0.3)


@failover_next.judge
def judge_failover_next(j: Judge) -> None:
    if schedules.never_connected(j, "the client never connected, so there was nothing to fail over from"):
        return
    first = j.tl.first(actor="client", kind="connected")
    backs = j.tl.select(actor="client", kind="reconnected")
    cut1 = j.outage()
    order1 = tried(j, cut1.start_ns, backs[0]["t_ns"] if backs else None)
    j.metric("connected_first_to", link_of(j, {**first, "kind": "connected"}))
    j.metric("first_loss_attempts", order1)
    j.metric("first_loss_reconnected_to", link_of(j, {**backs[0], "kind": "reconnected"}) if backs else None)
    if len(j.outages()) > 1 and len(backs) > 1:
        cut2 = j.outage(1)
        j.metric("second_loss_attempts", tried(j, cut2.start_ns, backs[1]["t_ns"]))
        j.metric("second_loss_reconnected_to", link_of(j, {**backs[1], "kind": "reconnected"}))

    if j.applies("urls.next"):
        # After each failed attempt, the next attempt goes to the next URL in the list.
        # Attempt starts include the one that succeeded; failures do not.
        seq = list(order1)
        if backs and not starts_seen(j):
            seq.append(link_of(j, {**backs[0], "kind": "reconnected"}))
        steps = [(a, b) for a, b in itertools.pairwise(seq) if a in LINKS]
        wrong = [(a, b) for a, b in steps if b != LINKS[(LINKS.index(a) + 1) % len(LINKS)]]
        if not steps:
            j.not_measured("urls.next", f"no failed attempt with a known URL (attempts: {seq})")
        else:
            j.verdict(
                "urls.next",
                not wrong,
                seq,
                "links tried after the loss, in order, the successful one last"
                + (f"; not followed by the next in the list: {wrong}" if wrong else ""),
            )
    details_checks(j, cut1.start_ns, backs[0]["t_ns"] if backs else None)


def details_checks(j: Judge, after: int, before: int | None) -> None:
    """rhea: connection_details is called once per attempt, and the documented
    function cycles through the hosts in order."""
    calls = j.tl.select(actor="client", kind="connection_details_cb")
    if j.applies("connection_details.per_attempt"):
        window = [c for c in calls if c["t_ns"] >= after and (before is None or c["t_ns"] <= before)]
        failures = j.tl.select(actor="client", kind="attempt_failed", after=after, before=before)
        attempts = len(failures) + (1 if before is not None else 0)
        j.verdict(
            "connection_details.per_attempt",
            len(window) == attempts,
            {"calls": len(window), "attempts": attempts},
            "connection_details calls against connection attempts (failed ones plus the one that succeeded)",
            unit="calls",
        )
    if j.applies("connection_details.round_robin"):
        order = [link_of(j, c) for c in calls]
        want = [LINKS[i % len(LINKS)] for i in range(len(order))]
        j.verdict(
            "connection_details.round_robin",
            bool(order) and order == want,
            order,
            "links the documented function returned, call after call (expected a1, a2, a3, a1, ...)",
        )


@scenario(
    "amqp.failover.all-cut",
    family="amqp",
    topology="artemis-3",
    checks=["urls.start_over", "connection_details.per_attempt"],
)
def all_cut(run: Run) -> None:
    """Three brokers, all cut for 4 s: passes over the list, the delays in and between them, starting over."""
    if not run.connect("client", LINKS, timeout=CONNECT_S):
        return
    cut = run.fault("refuse", ",".join(LINKS))
    run.sleep(4.0)
    cut.end()
    run.wait("client", "reconnected", 15, after_ns=cut.start_ns)
    run.sleep(0.3)


@all_cut.judge
def judge_all_cut(j: Judge) -> None:
    if schedules.never_connected(j, "the client never connected, so there was nothing to fail over from"):
        return
    down = j.outage().start_ns
    up = min(o.end_ns for o in j.outages())
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    loss = j.tl.first(actor="client", kind="disconnected", after=down)
    marks = schedules.attempt_marks(j.tl, "client", down, up)
    order = [link_of(j, e) for e in marks]
    delays = schedules.delays_ms(loss["t_ns"], marks) if loss else []
    j.metric("attempt_order", order)
    j.metric("delays_ms", delays)
    j.metric("schedule_shape", schedules.shape(delays, order[: len(delays)], len(LINKS)))
    j.metric("reconnected_to", link_of(j, {**back, "kind": "reconnected"}) if back else None)
    j.metric("reconnected_after_heal_ms", ms(back["t_ns"] - up) if back else None)
    if j.applies("urls.start_over"):
        known = [x for x in order if x in LINKS]
        wraps = [i for i in range(1, len(known)) if known[i - 1] == LINKS[-1]]
        if not wraps:
            j.not_measured("urls.start_over", f"no attempt at the last URL was followed by another (order {order})")
        else:
            ok = all(known[i] == LINKS[0] for i in wraps)
            j.verdict(
                "urls.start_over",
                ok,
                known,
                "after the last URL in the list, the next attempt",
            )
    details_checks(j, down, back["t_ns"] if back else None)


@scenario(
    "amqp.failover.amq-javascript-example",
    family="amqp",
    topology="artemis-3",
    checks=["connection_details.round_robin@amq-javascript"],
)
def amq_javascript_example(run: Run) -> None:
    """rhea with the AMQ JavaScript edition's failover function exactly as printed, over two brokers."""
    # The printed function returns no host (see the judge): rhea then falls back to
    # its defaults, localhost:5672. Hold that port so no parallel run's proxy is there.
    run.hold_port(5672)
    run.start("client", LINKS[:2], options={"connection_details": "amq-javascript-example"})
    run.wait("client", "connected", 4.0)
    run.sleep(0.3)


@amq_javascript_example.judge
def judge_amq_javascript_example(j: Judge) -> None:
    calls = j.tl.select(actor="client", kind="connection_details_cb")
    got = [{"host": c["host"], "port": c["port"]} for c in calls]
    listed = [hostport(j.links[x]) for x in LINKS[:2]]
    j.metric("returned", got[:10])
    j.metric("listed", listed)
    j.metric("connected", j.tl.first(actor="client", kind="connected") is not None)
    if not calls:
        j.not_measured("connection_details.round_robin@amq-javascript", "the function was never called")
        return
    returned = [f"{c['host']}:{c['port']}" for c in got]
    ok = all(r in listed for r in returned)
    j.verdict(
        "connection_details.round_robin@amq-javascript",
        ok,
        got[:10],
        f"what the example as printed returned, call after call, against the listed hosts {listed}",
    )


# -- misuse ---------------------------------------------------------------------------


@scenario("amqp.misuse.url-and-urls", family="amqp", topology="artemis-3", checks=["url_and_urls"])
def url_and_urls(run: Run) -> None:
    """url (a1, cut) and urls (a1, a2) given together: the documentation calls it an error."""
    cut = run.fault("refuse", LINKS[0])
    run.start("client", LINKS[:2], options={"url_and_urls": True})
    run.wait("client", ("connect_failed", "connected"), 5.0)
    run.sleep(1.0)
    cut.end()
    run.sleep(0.3)


@url_and_urls.judge
def judge_url_and_urls(j: Judge) -> None:
    failed = j.tl.first(actor="client", kind="connect_failed")
    connected = j.tl.first(actor="client", kind="connected")
    order = tried(j, j.tl.t0_ns, j.outage().end_ns)
    j.metric("attempts_while_a1_cut", order[:20])
    j.metric("connected_to", link_of(j, connected) if connected else None)
    detail = (
        "connect() raised"
        if failed
        else f"no error; attempts while a1 was cut went to {sorted({x for x in order if x})}"
        + (f", then it connected to {link_of(j, connected)}" if connected else "")
    )
    j.verdict(
        "url_and_urls",
        failed is not None,
        {"error": failed["error"] if failed else None},
        detail,
    )


@scenario(
    "amqp.misuse.reconnect-false-list",
    family="amqp",
    topology="artemis-3",
    checks=["reconnect.false", "urls.next", "connection_details.per_attempt"],
)
def reconnect_false_list(run: Run) -> None:
    """reconnect false with two endpoints, the first refused from the start: is the second tried?"""
    cut = run.fault("refuse", LINKS[0])
    run.start("client", LINKS[:2], options={"reconnect": False})
    run.wait("client", "connected", 4.0)
    run.sleep(1.0)
    cut.end()
    run.sleep(0.5)


@reconnect_false_list.judge
def judge_reconnect_false_list(j: Judge) -> None:
    marks = schedules.attempt_marks(j.tl, "client", j.tl.t0_ns)
    order = [link_of(j, e) for e in marks]
    connected = j.tl.first(actor="client", kind="connected")
    failures = j.tl.select(actor="client", kind="attempt_failed")
    j.metric("attempts", order)
    j.metric("connected_to", link_of(j, connected) if connected else None)
    # Attempts after the first failure: reconnect false should mean none.
    later = [e for e in marks if failures and e["t_ns"] > failures[0]["t_ns"]]
    if j.applies("reconnect.false"):
        j.verdict(
            "reconnect.false",
            not later and connected is None,
            {"attempts_after_first_failure": len(later), "connected": connected is not None},
            "reconnect false, first endpoint refused: attempts after that first failure",
        )
    if j.applies("urls.next"):
        went_on = connected is not None and link_of(j, connected) == LINKS[1]
        j.verdict(
            "urls.next",
            went_on,
            {"connected_to": link_of(j, connected) if connected else None, "attempts": order},
            "first endpoint refused: "
            + (
                "the next in the list (a2) was tried and connected"
                if went_on
                else f"attempts went only to {sorted({x for x in order if x})}, a2 never tried"
            ),
        )
    if j.applies("connection_details.per_attempt"):
        calls = j.tl.select(actor="client", kind="connection_details_cb")
        attempts = len(failures) + (1 if connected else 0)
        j.verdict(
            "connection_details.per_attempt",
            len(calls) == attempts,
            {"calls": len(calls), "attempts": attempts},
            "connection_details calls against connection attempts",
            unit="calls",
        )
