"""AMQP through a router network (topology "router": interior r1 and r2,
edge e1, a broker b1 behind r1): the inter-router connection dropped, delayed and
partitioned under traffic; r1's connector losing the broker; failoverUrls to clients; a
failover list sent to an edge router; and misconfigured edge routers.

What the router does is read off the wire: every router connection is a link of
its own (route-r2-r1 is r2's inter-router connector, route-r1-b1 r1's
route-container connector), and Toxiproxy logs each connection it accepts and
closes. Messages across a fault are recorded, not judged (the documentation says
nothing about them), as in amqp_messages.py.

On the local backend the router is a binary on this machine, skrouterd or
qdrouterd (harness/services/router_binary.py); where there is none every one of
these is skipped with the reason, which says how to get one.
"""

from __future__ import annotations

from itertools import pairwise

from harness import ports
from harness.clock import now_ns
from harness.errors import Unavailable
from harness.judging import SLACK_MS, Band, Judge, Outage, slack_ms
from harness.judging.metrics import intervals_ms, lasting, ledger, ms, stats, wire_connections
from harness.scenario import Run, scenario
from harness.services import router

CONNECT_S = 15.0
ROUTERS_UP_S = 30.0  # a router retries a lost connection every few seconds
INTER_ROUTER = "route-r2-r1"  # r2's inter-router connector to r1's inter-router listener
BROKER = "route-r1-b1"  # r1's route-container connector to the broker
EDGE = "route-e1-r1"  # e1's edge connector to r1's edge listener
STANDBY = "route-e1-r2"  # r2's edge listener, which e1 learns only from r1's failover list
EDGE_CUT_S = 10.0
FLOW_AGAIN_S = 20.0  # how long messages are awaited once a faulted link is back
TRIAL_S = 4.0  # how long a misconfigured router is given to refuse, or to connect
RATE = 50
SIZE = 64
PARTITION_S = 8.0
BROKER_DOWN_S = 12.0
FAILOVER_CUT_S = 10.0


# -- the inter-router connection under traffic -------------------------------------


def start_flow(run: Run) -> bool:
    """The observer receives on r1, the client sends on r2: every message crosses
    the inter-router link. True once messages arrive."""
    if not run.wait_established(INTER_ROUTER, ROUTERS_UP_S):
        return False
    run.start("observer", ["r1-observer"], subscribe=True)
    if run.wait("observer", "link_opened", CONNECT_S) is None:
        return False
    subject = run.actors["observer"]["workload"]["subject"]
    run.start("client", ["r2-client"], publish={"rate": RATE, "size": SIZE}, subject=subject)
    return run.wait("observer", "received", CONNECT_S) is not None


def flow_again(run: Run, link: str) -> None:
    """After a fault on `link`: wait for the connection, then for messages to arrive
    again (the routers learn the address anew after the link is back), then a
    second more, so that the last messages sent are not cut off by the stop."""
    run.wait_established(link, ROUTERS_UP_S)
    run.wait("observer", "received", FLOW_AGAIN_S, after_ns=now_ns())
    run.sleep(1.0)


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
    # How long until messages flow again: the first message sent after the fault
    # ended arriving, and the longest silence at the observer around the fault.
    got = [e for e in j.tl.select(actor="observer", kind="received") if e["seq"] in sent_at]
    after = [e["t_ns"] for e in got if sent_at[e["seq"]] >= up]
    j.metric("flow_again_after_fault_ms", ms(min(after) - up) if after else None)
    times = sorted(e["t_ns"] for e in got)
    gaps = [b - a for a, b in pairwise(times) if b > down and a < up + 30 * 10**9]
    j.metric("longest_silence_ms", ms(max(gaps)) if gaps else None)
    return fault


def reconnect_check(j: Judge, link: str, after_ns: int, also: list[str] | None = None) -> None:
    """router.connector.reconnect: from the close of the established connection on
    `link` to the router's next connection there (or on an alternate link `also`,
    where a failover list sends it), on the wire."""
    loss = j.tl.first(source="proxy", kind="conn_closed", link=link, after=after_ns)
    if loss is None:
        j.not_measured("router.connector.reconnect", f"no established connection on {link} closed")
        return
    attempt = j.tl.first(source="proxy", kind="conn_accepted", link=[link, *(also or [])], after=loss["t_ns"])
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
    flow_again(run, INTER_ROUTER)
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
    flow_again(run, INTER_ROUTER)
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
    if not run.wait_established(BROKER, ROUTERS_UP_S):
        return
    # A client on r1 watches too: losing the broker should not disturb it.
    if not run.connect("client", ["r1-client"], timeout=CONNECT_S):
        return
    kill = run.fault("kill", "b1")
    run.sleep(BROKER_DOWN_S)
    kill.end()  # the broker starts again
    run.wait_established(BROKER, ROUTERS_UP_S)
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


# -- e1's edge connector and the failover list r1 sends it ---------------------------


@scenario(
    "amqp.router.edge-failover",
    family="amqp",
    topology="router",
    checks=["router.connector.failover-list", "router.connector.reconnect"],
)
def edge_failover(run: Run) -> None:
    """e1's edge link to r1 reset for 10 s; r1 sent e1 a failover list naming r2's edge listener: does e1 try it?"""
    # e1 starts afresh, so that it is on its configured r1 (an earlier run may have
    # left it on r2, where the failover list took it).
    restart = run.fault("kill", "e1")
    restart.end()
    if not run.wait_established(EDGE, ROUTERS_UP_S):
        return
    # A client on r2 keeps the scenario a client's run; the router is what is judged.
    if not run.connect("client", ["r2-client"], timeout=CONNECT_S):
        return
    cut = run.fault("reset", EDGE)
    run.sleep(EDGE_CUT_S)
    cut.end()
    run.wait_established(EDGE, ROUTERS_UP_S)
    run.sleep(0.5)


@edge_failover.judge
def judge_edge_failover(j: Judge) -> None:
    cuts = [o for o in j.outages() if o.kind == "reset" and o.target == EDGE]
    if not cuts:
        j.nothing_measured("e1 never established its edge connection to r1, or the client never connected")
        return
    cut = cuts[0]
    down, up = cut.start_ns, cut.until_ns
    loss = j.tl.first(source="proxy", kind="conn_closed", link=EDGE, after=down)
    if loss is None:
        j.not_measured("router.connector.failover-list", f"no established connection on {EDGE} closed")
        j.not_measured("router.connector.reconnect", f"no established connection on {EDGE} closed")
        return
    # The first attempt after the loss, wherever it goes (the failover list may send
    # it to the alternate host): is it immediate?
    reconnect_check(j, EDGE, down, also=[STANDBY])
    tries = wire_connections(j.tl, [EDGE, STANDBY], loss["t_ns"], up)
    j.metric("attempt_order", [c["link"] for c in tries])
    j.metric(
        "attempts_ms",
        [{"link": c["link"], "at_ms": ms(c["t_ns"] - loss["t_ns"]), "lasted_ms": c["duration_ms"]} for c in tries],
    )
    standby = [c for c in tries if c["link"] == STANDBY]
    first = j.metric("first_alternate_attempt_ms", ms(standby[0]["t_ns"] - loss["t_ns"]) if standby else None)
    held = lasting(standby)
    j.metric("connected_to_alternate", bool(held))
    j.verdict(
        "router.connector.failover-list",
        bool(standby),
        {"alternate_attempts": len(standby), "first_alternate_attempt_ms": first, "connected_to_alternate": bool(held)},
        f"r1's edge listener sent e1 the failover list [{STANDBY}]; during the {EDGE_CUT_S:g} s cut e1 made "
        f"{len(tries) - len(standby)} attempts on {EDGE} and {len(standby)} on {STANDBY}"
        + (f", the first {first:g} ms after the loss" if first is not None else "")
        + ("; an edge connection to r2 was established" if held else ""),
    )


# -- an edge router configured to connect to another edge router ---------------------


def _edge_router(name: str, listen: int, listener_role: str, dial: str | None) -> str:
    """An edge router's configuration with one listener and, if `dial`, an edge connector."""
    text = f"router {{\n    mode: edge\n    id: {name}\n}}\n"
    text += f"listener {{\n    host: 127.0.0.1\n    port: {listen}\n    role: {listener_role}\n}}\n"
    if dial:
        host, port = dial.rsplit(":", 1)
        text += f"connector {{\n    name: e1\n    host: {host}\n    port: {port}\n    role: edge\n}}\n"
    return text


@scenario("amqp.router.edge-misconfigured", family="amqp", topology="router", checks=["router.edge.interior-only"])
def edge_misconfigured(run: Run) -> None:
    """An edge router that listens for edge routers, and one whose edge connector dials edge router e1: refused?"""
    if run.live.backend != "local":
        raise Unavailable("this scenario starts the router binary on this host", "use --backend local with a router")
    if not run.connect("client", ["r2-client"], timeout=CONNECT_S):
        return
    free = ports.claim(2, f"{run.scenario.name} ({run.client})")
    try:
        e1 = run.live.addrs.service("e1", "amqp")  # e1's only listener: it has no edge listener to offer
        for variant, text in (
            ("edge-listener", _edge_router("x1", free[0], "edge", None)),
            ("edge-to-edge", _edge_router("x2", free[1], "normal", e1)),
        ):
            run.mark("trial", variant=variant, **router.trial(text, run.workdir, f"trial-{variant}", TRIAL_S))
    finally:
        ports.release(free)


@edge_misconfigured.judge
def judge_edge_misconfigured(j: Judge) -> None:
    trials = {m["variant"]: m for m in j.tl.marks("trial")}
    if len(trials) < 2:
        j.nothing_measured("the misconfigured routers were not tried (the client never connected)")
        return
    listener, dialler = trials["edge-listener"], trials["edge-to-edge"]
    for variant, t in trials.items():
        j.metric(f"{variant}_refused", t["refused"])
        j.metric(f"{variant}_error", t["error"])
    j.metric("edge-to-edge_connections_opened", len(dialler["opened"]))
    j.metric("edge-to-edge_edge_links_attached", dialler["edge_links"])
    connected = bool(dialler["opened"]) and not dialler["refused"]
    j.verdict(
        "router.edge.interior-only",
        listener["refused"] and not connected,
        {
            "edge_listener_refused": listener["refused"],
            "edge_to_edge_refused": dialler["refused"],
            "edge_to_edge_connected": connected,
        },
        "an edge router with an edge listener: "
        + (f"refused ({listener['error']})" if listener["refused"] else f"ran for {TRIAL_S:g} s")
        + "; an edge router whose edge connector dials edge router e1: "
        + (
            f"refused ({dialler['error']})"
            if dialler["refused"]
            else (
                f"connected and attached {dialler['edge_links']} edge links"
                if connected
                else f"ran for {TRIAL_S:g} s without connecting"
            )
        ),
    )
