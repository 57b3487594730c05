"""NATS, one server cut off: every attempt, the waits between them, the way back.

The client knows one server only (a single nats-server, so no cluster can tell it
about others) and runs with the library's defaults unless a scenario says
otherwise. `client` goes through the faulted link n1-client; `observer`, where a
scenario has one, goes through n1-observer, which is never faulted.
"""

from __future__ import annotations

from harness.expectations import variants
from harness.judging import Band, Judge, invariants, schedules, slack_ms
from harness.judging.metrics import client_attempts, ledger, ms, wire_connections
from harness.judging.outage import INSTANT_MS
from harness.scenario import Run, scenario

CONNECT_S = 10.0
# Long enough for five attempts at the documented 2 s ReconnectWait.
OUTAGE_S = 11.0
# A blackholed attempt costs Timeout (2 s) before the 2 s wait: 15 s gives four.
BLACKHOLE_OUTAGE_S = 15.0


# -- scripts ------------------------------------------------------------------


def cut_and_heal(run: Run, kind: str, outage_s: float, options: dict | None = None, **params) -> None:
    if not run.connect("client", ["n1-client"], options=options, timeout=CONNECT_S):
        return
    cut = run.fault(kind, "n1-client", **params)
    run.sleep(outage_s)
    cut.end()
    run.wait("client", "reconnected", 10, after_ns=cut.start_ns)
    run.sleep(0.3)


def cut_for_good(run: Run, options: dict | None, timeout_s: float) -> None:
    """Cut the only server and never heal: wait for the client to give up."""
    if not run.connect("client", ["n1-client"], options=options, timeout=CONNECT_S):
        return
    run.fault("refuse", "n1-client")
    run.wait("client", ("closed", "connect_failed"), timeout_s)
    run.sleep(0.3)


# -- judging helpers ----------------------------------------------------------


def judge_give_up(j: Judge) -> None:
    if not schedules.never_connected(j):
        schedules.give_up(j, ["n1-client"], "to the one server")


def protocol_bytes(subject: str, size: int) -> int:
    """Bytes one publish occupies in a NATS client's buffer: PUB <subj> <n>\\r\\n<payload>\\r\\n."""
    return len(f"PUB {subject} {size}\r\n") + size + 2


# -- scenarios ----------------------------------------------------------------

# ReconnectJitterTLS is judged over TLS, in scenarios/tls_auth.py.
SCHEDULE_CHECKS = [
    "AutoReconnect",
    "AllowReconnect",
    "DisconnectedErrCB",
    "ReconnectedCB",
    "ReconnectWait",
    "ReconnectJitter",
]


@scenario("nats.single.refused", family="nats", topology="nats-single", checks=SCHEDULE_CHECKS)
def refused(run: Run) -> None:
    """One server, its link refused (proxy disabled) for 11 s, library defaults."""
    cut_and_heal(run, "refuse", OUTAGE_S)


@refused.judge
def judge_refused(j: Judge) -> None:
    schedules.nats_schedule(j, "n1-client")


@scenario(
    "nats.single.reset",
    family="nats",
    topology="nats-single",
    checks=["AutoReconnect", "DisconnectedErrCB", "ReconnectedCB", "ReconnectWait", "ReconnectJitter"],
)
def reset(run: Run) -> None:
    """One server, every connection accepted then reset (RST) for 11 s, library defaults."""
    cut_and_heal(run, "reset", OUTAGE_S)


@reset.judge
def judge_reset(j: Judge) -> None:
    schedules.nats_schedule(j, "n1-client")
    down, up = j.outage().start_ns, j.outage().until_ns
    wire = wire_connections(j.tl, ["n1-client"], down, up)
    reported = j.tl.select(actor="client", kind="attempt_failed", after=down, before=up)
    j.metric("wire_attempts_not_reported_by_library", max(0, len(wire) - len(reported)))


@scenario(
    "nats.single.blackhole",
    family="nats",
    topology="nats-single",
    checks=["AutoReconnect", "ReconnectedCB", "Timeout", *variants("Timeout"), "ReconnectWait"],
)
def blackhole(run: Run) -> None:
    """One server, connections dropped and then blackholed (accepted, no data) for 15 s."""
    cut_and_heal(run, "blackhole", BLACKHOLE_OUTAGE_S, drop_existing=True)


@blackhole.judge
def judge_blackhole(j: Judge) -> None:
    timeout = j.option("client", "Timeout")
    wait = j.option("client", "ReconnectWait")
    jitter = j.option("client", "ReconnectJitter")
    schedules.nats_schedule(j, "n1-client", attempt_cost_ms=timeout)
    if not j.outages():
        return
    down, up = j.outage().start_ns, j.outage().end_ns
    wire = wire_connections(j.tl, ["n1-client"], down, up)
    judge_timeout(j, "Timeout", timeout, wait, jitter, wire, up)
    for own in variants("Timeout"):  # a client's own documented timeout (its expectations file)
        if j.applies(own):
            given = j.actors["client"]["options"].get("Timeout")
            judge_timeout(j, own, given if given is not None else j.exp(own).value, wait, jitter, wire, up)


def judge_timeout(j: Judge, check_id: str, timeout: float, wait: float, jitter: float, wire: list, up: int) -> None:
    """How long the library waited on each blackholed attempt before giving up on it."""
    # When did the library give up on each silent attempt? Where it reports the
    # failure, that report; otherwise its next attempt, less the wait before it
    # (which carries the documented jitter, so that band is [Timeout, Timeout + jitter]).
    gave_up: list[tuple[float, float, float, int]] = []  # (ms after accept, low, high, gave-up time)
    still_waiting: float | None = None  # ms the last attempt was still open when the blackhole ended
    for i, w in enumerate(wire):
        nxt = wire[i + 1]["t_ns"] if i + 1 < len(wire) else None
        # Only failures while the blackhole lasted: ending it closes open connections.
        fail = j.tl.first(actor="client", kind="attempt_failed", after=w["t_ns"], before=nxt or up)
        if fail is not None:
            gave_up.append((ms(fail["t_ns"] - w["t_ns"]), timeout, timeout, fail["t_ns"]))
        elif nxt is not None:
            gave_up.append((ms(nxt - w["t_ns"]) - wait, timeout, timeout + jitter, nxt))
        elif ms(up - w["t_ns"]) > timeout + jitter + slack_ms(timeout) + j.noise_ms:
            # Not given up on by the end of the blackhole, well past its timeout:
            # at least that long, which is beyond the band whatever came later.
            still_waiting = ms(up - w["t_ns"])
    left_open = [ms(w["closed_ns"] - g[3]) if w["closed_ns"] else None for w, g in zip(wire, gave_up, strict=False)]
    if check_id == "Timeout":  # what was observed; a client's own timeout only moves the band
        j.metric("gave_up_after_ms", [g[0] for g in gave_up])
        j.metric("connection_left_open_after_giving_up_ms", left_open)
        j.metric("attempt_still_open_when_healed_ms", still_waiting)
    if still_waiting is not None:
        gave_up.append((still_waiting, timeout, timeout + jitter, up))
    if not gave_up:
        j.not_measured(check_id, "no blackholed attempt was followed by a failure report or another attempt")
        return
    # Each attempt has its own band: [Timeout, Timeout] where the library reported
    # the failure, [Timeout, Timeout + jitter] where it was inferred.
    # Each told from the noise near its attempt: from its accept to its giving up.
    near = [j.noise_near(w["t_ns"], g[3]) for w, g in zip(wire, gave_up, strict=False)]
    near += [j.noise_ms] * (len(gave_up) - len(near))
    bands = [(g[0], Band.around(g[1], g[2], n)) for g, n in zip(gave_up, near, strict=True)]
    outside = [v for v, b in bands if not b.holds(v)]
    sure = [v for v, b in bands if b.beyond_noise([v])]
    detail = (
        f"{len(gave_up)} blackholed attempts (accepted, never answered): time until the library gave up, "
        f"from its failure report or from its next attempt less ReconnectWait; band [{timeout}, {timeout}] "
        f"ms, or [{timeout}, {timeout + jitter}] ms when inferred (± {slack_ms(timeout):g} ms measurement slack)"
        + (f"; outside: {outside}" if outside else "")
        + (
            f"; the last attempt was still waiting {still_waiting:g} ms after it was accepted, when the blackhole ended"
            if still_waiting is not None
            else ""
        )
    )
    band = Band.around(timeout, timeout + jitter, max(near))
    if outside and not sure:
        detail += f"; each lies within the timer noise measured near it (at most {max(near):g} ms) of its band"
        j.too_noisy(check_id, [g[0] for g in gave_up], detail, documented=timeout, band=band)
        return
    j.verdict(check_id, not outside, [g[0] for g in gave_up], detail, documented=timeout, band=band)


# PingInterval shortened so that stale detection is seen in seconds; the default
# (2 min, MaxPingsOut 2) would take 4 to 6 minutes and is stated, not waited for.
STALE_PING_MS = 1000


@scenario("nats.single.stale", family="nats", topology="nats-single", checks=["PingInterval", "MaxPingsOut"])
def stale(run: Run) -> None:
    """Blackhole under an open connection (nothing flows, nothing closes), PingInterval 1 s."""
    if not run.connect("client", ["n1-client"], options={"PingInterval": STALE_PING_MS}, timeout=CONNECT_S):
        return
    hole = run.fault("blackhole", "n1-client")
    run.wait("client", "disconnected", 10, after_ns=hole.start_ns)
    run.sleep(0.5)
    hole.end()
    run.wait("client", "reconnected", 10, after_ns=hole.start_ns)


@stale.judge
def judge_stale(j: Judge) -> None:
    if schedules.never_connected(j):
        return
    down = j.outage().start_ns
    lost = j.tl.first(actor="client", kind="disconnected", after=down)
    pi = j.option("client", "PingInterval")
    pings = j.option("client", "MaxPingsOut")
    default_pi = j.exp("PingInterval").value
    # The first unanswered ping goes out within one interval of the blackhole; the
    # connection is declared stale when one more is due with MaxPingsOut pending.
    low, high = pings * pi, (pings + 1) * pi
    j.metric("stale_detected_ms", ms(lost["t_ns"] - down) if lost else None)
    j.metric("stale_error", lost.get("error") if lost else None)
    j.metric("default_detection_window_ms", [pings * default_pi, (pings + 1) * default_pi])
    observed = [ms(lost["t_ns"] - down)] if lost else []
    note = (
        f"; with the default PingInterval ({default_pi / 1000:g} s) detection would take "
        f"{pings * default_pi / 60000:g} to {(pings + 1) * default_pi / 60000:g} min (not waited for)"
    )
    # Both claims are judged by when the loss is noticed; documented states it in ms.
    expected = f"a ping every {pi:g} ms, stale at {pings} unanswered: noticed {low:g}..{high:g} ms after data stops"
    spans = [(down, lost["t_ns"])] if lost else None  # from the blackhole to the loss noticed
    j.within(
        "PingInterval",
        observed,
        low,
        high,
        f"stale detection with PingInterval {pi} ms" + note,
        documented=expected,
        spans=spans,
    )
    j.within(
        "MaxPingsOut",
        observed,
        low,
        high,
        f"stale detection after {pings} unanswered pings",
        documented=expected,
        spans=spans,
    )


@scenario("nats.single.giveup", family="nats", topology="nats-single", checks=["MaxReconnect", "ClosedCB"])
def giveup(run: Run) -> None:
    """One server cut for good, MaxReconnect 3: attempts until the client closes."""
    cut_for_good(run, {"MaxReconnect": 3}, 30)


@giveup.judge
def judge_giveup(j: Judge) -> None:
    judge_give_up(j)


@scenario(
    "nats.single.giveup-default",
    family="nats",
    topology="nats-single",
    checks=["MaxReconnect", *variants("MaxReconnect"), "ClosedCB"],
    slow=True,
)
def giveup_default(run: Run) -> None:
    """One server cut for good, library defaults: attempts until the client closes (about 2 min)."""
    cut_for_good(run, None, 60 * 2.2 + 30)


@giveup_default.judge
def judge_giveup_default(j: Judge) -> None:
    judge_give_up(j)


@scenario(
    "nats.single.no-reconnect",
    family="nats",
    topology="nats-single",
    checks=["AllowReconnect", "ClosedCB", "DisconnectedErrCB"],
)
def no_reconnect(run: Run) -> None:
    """AllowReconnect off, the link refused: the client must close without trying again."""
    if not run.connect("client", ["n1-client"], options={"AllowReconnect": False}, timeout=CONNECT_S):
        return
    cut = run.fault("refuse", "n1-client")
    run.wait("client", "closed", 10, after_ns=cut.start_ns)
    run.sleep(2.5)  # longer than ReconnectWait: an attempt would show


@no_reconnect.judge
def judge_no_reconnect(j: Judge) -> None:
    if schedules.never_connected(j):
        return
    down = j.outage().start_ns
    attempts = client_attempts(j.tl, "client", down)
    closed = j.tl.first(actor="client", kind="closed", after=down)
    lost = j.tl.select(actor="client", kind="disconnected", after=down, before=closed["t_ns"] if closed else None)
    j.metric("attempts_after_loss", len(attempts))
    j.metric("closed_after_loss_ms", ms(closed["t_ns"] - down) if closed else None)
    j.verdict(
        "AllowReconnect",
        not attempts and closed is not None,
        {"attempts": len(attempts), "closed": closed is not None},
        "AllowReconnect false: no attempt, and the connection closed",
        documented=False,
    )
    j.verdict(
        "ClosedCB",
        closed is not None,
        closed is not None,
        "closed callback after the loss",
    )
    j.verdict(
        "DisconnectedErrCB",
        len(lost) == 1,
        len(lost),
        "disconnected callbacks for the loss",
        unit="calls",
    )


# 4 KiB messages at 1000/s: 4 MB/s fills an 8 MiB buffer in about 2 s.
PUB_SIZE = 4096
PUB_RATE = 1000


@scenario(
    "nats.single.publish-while-cut",
    family="nats",
    topology="nats-single",
    checks=["ReconnectBufSize", *variants("ReconnectBufSize"), "ReconnectBufSize.flush"],
)
def publish_while_cut(run: Run) -> None:
    """Publish steadily through a refused link until the library refuses; every message's fate."""
    run.start("observer", ["n1-observer"], subscribe=True)
    if run.wait("observer", "subscribed", CONNECT_S) is None:
        return
    if not run.connect(
        "client", ["n1-client"], publish={"rate": PUB_RATE, "size": PUB_SIZE}, timeout=CONNECT_S, settle=1.0
    ):
        return
    cut = run.fault("refuse", "n1-client")
    # The refusal of a full buffer comes after the library noticed the loss; a write
    # to the dead connection before that can fail too (nats.go under load: "broken
    # pipe"), and healing 1 s after it left the buffer no time to fill.
    lost = run.wait("client", "disconnected", 10, after_ns=cut.start_ns)
    run.wait("client", "publish_failed", 20, after_ns=lost["t_ns"] if lost else cut.start_ns)
    run.sleep(1.0)
    cut.end()
    run.wait("client", "reconnected", 10, after_ns=cut.start_ns)
    run.sleep(1.5)
    run.stop("client")
    # Let the observer drain what the server still has in flight.
    run.sleep(1.5)


@publish_while_cut.judge
def judge_publish_while_cut(j: Judge) -> None:
    if schedules.never_connected(j):
        return
    down, up = j.outage().start_ns, j.outage().end_ns
    subject = j.actors["client"]["workload"]["subject"]
    lost = j.tl.first(actor="client", kind="disconnected", after=down)
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    # The buffer's limit is told by the first refusal after the library noticed the
    # loss: one before it is a write to the dead connection (nats.go under load,
    # "broken pipe"), before anything was buffered.
    noticed = lost["t_ns"] if lost else down
    first_refusal = j.tl.first(actor="client", kind="publish_failed", after=noticed)
    refused_before = j.tl.select(actor="client", kind="publish_failed", after=down, before=noticed)
    per_msg = protocol_bytes(subject, PUB_SIZE)
    # Accepted while reconnecting: after the library reported the loss, before its
    # first refusal. All of these must be delivered once it is back (flush). One
    # accepted at the cut's instant (invariants.fault_instant_ns) may still have gone to the dead socket
    # (jnats reports the loss from its reader thread while its writer goes on): in
    # flight at the instant, counted and not judged, as the no-silent-loss invariant does.
    instant_end = invariants.fault_instant_ns(j, "client")[1]
    while_reconnecting = j.tl.select(
        actor="client",
        kind="published",
        after=max(lost["t_ns"] if lost else down, instant_end),
        before=first_refusal["t_ns"] if first_refusal else up,
    )
    at_instant = j.tl.select(actor="client", kind="published", after=lost["t_ns"] if lost else down, before=instant_end)
    # What the buffer held at the first refusal: messages accepted before it that
    # reached the observer only after the link healed (nothing could pass before).
    # This counts the buffer's content itself, wherever the library started filling
    # it, where the loss callback may come a few messages late.
    first_seen: dict[int, int] = {}
    for e in j.tl.select(actor="observer", kind="received"):
        first_seen.setdefault(e["seq"], e["t_ns"])
    buffered = [
        e
        for e in j.tl.select(actor="client", kind="published", before=first_refusal["t_ns"] if first_refusal else up)
        if first_seen.get(e["seq"], 0) >= up
    ]
    buffered_bytes = len(buffered) * per_msg
    j.metric("message_protocol_bytes", per_msg)
    j.metric("buffered_messages", len(buffered))
    j.metric("buffered_bytes", buffered_bytes)
    j.metric("first_refusal_after_loss_ms", ms(first_refusal["t_ns"] - down) if first_refusal else None)
    j.metric("refusal_error", first_refusal["error"] if first_refusal else None)
    j.metric("refused_before_loss_noticed", len(refused_before))
    j.metric(
        "ledger",
        ledger(
            j.tl,
            "client",
            ["observer"],
            {
                "before_cut": (j.tl.t0_ns, down),
                "while_reconnecting": (down, back["t_ns"] if back else None),
                "after_reconnect": (back["t_ns"], None) if back else (j.tl.t1_ns, None),
            },
        ),
    )

    def capacity(check_id: str) -> None:
        size = j.exp(check_id).value
        if check_id == "ReconnectBufSize":
            size = j.option("client", "ReconnectBufSize")
        if first_refusal is None:
            j.deviates(
                check_id,
                buffered_bytes,
                "the library never refused a publish while cut off",
                documented=size,
                unit="bytes",
            )
            return
        # The library checks its limit once per message, so the fill level at the
        # first refusal is within one message of the documented size.
        ok = size - per_msg <= buffered_bytes <= size + per_msg
        j.verdict(
            check_id,
            ok,
            buffered_bytes,
            f"{len(buffered)} messages of {per_msg} protocol bytes held by the library (accepted before its "
            f"first refusal, {first_refusal['error']}, and delivered only after the link healed); "
            "band is the size +/- one message",
            documented=size,
            unit="bytes",
            band=Band(size - per_msg, size + per_msg, 0.0, 0.0),
        )

    capacity("ReconnectBufSize")
    for own in variants("ReconnectBufSize"):  # a client's own documented size (its expectations file)
        if j.applies(own):
            capacity(own)

    missing = [e["seq"] for e in while_reconnecting if e["seq"] not in first_seen]
    j.verdict(
        "ReconnectBufSize.flush",
        bool(while_reconnecting) and not missing and back is not None,
        {
            "accepted_while_reconnecting": len(while_reconnecting),
            "delivered": len(while_reconnecting) - len(missing),
            "missing": missing[:20],
            "in_flight_at_instant": len(at_instant),
        },
        "messages accepted while reconnecting (after the cut's first "
        f"{INSTANT_MS:g} ms), delivered to the observer after the reconnect",
        unit="messages",
    )


@scenario("nats.single.resubscribe", family="nats", topology="nats-single", checks=["Resubscribe"])
def resubscribe(run: Run) -> None:
    """A subscriber's link refused for 3 s while an observer publishes: does it keep receiving?"""
    run.start("client", ["n1-client"], subscribe=True)
    if run.wait("client", "subscribed", CONNECT_S) is None:
        return
    run.start(
        "observer",
        ["n1-observer"],
        publish={"rate": 50, "size": 32},
        subject=run.actors["client"]["workload"]["subject"],
    )
    run.wait("observer", "connected", CONNECT_S)
    run.sleep(1.0)
    cut = run.fault("refuse", "n1-client")
    run.sleep(3.0)
    cut.end()
    back = run.wait("client", "reconnected", 10, after_ns=cut.start_ns)
    run.sleep(2.0 if back else 0)
    run.stop("observer")
    run.sleep(0.5)  # what the observer published last is still on its way


# Time allowed after the reconnect for the re-sent subscription to take effect.
RESUBSCRIBE_GRACE_MS = 1000


@resubscribe.judge
def judge_resubscribe(j: Judge) -> None:
    if schedules.never_connected(j):
        return
    down = j.outage().start_ns
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    subscribes = j.tl.select(actor="client", kind="subscribed")
    if back is None:
        j.deviates("Resubscribe", None, "the subscriber never reconnected")
        return
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == "observer"), None)
    published = j.tl.select(
        actor="observer", kind="published", after=back["t_ns"] + RESUBSCRIBE_GRACE_MS * 10**6, before=stop
    )
    received = {e["seq"] for e in j.tl.select(actor="client", kind="received", after=back["t_ns"])}
    first = j.tl.first(actor="client", kind="received", after=back["t_ns"])
    pub_t = {e["seq"]: e["t_ns"] for e in j.tl.select(actor="observer", kind="published")}
    missed = [e["seq"] for e in published if e["seq"] not in received]
    j.metric("first_message_after_reconnect_ms", ms(first["t_ns"] - back["t_ns"]) if first else None)
    j.metric(
        "first_message_published_after_reconnect_ms",
        ms(pub_t[first["seq"]] - back["t_ns"]) if first and first["seq"] in pub_t else None,
    )
    j.metric("published_after_grace", len(published))
    j.metric("missed_after_grace", missed[:20])
    ok = len(published) >= 10 and not missed and len(subscribes) == 1
    j.verdict(
        "Resubscribe",
        ok,
        {
            "published": len(published),
            "received": len(published) - len(missed),
            "driver_subscribe_calls": len(subscribes),
        },
        f"messages published from {RESUBSCRIBE_GRACE_MS} ms after the reconnect, received by the subscriber "
        "that subscribed once",
        unit="messages",
    )


@scenario("nats.single.first-connect-refused", family="nats", topology="nats-single", checks=["RetryOnFailedConnect"])
def first_connect_refused(run: Run) -> None:
    """The server's link refused before the client's first connect (healed after 3 s), defaults."""
    cut = run.fault("refuse", "n1-client")
    run.start("client", ["n1-client"])
    # The 3 s count from the connect call: a JVM driver can take seconds to get there.
    run.wait("client", "connect_started", CONNECT_S)
    failed = run.wait("client", "connect_failed", 3.0)
    cut.end()
    if failed is None:
        run.wait("client", ("connected", "connect_failed"), 10, after_ns=cut.record["end_ns"])
    run.sleep(0.3)


@first_connect_refused.judge
def judge_first_connect_refused(j: Judge) -> None:
    cut = j.outage()
    tried = j.tl.select(actor="client", kind=("attempt", "attempt_failed"))
    failed = j.tl.first(actor="client", kind="connect_failed")
    connected = j.tl.first(actor="client", kind="connected")
    j.metric("attempts", len(client_attempts(j.tl, "client", j.tl.t0_ns)))
    j.metric("connect_failed_after_ms", ms(failed["t_ns"] - cut.start_ns) if failed else None)
    j.metric("connected_after_heal_ms", ms(connected["t_ns"] - cut.end_ns) if connected else None)
    # The first dial: the library's first attempt event, else (a library that reports no
    # attempt starts) its connect call. After the heal, the refused first connect never happened.
    first = j.tl.first(actor="client", kind="attempt") or j.tl.first(actor="client", kind="connect_started")
    if first is None or first["t_ns"] >= cut.end_ns:
        late = f", {ms(first['t_ns'] - cut.end_ns):g} ms after the link healed" if first else ""
        j.not_measured("RetryOnFailedConnect", f"the client's first connection attempt came too late{late}")
        return
    retried = connected is not None or len(client_attempts(j.tl, "client", j.tl.t0_ns)) > 1
    j.verdict(
        "RetryOnFailedConnect",
        failed is not None and not retried,
        {"connect_failed": failed is not None, "retried": retried, "attempt_events": len(tried)},
        "default: the first connect fails at once and is not retried",
    )


@scenario(
    "nats.single.retry-on-failed-connect",
    family="nats",
    topology="nats-single",
    checks=["RetryOnFailedConnect.ReconnectHandler"],
)
def retry_on_failed_connect(run: Run) -> None:
    """RetryOnFailedConnect on, the server's link refused for the first 3 s: which callback fires."""
    cut = run.fault("refuse", "n1-client")
    run.start("client", ["n1-client"], options={"RetryOnFailedConnect": True})
    run.wait("client", "connect_started", CONNECT_S)  # the 3 s count from the connect call
    run.sleep(3.0)
    cut.end()
    run.wait("client", ("connected", "reconnected"), 10, after_ns=cut.record["end_ns"])
    run.sleep(0.3)


@retry_on_failed_connect.judge
def judge_retry_on_failed_connect(j: Judge) -> None:
    heal = j.outage().end_ns
    rec = j.tl.first(actor="client", kind="reconnected", after=heal)
    con = j.tl.first(actor="client", kind="connected", after=heal)
    j.metric("callback_when_established", "reconnected" if rec else "connected" if con else None)
    j.metric("established_after_heal_ms", ms((rec or con)["t_ns"] - heal) if rec or con else None)
    j.verdict(
        "RetryOnFailedConnect.ReconnectHandler",
        rec is not None,
        {"reconnected_callback": rec is not None, "connected_callback": con is not None},
        "callback the library called when the retried first connect succeeded",
    )


@scenario(
    "nats.single.retry-on-failed-connect-giveup",
    family="nats",
    topology="nats-single",
    checks=["RetryOnFailedConnect.ClosedHandler"],
)
def retry_giveup(run: Run) -> None:
    """RetryOnFailedConnect on, MaxReconnect 2, the server never reachable: is closed called."""
    run.fault("refuse", "n1-client")
    run.start("client", ["n1-client"], options={"RetryOnFailedConnect": True, "MaxReconnect": 2})
    run.wait("client", "closed", 15)
    run.sleep(0.3)


@retry_giveup.judge
def judge_retry_giveup(j: Judge) -> None:
    closed = j.tl.first(actor="client", kind="closed")
    attempts = client_attempts(j.tl, "client", j.tl.t0_ns, closed["t_ns"] if closed else None)
    j.metric("attempts_before_closed", len(attempts))
    j.verdict(
        "RetryOnFailedConnect.ClosedHandler",
        closed is not None,
        {"closed_callback": closed is not None, "attempts": len(attempts)},
        "closed callback after the retried first connect ran out of attempts",
    )


@scenario("nats.single.slow-consumer", family="nats", topology="nats-single", checks=["AsyncErrorCB"])
def slow_consumer(run: Run) -> None:
    """A subscriber limited to 10 pending messages, 20 ms per message, sent a burst of 300."""
    run.start("client", ["n1-client"], subscribe=True, sub_pending_msgs_limit=10, handler_delay_ms=20)
    if run.wait("client", "subscribed", CONNECT_S) is None:
        return
    run.start("observer", ["n1-observer"], subject=run.actors["client"]["workload"]["subject"])
    if run.wait("observer", "connected", CONNECT_S) is None:
        return
    run.command("observer", {"cmd": "publish", "count": 300, "size": 32})
    run.wait("client", "async_error", 5)
    run.sleep(0.5)


@slow_consumer.judge
def judge_slow_consumer(j: Judge) -> None:
    errors = j.tl.select(actor="client", kind="async_error")
    received = j.tl.select(actor="client", kind="received")
    j.metric("received", len(received))
    j.metric("async_errors", [e["error"] for e in errors][:5])
    slow = [e for e in errors if "slow" in e["error"].lower()]
    j.verdict(
        "AsyncErrorCB",
        bool(slow),
        len(slow),
        "async error callbacks naming a slow consumer after the subscriber fell behind",
        unit="calls",
    )
