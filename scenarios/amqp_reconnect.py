"""AMQP, one broker cut off: the retry schedule attempt by attempt, its growth and
its cap, two outages in a row, a custom reconnect object, an attempt limit, and
reconnect switched off. Both AMQP clients run every scenario whose feature they
have; rhea has no custom reconnect object and proton-python no attempt limit, so
those are not-measured for them.

`client` goes through a1-client (faulted); the broker is ActiveMQ Artemis.
"""

from __future__ import annotations

from harness import expectations
from harness.judging import Judge, schedules, slack_ms
from harness.judging.metrics import ms, stats, wire_connections
from harness.scenario import Run, scenario

CONNECT_S = 15.0
LINK = "a1-client"


def cut(run: Run, kind: str, outage_s: float, options: dict | None = None, **params) -> None:
    """Connect, cut the link for `outage_s`, heal, wait for the way back."""
    if not run.connect("client", [LINK], options=options, timeout=CONNECT_S):
        return
    f = run.fault(kind, LINK, **params)
    run.sleep(outage_s)
    f.end()
    run.wait("client", "reconnected", 15, after_ns=f.start_ns)
    run.sleep(0.3)


BROKER_NEVER_CONNECTED = "the client never connected to the broker, so there was nothing to cut"


def record_schedule(j: Judge, o: schedules.Recovery, prefix: str = "") -> None:
    j.metric(f"{prefix}attempts_during_outage", len(o.attempts))
    j.metric(f"{prefix}attempts_seen_as", sorted({a["kind"] for a in o.attempts}))
    j.metric(f"{prefix}delays_ms", o.delays)
    j.metric(f"{prefix}first_delay_ms", o.delays[0] if o.delays else None)
    j.metric(f"{prefix}reconnected_after_heal_ms", ms(o.back["t_ns"] - o.up) if o.back else None)


# -- the schedule with untouched defaults ---------------------------------------


@scenario(
    "amqp.single.refused",
    family="amqp",
    topology="artemis-3",
    checks=[
        "reconnect.default",
        "reconnect.first_delay",
        "reconnect.growth",
        "reconnect.recovers",
        "initial_reconnect_delay.default",
        "reconnect_delay.default",
        "reconnect_backoff_multiplier.default",
    ],
)
def refused(run: Run) -> None:
    """One broker's link refused for 12 s, library defaults: the early terms of the schedule."""
    cut(run, "refuse", 12.0)


@refused.judge
def judge_refused(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    o = schedules.recovery(j)
    record_schedule(j, o)
    j.verdict(
        "reconnect.default",
        bool(o.attempts) and o.back is not None,
        {"attempts": len(o.attempts), "reconnected": o.back is not None},
        "with no reconnect option, the client tried again and reconnected once healed",
    )
    if j.applies("reconnect.first_delay"):
        schedules.first_delay(
            j, "reconnect.first_delay", o.delays[0] if o.delays else None, "the connection was lost", o.span(0)
        )
    schedules.growth(j, "reconnect.growth", o.delays, schedules.amqp_cap(j), spans=o.spans)
    # Where a library documents its schedule term by term (qpid-jms: at once, 10 ms, x2).
    if j.applies("initial_reconnect_delay.default"):
        delay = o.delays[0] if o.delays else None
        schedules.fixed_delay(
            j, "initial_reconnect_delay.default", delay, "delay from the loss to the first attempt", o.span(0)
        )
    if j.applies("reconnect_delay.default"):
        delay = o.delays[1] if len(o.delays) > 1 else None
        schedules.fixed_delay(
            j, "reconnect_delay.default", delay, "delay from the first failed attempt to the next", o.span(1)
        )
    if j.applies("reconnect_backoff_multiplier.default"):
        factor = j.exp("reconnect_backoff_multiplier.default").value
        schedules.growth(
            j, "reconnect_backoff_multiplier.default", o.delays, schedules.amqp_cap(j), factor=factor, spans=o.spans
        )
    relinked = j.tl.select(actor="client", kind="link_opened", after=o.back["t_ns"] if o.back else o.up)
    j.verdict(
        "reconnect.recovers",
        o.back is not None,
        {"reconnected": o.back is not None, "links_reopened": len(relinked)},
        "the connection came back after the link healed",
    )


DEFAULT_CAP_OUTAGE_S = 170.0


@scenario("amqp.single.default-cap", family="amqp", topology="artemis-3", checks=["reconnect.max_delay"], slow=True)
def default_cap(run: Run) -> None:
    """One broker's link refused for 170 s, library defaults: the delay reaches its documented cap
    (rhea's 60 s cap is first reached after about 102 s of doubling from 100 ms)."""
    cut(run, "refuse", DEFAULT_CAP_OUTAGE_S)


@default_cap.judge
def judge_default_cap(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    o = schedules.recovery(j)
    record_schedule(j, o)
    schedules.cap(j, "reconnect.max_delay", o.delays, j.exp("reconnect.max_delay").value, spans=o.spans)


@scenario("amqp.single.cap", family="amqp", topology="artemis-3", checks=["max_reconnect_delay", "reconnect.growth"])
def capped(run: Run) -> None:
    """max_reconnect_delay 1000 ms (proton: its own Backoff(max_delay=1)), link refused for 8 s."""
    cut(run, "refuse", 8.0, options={"max_reconnect_delay": 1000})


@capped.judge
def judge_capped(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    o = schedules.recovery(j)
    record_schedule(j, o)
    schedules.growth(j, "reconnect.growth", o.delays, schedules.amqp_cap(j), spans=o.spans)
    if j.applies("max_reconnect_delay"):
        schedules.cap(j, "max_reconnect_delay", o.delays, schedules.amqp_cap(j), spans=o.spans)


# -- a peer that accepts and then drops -------------------------------------------


@scenario("amqp.single.reset", family="amqp", topology="artemis-3", checks=["reconnect.growth", "reconnect.recovers"])
def reset(run: Run) -> None:
    """Every connection accepted by the proxy and reset for 12 s, defaults: does the schedule still grow?"""
    cut(run, "reset", 12.0)


@reset.judge
def judge_reset(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    o = schedules.recovery(j)
    record_schedule(j, o)
    wire = wire_connections(j.tl, [LINK], o.down, o.up)
    j.metric("wire_connections_during_outage", len(wire))
    j.metric("wire_connection_ms", stats([w["duration_ms"] for w in wire if w["duration_ms"] is not None]))
    schedules.growth(j, "reconnect.growth", o.delays, schedules.amqp_cap(j), spans=o.spans)
    j.verdict(
        "reconnect.recovers",
        o.back is not None,
        o.back is not None,
        "the connection came back after the heal",
    )


@scenario(
    "amqp.single.broker-down", family="amqp", topology="artemis-3", checks=["reconnect.growth", "reconnect.recovers"]
)
def broker_down(run: Run) -> None:
    """The broker killed for 10 s: the proxy accepts each attempt and closes it (no upstream)."""
    if not run.connect("client", [LINK], timeout=CONNECT_S):
        return
    f = run.fault("kill", "a1")
    run.sleep(10.0)
    f.end()  # starts the broker again and waits until it is ready
    run.wait("client", "reconnected", 20, after_ns=f.start_ns)
    run.sleep(0.3)


@broker_down.judge
def judge_broker_down(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    o = schedules.recovery(j)
    record_schedule(j, o)
    j.metric("wire_connections_during_outage", len(wire_connections(j.tl, [LINK], o.down, o.up)))
    schedules.growth(j, "reconnect.growth", o.delays, schedules.amqp_cap(j), spans=o.spans)
    j.verdict(
        "reconnect.recovers",
        o.back is not None,
        o.back is not None,
        "the connection came back once the broker was up again",
    )


# -- two outages, a custom reconnect object ----------------------------------------


def two_outages(run: Run, options: dict | None) -> None:
    run.start("client", [LINK], options=options)
    if run.wait("client", "connected", CONNECT_S) is None:
        return
    for _ in range(2):
        run.sleep(1.0)
        f = run.fault("refuse", LINK)
        run.sleep(4.0)
        f.end()
        if run.wait("client", "reconnected", 15, after_ns=f.start_ns) is None:
            return
    run.sleep(0.3)


@scenario(
    "amqp.single.two-outages",
    family="amqp",
    topology="artemis-3",
    checks=["reconnect.first_delay", "initial_reconnect_delay.default"],
)
def twice(run: Run) -> None:
    """Two 4 s outages one after the other, defaults: does the second start the schedule afresh?"""
    two_outages(run, None)


@twice.judge
def judge_twice(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED) or len(j.outages()) < 2:
        j.nothing_measured("the client did not come back from the first outage")
        return
    firsts = []
    for i in range(2):
        o = schedules.recovery(j, i)
        record_schedule(j, o, prefix=f"outage{i + 1}_")
        firsts.append(o.delays[0] if o.delays else None)
    second = o.span(0)  # the second outage's first delay
    j.metric("second_outage_starts_afresh", schedules.starts_afresh(*firsts))
    if j.applies("reconnect.first_delay"):
        schedules.first_delay(j, "reconnect.first_delay", firsts[1], "the second loss of the connection", second)
    if j.applies("initial_reconnect_delay.default"):
        what = "delay from the second loss to the first attempt"
        schedules.fixed_delay(j, "initial_reconnect_delay.default", firsts[1], what, second)


@scenario(
    "amqp.single.reconnect-object",
    family="amqp",
    topology="artemis-3",
    checks=["reconnect_object.next", "reconnect_object.reset"],
)
def reconnect_object(run: Run) -> None:
    """The AMQ Python doc's custom reconnect class (reset/next) through two 3 s outages."""
    two_outages(run, {"reconnect_object": "doc-example"})


@reconnect_object.judge
def judge_reconnect_object(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED) or len(j.outages()) < 2:
        j.nothing_measured("the client did not get through both outages")
        return
    reset_ok = True
    pairs, resets_seen = [], []
    near: list[float] = []  # the noise near each wait of `pairs`
    for i in range(2):
        o = schedules.recovery(j, i)
        opened = [e for e in j.tl.select(actor="client", kind=("connected", "reconnected")) if e["t_ns"] < o.down][-1]
        first = o.attempts[0]["t_ns"] if o.attempts else o.up
        before = j.tl.select(actor="client", kind="backoff_reset", after=opened["t_ns"], before=first)
        during = j.tl.select(
            actor="client", kind="backoff_reset", after=first, before=o.back["t_ns"] if o.back else o.up
        )
        resets_seen.append({"before_first_attempt": len(before), "during_attempts": len(during)})
        reset_ok &= len(before) == 1 and not during
        # Each attempt should come next() seconds after the failure (or loss) before it.
        prev = o.loss["t_ns"] if o.loss else o.down
        for a in o.attempts:
            nexts = j.tl.select(actor="client", kind="backoff_next", after=prev, before=a["t_ns"])
            if nexts and nexts[-1]["delay_ms"] is not None:
                pairs.append((nexts[-1]["delay_ms"], ms(a["t_ns"] - prev)))
                near.append(j.noise_near(prev, a["t_ns"]))
            prev = a["t_ns"]
    off = [(want, got) for want, got in pairs if abs(got - want) > slack_ms(want)]
    # Off by more than the timer noise measured near the wait: only these are sure.
    sure = [(w, g) for (w, g), n in zip(pairs, near, strict=True) if abs(g - w) > slack_ms(w) + n]
    j.metric("next_returned_vs_waited_ms", pairs)
    j.metric("reset_calls", resets_seen)
    detail = "(delay next() returned, wait before the attempt) per attempt; each within the measurement slack" + (
        f"; off: {off}" if off else ""
    )
    if pairs and off and not sure:
        detail += f"; each is off by less than the timer noise measured near it (at most {max(near):g} ms)"
        j.too_noisy("reconnect_object.next", pairs, detail, unit="ms")
    else:
        j.verdict("reconnect_object.next", bool(pairs) and not off, pairs, detail, unit="ms")
    j.verdict(
        "reconnect_object.reset",
        reset_ok,
        resets_seen,
        "reset() calls between the last successful open and the first attempt of each outage (1 expected), "
        "and while attempting (0 expected)",
    )


# -- giving up, and not trying at all ---------------------------------------------


@scenario("amqp.single.limit", family="amqp", topology="artemis-3", checks=["reconnect_limit"])
def limit(run: Run) -> None:
    """reconnect_limit 3, the broker's link refused for good: attempts before giving up, and what the app is told."""
    if not run.connect("client", [LINK], options={"reconnect_limit": 3}, timeout=CONNECT_S):
        return
    f = run.fault("refuse", LINK)
    run.wait("client", "closed", 20, after_ns=f.start_ns)
    run.sleep(2.0)  # an attempt after giving up would show


@limit.judge
def judge_limit(j: Judge) -> None:
    reconnect_limit(j, "a refused link")


def reconnect_limit(j: Judge, against: str) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    down = j.outage().start_ns
    loss = j.tl.first(actor="client", kind="disconnected", after=down)
    attempts = schedules.attempt_marks(j.tl, "client", down)
    closed = j.tl.first(actor="client", kind="closed", after=down)
    n = j.actors["client"]["options"]["reconnect_limit"]
    counted = [a for a in attempts if closed is None or a["t_ns"] <= closed["t_ns"]]
    j.metric("attempts_after_loss", len(attempts))
    j.metric("attempts_before_closed", len(counted) if closed else None)
    j.metric("told_application", closed.get("error") if closed else None)
    j.metric("delays_ms", schedules.delays_ms(loss["t_ns"], attempts)[:40] if loss else [])
    j.verdict(
        "reconnect_limit",
        closed is not None and len(counted) == n,
        {"attempts": len(attempts), "closed": closed is not None},
        f"reconnect attempts against {against} with reconnect_limit {n}, and a closed report when it gave up",
        documented=n,
        unit="attempts",
    )


@scenario("amqp.single.reset-limit", family="amqp", topology="artemis-3", checks=["reconnect_limit"])
def reset_limit(run: Run) -> None:
    """reconnect_limit 3 against a peer that accepts every connection and resets it: does the limit still end it?"""
    if not run.connect("client", [LINK], options={"reconnect_limit": 3}, timeout=CONNECT_S):
        return
    f = run.fault("reset", LINK)
    run.wait("client", "closed", 15, after_ns=f.start_ns)
    run.sleep(1.0)


@reset_limit.judge
def judge_reset_limit(j: Judge) -> None:
    reconnect_limit(j, "a peer that accepts and resets every connection")


@scenario("amqp.single.no-reconnect", family="amqp", topology="artemis-3", checks=["reconnect.false"])
def no_reconnect(run: Run) -> None:
    """reconnect false, the link refused: no attempt must follow."""
    if not run.connect("client", [LINK], options={"reconnect": False}, timeout=CONNECT_S):
        return
    f = run.fault("refuse", LINK)
    run.sleep(3.0)
    f.end()
    run.sleep(1.0)  # an attempt after the heal would succeed and show


@no_reconnect.judge
def judge_no_reconnect(j: Judge) -> None:
    if schedules.never_connected(j, BROKER_NEVER_CONNECTED):
        return
    down = j.outage().start_ns
    attempts = schedules.attempt_marks(j.tl, "client", down)
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    j.metric("attempts_after_loss", len(attempts))
    j.verdict(
        "reconnect.false",
        not attempts and back is None,
        {"attempts": len(attempts), "reconnected": back is not None},
        "with reconnect false: no attempt after the loss, no reconnect after the heal",
    )


# -- documented defaults -------------------------------------------------------------


@scenario("amqp.defaults", family="amqp", topology="artemis-3", checks=["port.default", "host.default"])
def defaults(run: Run) -> None:
    """No port (and for rhea, no host) given: the documented defaults, localhost:5672."""
    link = run.fixed_port_link("a1", 5672)
    # Left out is what the library's own documentation gives a default for (its
    # expectations file): rhea host and port, AMQ Python the port only.
    documented = expectations.for_client(run.client, "amqp")
    opts = {"use_defaults_for": "host-and-port" if "host.default" in documented else "port"}
    run.start("client", ["amqp://127.0.0.1:5672"], options=opts)
    run.wait("client", ("connected", "connect_failed", "closed"), CONNECT_S)
    run.mark("fixed_link", link=link)
    run.sleep(0.3)


@defaults.judge
def judge_defaults(j: Judge) -> None:
    link = next((m["link"] for m in j.tl.marks("fixed_link")), None)
    opened = j.tl.first(actor="client", kind="connected")
    wire = wire_connections(j.tl, [link], j.tl.t0_ns) if link else []
    j.metric("connected_url", opened["url"] if opened else None)
    j.metric("wire_connections_on_5672", len(wire))
    ok = opened is not None and bool(wire)
    what = "connected through the proxy on 127.0.0.1:5672 when given no port"
    j.verdict(
        "port.default",
        ok,
        {"connected": opened is not None, "connections_on_5672": len(wire)},
        what,
        unit="port",
    )
    if j.applies("host.default"):
        j.verdict(
            "host.default",
            ok,
            {"connected": opened is not None, "connections_on_5672": len(wire)},
            "given neither host nor port, connected to localhost:5672",
        )
