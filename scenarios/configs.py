"""Every reconnect configuration a library accepts, over two outages on one connection.

Each `*.configs.<config>` entry connects once, has its link refused, healed, and
refused again, with one reconnect configuration: rhea's backoff options, a
number and a function of the driver's; proton's Backoff, Backoff(max_tries=N)
and a list of delays; NATS's custom reconnect-delay callback. The libraries'
defaults over two outages are `amqp.single.two-outages`, and proton's documented
reset()/next() class is `amqp.single.reconnect-object`. A client that cannot
take a configuration reads not-applicable.

Measured per outage (metric `outages`): the delays, and whether the second
outage starts the schedule afresh (its first delay against the first outage's).
The limit entries make the first outage use some of the tries and the second
outlast them all: `limit_counted` says whether the count is per outage or per
connection. Only what a sentence claims is judged (rhea's initial and max
delays "control the delays", NATS's callback's delay); the rest is metrics.
"""

from __future__ import annotations

from harness.judging import Judge, schedules, slack_ms
from harness.judging.metrics import ms
from harness.scenario import Run, scenario

CONNECT_S = 15.0
AMQP_LINK, NATS_LINK = "a1-client", "n1-client"

# A growing schedule 200, 400, 800, 800 ms: a 2.6 s outage sees four delays,
# the cap twice, and the fifth attempt (at about 3.0 s) finds the link healed.
INITIAL_MS, CAP_MS, GROW_OUTAGE_S = 200, 800, 2.6
# A fixed 600 ms with four tries: the first 1.5 s outage fails two attempts (at
# 0.6 and 1.2 s) and the third (1.8 s) succeeds, using three; the second, 3.5 s,
# outlasts four (the last at 2.4 s), so it shows whether one or four are left.
FIXED_MS, TRIES = 600, 4
LIMIT_OUTAGES_S = (1.5, 3.5)
# NATS: a 300 ms callback delay; 1.5 s outages see four or five calls each.
NATS_DELAY_MS, NATS_OUTAGE_S = 300, 1.5
PAUSE_S = 1.0  # connected between the outages, and after the last
LAST_WAIT_S = 2.5  # past the longest delay any entry configures (1.6 s), from the heal


def two_outages(run: Run, link: str, options: dict, outages_s: tuple[float, float]) -> None:
    """Connect, then each outage: refuse, heal, wait for the way back. After the
    last, wait a little: a client that gave up shows no reconnect."""
    if not run.connect("client", [link], options=options, timeout=CONNECT_S):
        return
    for i, outage_s in enumerate(outages_s):
        f = run.fault("refuse", link)
        run.sleep(outage_s)
        f.end()
        # After the last outage a client that gave up is a finding, not worth waiting out.
        back = run.wait("client", "reconnected", 5.0 if i == 0 else LAST_WAIT_S, after_ns=f.start_ns)
        if back is None and i == 0:
            return
        run.sleep(PAUSE_S)


def per_outage(j: Judge) -> list[schedules.Recovery]:
    """Every outage's recovery, with its figures kept as the metric `outages`."""
    recs = [schedules.recovery(j, i) for i in range(len(j.outages()))]
    j.metric(
        "outages",
        [
            {
                "attempts": len(r.attempts),
                "delays_ms": r.delays,
                "first_delay_ms": r.delays[0] if r.delays else None,
                "reconnected_after_heal_ms": ms(r.back["t_ns"] - r.up) if r.back else None,
            }
            for r in recs
        ],
    )
    return recs


def record_afresh(j: Judge, recs: list[schedules.Recovery]) -> None:
    """The metric `second_outage_starts_afresh`: None where it cannot be told, a
    schedule that does not grow (a fresh one and a continued one look the same:
    then a try limit's count, `limit_counted`, is what tells)."""
    firsts = [r.delays[0] if r.delays else None for r in recs[:2]]
    first = recs[0].delays if recs else []
    fixed = len(first) >= 2 and schedules.starts_afresh(first[0], first[1])
    j.metric("second_outage_starts_afresh", None if fixed or len(firsts) < 2 else schedules.starts_afresh(*firsts))
    if fixed:
        j.metric("second_outage_starts_afresh_why", "the delays do not grow: fresh and continued look the same")


def judge_limit(j: Judge, limit: int) -> None:
    if schedules.never_connected(j) or len(j.outages()) < 2:
        j.nothing_measured("the client did not come back from the first outage")
        return
    recs = per_outage(j)
    record_afresh(j, recs)
    first, second = recs[0], recs[1]
    # The first outage's failed attempts are inside it; the one that succeeded came after the heal.
    used = len(first.attempts) + (1 if first.back is not None else 0)
    back = first.back is not None and second.back is not None and second.back["t_ns"] > second.down
    j.metric("tries", {"limit": limit, "used_in_first_outage": used, "attempts_in_second_outage": len(second.attempts)})
    j.metric("came_back_after_second_outage", back)
    j.metric("limit_counted", None if back else schedules.limit_counted(used, len(second.attempts), limit))


# -- the same growing schedule, configured: rhea's options, proton's Backoff --------


@scenario("amqp.configs.delays", family="amqp", topology="artemis-3", checks=["max_reconnect_delay"])
def delays(run: Run) -> None:
    """initial_reconnect_delay 200 ms, max_reconnect_delay 800 ms (rhea: its options;
    proton: Backoff(initial=0.2, max_delay=0.8)), two 2.6 s outages."""
    opts = {"initial_reconnect_delay": INITIAL_MS, "max_reconnect_delay": CAP_MS}
    two_outages(run, AMQP_LINK, opts, (GROW_OUTAGE_S, GROW_OUTAGE_S))


def configured_schedule(n: int, first_ms: float, cap_ms: float) -> list[float]:
    """The first n delays of a schedule from first_ms, doubling, capped."""
    return [min(cap_ms, first_ms * 2**k) for k in range(n)]


@delays.judge
def judge_delays(j: Judge) -> None:
    if schedules.never_connected(j) or len(j.outages()) < 2:
        j.nothing_measured("the client did not come back from the first outage")
        return
    recs = per_outage(j)
    record_afresh(j, recs)
    if not j.applies("max_reconnect_delay"):
        return
    # "To control the delays": every delay of each outage is the configured
    # schedule's, from the first delay, doubling, to the cap.
    opts = j.actors["client"]["options"]
    got = [d for r in recs for d in r.delays]
    near = j.noise_near_each([span for r in recs for span in r.spans]) or [j.noise_ms] * len(got)
    want = [
        d
        for r in recs
        for d in configured_schedule(len(r.delays), opts["initial_reconnect_delay"], opts["max_reconnect_delay"])
    ]
    if not got:
        j.not_measured("max_reconnect_delay", "no attempt was seen in either outage", unit="ms")
        return
    measured = list(zip(want, got, near, strict=True))
    off = [(w, g) for w, g, _ in measured if abs(g - w) > slack_ms(w)]
    sure = [(w, g) for w, g, n in measured if abs(g - w) > slack_ms(w) + n]
    detail = (
        "(configured, measured) delay of each attempt in both outages, each outage from "
        f"initial_reconnect_delay {opts['initial_reconnect_delay']:g} ms doubling to max_reconnect_delay "
        f"{opts['max_reconnect_delay']:g} ms, each within its slack" + (f"; off: {off}" if off else "")
    )
    pairs = list(zip(want, got, strict=True))
    if off and not sure:
        detail += f"; each is off by less than the timer noise measured near it (at most {max(near):g} ms)"
        j.too_noisy("max_reconnect_delay", pairs, detail, unit="ms")
        return
    j.verdict("max_reconnect_delay", not off, pairs, detail, unit="ms")


# -- a fixed delay and a try limit ----------------------------------------------------


@scenario("amqp.configs.fixed-limit", family="amqp", topology="artemis-3", checks=[])
def fixed_limit(run: Run) -> None:
    """rhea's reconnect as a number (600 ms) with reconnect_limit 4: a 1.5 s outage, then 3.5 s."""
    two_outages(run, AMQP_LINK, {"reconnect_delay": FIXED_MS, "reconnect_limit": TRIES}, LIMIT_OUTAGES_S)


@fixed_limit.judge
def judge_fixed_limit(j: Judge) -> None:
    judge_limit(j, TRIES)


@scenario("amqp.configs.max-tries", family="amqp", topology="artemis-3", checks=[])
def max_tries(run: Run) -> None:
    """proton's Backoff(initial=0.6, max_delay=0.6, max_tries=5): the first of its five
    delays (0 s) is taken by the first connect, four are left; a 1.5 s outage, then 3.5 s."""
    opts = {"initial_reconnect_delay": FIXED_MS, "max_reconnect_delay": FIXED_MS, "backoff_max_tries": TRIES + 1}
    two_outages(run, AMQP_LINK, opts, LIMIT_OUTAGES_S)


@max_tries.judge
def judge_max_tries(j: Judge) -> None:
    judge_limit(j, TRIES)


@scenario("amqp.configs.list", family="amqp", topology="artemis-3", checks=[])
def delay_list(run: Run) -> None:
    """proton's reconnect as a list of four 600 ms delays (it gives up past the end):
    a 1.5 s outage, then 3.5 s."""
    opts = {"reconnect_delays": ",".join([str(FIXED_MS)] * TRIES)}
    two_outages(run, AMQP_LINK, opts, LIMIT_OUTAGES_S)


@delay_list.judge
def judge_delay_list(j: Judge) -> None:
    judge_limit(j, TRIES)


# -- a function of the application's -------------------------------------------------


@scenario("amqp.configs.function", family="amqp", topology="artemis-3", checks=[])
def function(run: Run) -> None:
    """rhea's reconnect as the driver's function: 200 ms doubling to 1600 ms, started again
    when rhea's argument (connections established) changes; two 2.6 s outages."""
    two_outages(run, AMQP_LINK, {"reconnect_function": "doubling"}, (GROW_OUTAGE_S, GROW_OUTAGE_S))


def callback_calls(j: Judge, r: schedules.Recovery) -> list[dict]:
    return j.tl.select(actor="client", kind="reconnect_delay_cb", after=r.down, before=r.up)


@function.judge
def judge_function(j: Judge) -> None:
    if schedules.never_connected(j) or len(j.outages()) < 2:
        j.nothing_measured("the client did not come back from the first outage")
        return
    recs = per_outage(j)
    record_afresh(j, recs)
    # What the library passed (connections established) and what the function
    # returned, against the delay measured before each attempt.
    j.metric(
        "library_argument_per_outage", [sorted({c.get("established") for c in callback_calls(j, r)}) for r in recs]
    )
    j.metric(
        "returned_vs_waited_ms",
        [list(zip([c["delay_ms"] for c in callback_calls(j, r)], r.delays, strict=False)) for r in recs],
    )


# -- NATS: the custom reconnect-delay callback ------------------------------------------


@scenario("nats.configs.custom-delay", family="nats", topology="nats-single", checks=["CustomReconnectDelayCB.delay"])
def custom_delay(run: Run) -> None:
    """CustomReconnectDelay 300 ms, the one server's link refused for 1.5 s twice."""
    two_outages(run, NATS_LINK, {"CustomReconnectDelay": NATS_DELAY_MS}, (NATS_OUTAGE_S, NATS_OUTAGE_S))


@custom_delay.judge
def judge_custom_delay(j: Judge) -> None:
    if schedules.never_connected(j) or len(j.outages()) < 2:
        j.nothing_measured("the client did not come back from the first outage")
        return
    recs = per_outage(j)
    record_afresh(j, recs)
    calls = [callback_calls(j, r) for r in recs]
    args = [[c["attempts"] for c in cs] for cs in calls]
    j.metric("callback_arguments_per_outage", args)
    j.metric("callback_count_starts_afresh", None if not all(args) else args[1][0] == args[0][0])
    if any(a["kind"] == "attempt_failed" for r in recs for a in r.attempts):
        # Attempts seen only by their failure reports (async-nats reports one per pass,
        # after it): the start of the attempt a call's delay precedes is not seen.
        j.not_measured(
            "CustomReconnectDelayCB.delay",
            "the library reports no attempt starts, only failures, so the delay from each callback call to the "
            "attempt after it cannot be located",
        )
        return
    # From each call to the next attempt the library made after it.
    spans: list[tuple[int, int]] = []  # each call and the next attempt: what its delay measured
    for r, cs in zip(recs, calls, strict=True):
        starts = [a["t_ns"] for a in r.attempts]
        nexts = [(c["t_ns"], next((t for t in starts if t > c["t_ns"]), None)) for c in cs]
        spans += [(c, t) for c, t in nexts if t is not None]
    after = [ms(t - c) for c, t in spans]
    delay = j.actors["client"]["options"]["CustomReconnectDelay"]
    j.within(
        "CustomReconnectDelayCB.delay",
        after,
        delay,
        delay,
        f"delays from a callback returning {delay} ms to the next attempt, in both outages",
        documented=delay,
        spans=spans,
    )
