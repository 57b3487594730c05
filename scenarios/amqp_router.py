"""AMQP through a skupper-router network (topology "router": interior r1 and r2,
edge e1, a broker b1 behind r1): the inter-router connection dropped, delayed and
partitioned under traffic; r1's connector losing the broker; and failoverUrls.

What the router does is read off the wire: every router connection is a link of
its own (route-r2-r1 is r2's inter-router connector, route-r1-b1 r1's
route-container connector), and Toxiproxy logs each connection it accepts and
closes. Messages across a fault are recorded, not judged (the documentation says
nothing about them), as in amqp_messages.py.

The router exists only as a container image, so on the local backend every one of
these is skipped with that reason.
"""

from __future__ import annotations

import time

from harness.judging import SLACK_MS, Band, Judge, Outage, slack_ms
from harness.judging.metrics import intervals_ms, ledger, ms, stats, wire_connections
from harness.scenario import Run, scenario
from harness.wire import open_connections

CONNECT_S = 15.0
ROUTERS_UP_S = 30.0  # a router retries a lost connection every few seconds
INTER_ROUTER = "route-r2-r1"  # r2's inter-router connector to r1's inter-router listener
BROKER = "route-r1-b1"  # r1's route-container connector to the broker
RATE = 50
SIZE = 64
LASTING_MS = 1000  # a connection open this long was established (a failed attempt closes at once)
PARTITION_S = 8.0
BROKER_DOWN_S = 12.0
FAILOVER_CUT_S = 10.0


def wait_established(run: Run, link: str, timeout: float, hold_s: float = 1.0) -> bool:
    """True once a connection on `link` has stayed open `hold_s` seconds (a failed
    attempt is accepted and closed at once); False after `timeout` seconds. Counted
    over the whole wire log, so a connection opened before the run counts too."""
    deadline = time.monotonic() + timeout
    open_since: float | None = None
    while time.monotonic() < deadline:
        if open_connections(run.live.wire_events(0)).get(link, 0) > 0:
            if open_since is None:
                open_since = time.monotonic()
            if time.monotonic() - open_since >= hold_s:
                return True
        else:
            open_since = None
        run.sleep(0.1)
    return False


def lasting(conns: list[dict]) -> list[dict]:
    """The wire connections (metrics.wire_connections) that were established."""
    return [c for c in conns if c["closed_ns"] is None or c["duration_ms"] >= LASTING_MS]


# -- the inter-router connection under traffic -------------------------------------


def start_flow(run: Run) -> bool:
    """The observer receives on r1, the client sends on r2: every message crosses
    the inter-router link. True once messages arrive."""
    if not wait_established(run, INTER_ROUTER, ROUTERS_UP_S):
        return False
    run.start("observer", ["r1-observer"], subscribe=True)
    if run.wait("observer", "link_opened", CONNECT_S) is None:
        return False
    subject = run.actors["observer"]["workload"]["subject"]
    run.start("client", ["r2-client"], publish={"rate": RATE, "size": SIZE}, subject=subject)
    return run.wait("observer", "received", CONNECT_S) is not None


def end_flow(run: Run) -> None:
    run.stop("client")
    run.sleep(1.5)  # let the observer take what the routers still hold


def flow_metrics(j: Judge) -> Outage | None:
    """The fault, the fate of every message by phase, delivery times, and the
    inter-router connections the wire saw; None when there was no fault."""
    if not j.outages() or j.tl.first(actor="observer", kind="received") is None:
        return None
    fault = j.outage()
    down, up = fault.start_ns, fault.until_ns
    phases = {"before_fault": (j.tl.t0_ns, down), "during_fault": (down, up), "after_fault": (up, None)}
    j.metric("ledger", ledger(j.tl, "client", ["observer"], phases))
    sent_at = {e["seq"]: e["t_ns"] for e in j.tl.select(actor="client", kind="published")}
    for name, (lo, hi) in phases.items():
        took = [
            ms(e["t_ns"] - sent_at[e["seq"]])
            for e in j.tl.select(actor="observer", kind="received")
            if e["seq"] in sent_at and sent_at[e["seq"]] >= lo and (hi is None or sent_at[e["seq"]] < hi)
        ]
        j.metric(f"delivery_ms_{name}", stats(took))
    outcomes: dict[str, int] = {}
    for e in j.tl.select(actor="client", kind="settled"):
        outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    j.metric("settlements", outcomes)
    conns = wire_connections(j.tl, [INTER_ROUTER], j.tl.t0_ns)
    j.metric(
        "inter_router_connections",
        [{"opened_ms": j.tl.rel_ms(c["t_ns"]), "lasted_ms": c["duration_ms"]} for c in conns],
    )
    closed = j.tl.select(source="proxy", kind="conn_closed", link=INTER_ROUTER, after=down, before=up)
    j.metric("inter_router_closed_during_fault", len(closed))
    return fault


def reconnect_check(j: Judge, link: str, after_ns: int) -> None:
    """router.connector.reconnect: from the close of the established connection on
    `link` to the router's next connection there, on the wire."""
    loss = j.tl.first(source="proxy", kind="conn_closed", link=link, after=after_ns)
    if loss is None:
        j.not_measured("router.connector.reconnect", f"no established connection on {link} closed")
        return
    attempt = j.tl.first(source="proxy", kind="conn_accepted", link=link, after=loss["t_ns"])
    delay = j.metric("first_attempt_after_loss_ms", ms(attempt["t_ns"] - loss["t_ns"]) if attempt else None)
    if delay is None:
        j.not_measured("router.connector.reconnect", f"the router never connected on {link} again")
        return
    # "Immediately" is read as no deliberate delay: within the measurement slack
    # (the AMQP client checks read a delay above it as "a brief delay").
    j.verdict(
        "router.connector.reconnect",
        delay <= slack_ms(0),
        delay,
        f"the router's first new connection on {link} came {delay:g} ms after the established one closed; "
        f"'immediately' read as within the {SLACK_MS:g} ms measurement slack",
        unit="ms",
        band=Band(0, 0, 0.0, slack_ms(0)),
    )


@scenario("amqp.router.inter-router.drop", family="amqp", topology="router", checks=["router.connector.reconnect"])
def inter_router_drop(run: Run) -> None:
    """The r2-r1 inter-router connection dropped (reset for 1 s) while the client on r2 sends to r1."""
    if not start_flow(run):
        return
    run.sleep(1.0)
    cut = run.fault("reset", INTER_ROUTER)
    run.sleep(1.0)
    cut.end()
    wait_established(run, INTER_ROUTER, ROUTERS_UP_S)
    run.sleep(2.0)
    end_flow(run)


@inter_router_drop.judge
def judge_inter_router_drop(j: Judge) -> None:
    fault = flow_metrics(j)
    if fault is None:
        j.nothing_measured("no message crossed the inter-router link before the fault")
        return
    reconnect_check(j, INTER_ROUTER, fault.start_ns)


@scenario("amqp.router.inter-router.delay", family="amqp", topology="router", checks=[])
def inter_router_delay(run: Run) -> None:
    """The r2-r1 inter-router connection delayed by 1 s for 5 s while the client on r2 sends to r1."""
    if not start_flow(run):
        return
    run.sleep(1.0)
    slow = run.fault("latency", INTER_ROUTER, latency_ms=1000)
    run.sleep(5.0)
    slow.end()
    run.sleep(3.0)
    end_flow(run)


@inter_router_delay.judge
def judge_inter_router_delay(j: Judge) -> None:
    # Measured only: the documentation makes no claim about a slow connection.
    flow_metrics(j)


@scenario("amqp.router.inter-router.partition", family="amqp", topology="router", checks=["router.connector.retry"])
def inter_router_partition(run: Run) -> None:
    """r1 and r2 partitioned for 8 s while the client on r2 sends to r1: does r2's connector come back?"""
    if not start_flow(run):
        return
    run.sleep(1.0)
    cut = run.fault("partition", "r1|r2")
    run.sleep(PARTITION_S)
    cut.end()
    wait_established(run, INTER_ROUTER, ROUTERS_UP_S)
    run.sleep(2.0)
    end_flow(run)


@inter_router_partition.judge
def judge_inter_router_partition(j: Judge) -> None:
    fault = flow_metrics(j)
    if fault is None:
        j.nothing_measured("no message crossed the inter-router link before the partition")
        return
    healed = fault.until_ns
    again = lasting(wire_connections(j.tl, [INTER_ROUTER], healed))
    back = j.metric("reestablished_after_heal_ms", ms(again[0]["t_ns"] - healed) if again else None)
    # A partition refuses connections, and a refused attempt never reaches the wire:
    # what is seen is whether retrying went on until the connection was established.
    j.verdict(
        "router.connector.retry",
        back is not None,
        {"reestablished_after_heal_ms": back},
        f"after a {PARTITION_S:g} s partition, r2's inter-router connector "
        + (f"connected again {back:g} ms after the heal" if back is not None else "never connected again")
        + " (refused attempts during the partition are invisible on the wire)",
    )


# -- r1's connector to the broker -----------------------------------------------------


@scenario(
    "amqp.router.broker-lost",
    family="amqp",
    topology="router",
    checks=["router.connector.reconnect", "router.connector.retry"],
)
def broker_lost(run: Run) -> None:
    """The broker behind r1 killed for 12 s: when r1's route-container connector tries again, and how often."""
    if not wait_established(run, BROKER, ROUTERS_UP_S):
        return
    # A client on r1 watches too: losing the broker should not disturb it.
    if not run.connect("client", ["r1-client"], timeout=CONNECT_S):
        return
    kill = run.fault("kill", "b1")
    run.sleep(BROKER_DOWN_S)
    kill.end()  # the broker starts again
    wait_established(run, BROKER, ROUTERS_UP_S)
    run.sleep(0.5)


@broker_lost.judge
def judge_broker_lost(j: Judge) -> None:
    if not j.outages():
        j.nothing_measured("the broker was never killed: r1 was not connected to it, or the client never connected")
        return
    kill = j.outage()
    down, back = kill.start_ns, kill.until_ns
    j.metric("client_disconnected", j.tl.first(actor="client", kind="disconnected", after=down) is not None)
    reconnect_check(j, BROKER, down)
    # While the broker is down, Toxiproxy still accepts each attempt and closes it
    # when it cannot reach the broker: every attempt is on the wire.
    tries = wire_connections(j.tl, [BROKER], down, back)
    j.metric("attempts_while_down_ms", [j.tl.rel_ms(c["t_ns"]) for c in tries])
    j.metric("intervals_ms", intervals_ms([c["t_ns"] for c in tries]))
    up = lasting(wire_connections(j.tl, [BROKER], back))
    again = j.metric("established_after_restart_ms", ms(up[0]["t_ns"] - back) if up else None)
    j.verdict(
        "router.connector.retry",
        len(tries) >= 2 and again is not None,
        {"attempts_while_down": len(tries), "established_after_restart_ms": again},
        f"{len(tries)} attempts during the {BROKER_DOWN_S:g} s the broker was down, then "
        + ("a lasting connection once it was back" if again is not None else "no lasting connection")
        + "; 'continually' read as more than one attempt while down and retrying until established",
    )


# -- failoverUrls on r1's client listener ----------------------------------------------


@scenario("amqp.router.failover-urls", family="amqp", topology="router", checks=["router.listener.failoverUrls"])
def failover_urls(run: Run) -> None:
    """A client given only r1, whose listener advertises r2 as failoverUrls: r1's link reset for 10 s; is r2 tried?"""
    if not run.connect("client", ["r1-client"], timeout=CONNECT_S):
        return
    cut = run.fault("reset", "r1-client")
    run.sleep(FAILOVER_CUT_S)
    cut.end()
    run.wait("client", "reconnected", CONNECT_S, after_ns=cut.start_ns)
    run.sleep(0.5)


@failover_urls.judge
def judge_failover_urls(j: Judge) -> None:
    if not j.outages() or j.tl.first(actor="client", kind="connected") is None:
        j.nothing_measured("the client never connected to r1")
        return
    cut = j.outage()
    down, up = cut.start_ns, cut.until_ns
    # Only the client uses these two links here: every connection on them is its attempt.
    order = [c["link"] for c in wire_connections(j.tl, ["r1-client", "r2-client"], down, up)]
    j.metric("attempt_order", order)
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    j.metric("reconnected_ms_after_cut", ms(back["t_ns"] - down) if back else None)
    via_r2 = lasting(wire_connections(j.tl, ["r2-client"], down, up))
    j.metric("reconnected_through_failover_url", bool(via_r2))
    j.verdict(
        "router.listener.failoverUrls",
        bool(via_r2),
        {"attempts_while_r1_cut": order[:20], "reestablished_through_r2": bool(via_r2)},
        f"r1's link was reset for {FAILOVER_CUT_S:g} s; attempts in order: "
        + (", ".join(order[:12]) or "none")
        + ("" if via_r2 else "; the advertised r2 URL was never used to reestablish the connection"),
    )
