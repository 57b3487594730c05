"""AMQP messages across an outage: every message sent before, during and after it,
and a receiver that must keep receiving once its links are re-attached.

The documentation says nothing about the fate of messages sent while cut off, so
that part is recorded (the ledger) rather than judged; what is judged is that the
client recovers: connection back, links re-attached, messages flowing again.
"""

from __future__ import annotations

from harness.judging import Judge, schedules
from harness.judging.metrics import ledger, ms
from harness.scenario import Run, scenario

CONNECT_S = 15.0
RATE = 100
SIZE = 256


@scenario("amqp.messages.send-while-cut", family="amqp", topology="artemis-3", checks=["reconnect.recovers"])
def send_while_cut(run: Run) -> None:
    """A sender at 100 msg/s through a link refused for 3 s; an observer receives on the broker."""
    run.start("observer", ["a1-observer"], subscribe=True)
    if run.wait("observer", "link_opened", CONNECT_S) is None:
        return
    run.start(
        "client",
        ["a1-client"],
        publish={"rate": RATE, "size": SIZE},
        subject=run.actors["observer"]["workload"]["subject"],
    )
    if run.wait("client", "connected", CONNECT_S) is None:
        return
    run.sleep(1.0)
    cut = run.fault("refuse", "a1-client")
    run.sleep(3.0)
    cut.end()
    run.wait("client", "reconnected", 15, after_ns=cut.start_ns)
    run.sleep(2.0)
    run.stop("client")
    run.sleep(1.5)  # let the observer take what the broker still holds


@send_while_cut.judge
def judge_send_while_cut(j: Judge) -> None:
    if schedules.never_connected(j, "the sender never connected"):
        return
    down = j.outage().start_ns
    loss = j.tl.first(actor="client", kind="disconnected", after=down)
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    phases = {
        "before_cut": (j.tl.t0_ns, down),
        "while_cut": (down, back["t_ns"] if back else None),
        "after_reconnect": (back["t_ns"], None) if back else (j.tl.t1_ns, None),
    }
    led = j.metric("ledger", ledger(j.tl, "client", ["observer"], phases))
    settled = j.tl.select(actor="client", kind="settled")
    outcomes: dict[str, dict[str, int]] = {}
    sent_at = {e["seq"]: e["t_ns"] for e in j.tl.select(actor="client", kind="published")}
    for e in settled:
        t = sent_at.get(e["seq"])
        phase = next((p for p, (lo, hi) in phases.items() if t is not None and t >= lo and (hi is None or t < hi)), "?")
        outcomes.setdefault(phase, {}).setdefault(e["outcome"], 0)
        outcomes[phase][e["outcome"]] += 1
    j.metric("settlement_by_phase", outcomes)
    unsettled = [s for s in sent_at if s not in {e["seq"] for e in settled}]
    j.metric("accepted_but_never_settled", {"count": len(unsettled), "seqs": unsettled[:50]})
    j.metric("sender_links_opened", len(j.tl.select(actor="client", kind="link_opened")))
    j.metric("loss_noticed_ms", ms(loss["t_ns"] - down) if loss else None)
    after = led["phases"].get("after_reconnect", {})
    flowing = back is not None and after.get("delivered", 0) > 0
    j.verdict(
        "reconnect.recovers",
        flowing,
        {"reconnected": back is not None, "delivered_after_reconnect": after.get("delivered", 0)},
        "the sender reconnected and messages it sent afterwards reached the observer",
    )


@scenario("amqp.messages.receiver", family="amqp", topology="artemis-3", checks=["reconnect.recovers"])
def receiver(run: Run) -> None:
    """A receiver's link refused for 3 s while an observer sends 50 msg/s: does it keep receiving?"""
    run.start("client", ["a1-client"], subscribe=True)
    if run.wait("client", "link_opened", CONNECT_S) is None:
        return
    run.start(
        "observer",
        ["a1-observer"],
        publish={"rate": 50, "size": 64},
        subject=run.actors["client"]["workload"]["subject"],
    )
    run.wait("observer", "connected", CONNECT_S)
    run.sleep(1.0)
    cut = run.fault("refuse", "a1-client")
    run.sleep(3.0)
    cut.end()
    back = run.wait("client", "reconnected", 15, after_ns=cut.start_ns)
    run.sleep(2.0 if back else 0)
    run.stop("observer")
    run.sleep(1.0)


@receiver.judge
def judge_receiver(j: Judge) -> None:
    if schedules.never_connected(j, "the receiver never connected"):
        return
    down = j.outage().start_ns
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    relinked = j.tl.select(actor="client", kind="link_opened", after=back["t_ns"] if back else j.tl.t1_ns)
    got = {e["seq"] for e in j.tl.select(actor="client", kind="received")}
    sent = [e["seq"] for e in j.tl.select(actor="observer", kind="published")]
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == "observer"), None)
    # Anycast queue on the broker: what the observer sent while the receiver was cut
    # off waits for it, so every message sent should arrive once it is back.
    missing = [s for s in sent if s not in got]
    first_after = j.tl.first(actor="client", kind="received", after=back["t_ns"]) if back else None
    j.metric("links_reattached", len(relinked))
    j.metric("first_message_after_reconnect_ms", ms(first_after["t_ns"] - back["t_ns"]) if first_after else None)
    j.metric("sent", len(sent))
    j.metric("missing", missing[:50])
    j.metric("observer_stopped_ns", stop)
    ok = back is not None and bool(relinked) and first_after is not None
    j.verdict(
        "reconnect.recovers",
        ok,
        {
            "reconnected": back is not None,
            "links_reattached": len(relinked),
            "received_after_reconnect": first_after is not None,
        },
        "the receiver reconnected, its link was attached again by the library, and messages arrived",
    )
