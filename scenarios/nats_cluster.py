"""NATS, three-node cluster: failover order, passes over the server list, servers
learned from the cluster, giving up across servers.

Every node's client port is behind its own link (n1-client, n2-client, n3-client)
and advertises that link to clients, so servers a client learns from the cluster
are reached through proxies too.
"""

from __future__ import annotations

from itertools import pairwise

from harness.judging import Band, Judge, schedules, slack_ms
from harness.judging.metrics import client_attempts, intervals_ms, link_of_url, ms, stats, wire_connections
from harness.scenario import NotSupported, Run, scenario

CONNECT_S = 10.0
NODES = ("n1", "n2", "n3")
CLIENT_LINKS = [f"{n}-client" for n in NODES]


def attempted_links(j: Judge, after: int, before: int | None) -> list[dict]:
    """Every attempt with the link it went to: the client's own account where it
    names the server, the wire's where it does not."""
    urls = j.links
    own = [a for a in client_attempts(j.tl, "client", after, before) if a.get("url")]
    if own:
        return [{"t_ns": a["t_ns"], "link": link_of_url(a["url"], urls), "seen_by": "client"} for a in own]
    return [
        {"t_ns": w["t_ns"], "link": w["link"], "seen_by": "wire"}
        for w in wire_connections(j.tl, CLIENT_LINKS, after, before)
    ]


def reconnected_link(j: Judge, back: dict) -> str | None:
    """The link the client reconnected through: its own account where it names the
    server, else the wire's (the connection on a client link still open then)."""
    if back.get("url"):
        return link_of_url(back["url"], j.links)
    held = [
        w
        for w in wire_connections(j.tl, CLIENT_LINKS, j.outage().start_ns, back["t_ns"])
        if w["closed_ns"] is None or w["closed_ns"] > back["t_ns"]
    ]
    return held[-1]["link"] if held else None


@scenario(
    "nats.cluster.failover",
    family="nats",
    topology="nats-3",
    checks=["ReconnectToKnownServers", "DisconnectedErrCB", "ReconnectedCB"],
)
def failover(run: Run) -> None:
    """Client given n1 only; n1's link refused for 6 s: where it goes, in what order, how fast."""
    if not run.connect("client", ["n1-client"], timeout=CONNECT_S, settle=1.0):
        return
    cut = run.fault("refuse", "n1-client")
    run.wait("client", "reconnected", 8, after_ns=cut.start_ns)
    run.sleep(max(0.0, 6.0 - (run.mark("healing") - cut.start_ns) / 1e9))
    cut.end()
    run.sleep(0.3)


@failover.judge
def judge_failover(j: Judge) -> None:
    if schedules.never_connected(j, "the client never connected"):
        return
    down, up = j.outage().start_ns, j.outage().end_ns
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    lost = j.tl.select(actor="client", kind="disconnected", after=down, before=back["t_ns"] if back else up)
    tried = attempted_links(j, down, back["t_ns"] if back else up)
    discovered = j.tl.select(actor="client", kind="servers_discovered")
    j.metric("attempt_order", [a["link"] for a in tried])
    j.metric("attempt_order_seen_by", sorted({a["seen_by"] for a in tried}))
    target = reconnected_link(j, back) if back else None
    j.metric("reconnected_to", target)
    j.metric("reconnected_to_seen_by", None if back is None else "client" if back.get("url") else "wire")
    j.metric("reconnected_after_loss_ms", ms(back["t_ns"] - down) if back else None)
    j.metric("servers_discovered_events", [e["servers"] for e in discovered])
    j.verdict(
        "ReconnectToKnownServers",
        target in ("n2-client", "n3-client"),
        target,
        "given only n1, the client reconnected to a server the cluster told it about",
    )
    j.verdict(
        "DisconnectedErrCB",
        len(lost) == 1,
        len(lost),
        "disconnected callbacks for the one loss",
        unit="calls",
    )
    j.verdict(
        "ReconnectedCB",
        back is not None,
        back is not None,
        "reconnected callback after failing over",
    )


ALL_CUT_S = 9.0


@scenario("nats.cluster.all-cut", family="nats", topology="nats-3", checks=["ReconnectWait"])
def all_cut(run: Run) -> None:
    """Client given all three; every client link resets connections for 9 s: passes over the list."""
    if not run.connect("client", CLIENT_LINKS, timeout=CONNECT_S):
        return
    cut = run.fault("reset", ",".join(CLIENT_LINKS))
    run.sleep(ALL_CUT_S)
    cut.end()
    run.wait("client", "reconnected", 10, after_ns=cut.start_ns)
    run.sleep(0.3)


@all_cut.judge
def judge_all_cut(j: Judge) -> None:
    if not j.outages() or j.tl.first(actor="client", kind="connected") is None:
        j.not_measured("ReconnectWait", "the client never connected")
        return
    down, up = j.outage().start_ns, j.outage().end_ns
    wait = j.option("client", "ReconnectWait")
    jitter = j.option("client", "ReconnectJitter")
    # Every attempt reached the wire (the links reset, they do not refuse), with
    # its start (accepted) and its end (closed). The backoff is the pause from the
    # end of one failed attempt to the start of the next: under load an attempt
    # itself can take tens of ms, which is not part of the documented wait.
    conns = [c for c in wire_connections(j.tl, CLIENT_LINKS, down, up) if c["closed_ns"] is not None]
    spans = [(a["closed_ns"], b["t_ns"]) for a, b in pairwise(conns)]  # what each pause measured
    pauses = [ms(b - a) for a, b in spans]
    groups: list[list[dict]] = [conns[:1]] if conns else []
    for gap, c in zip(pauses, conns[1:], strict=True):
        if gap > wait / 2:
            groups.append([c])
        else:
            groups[-1].append(c)
    backoffs = [g for g in pauses if g > wait / 2]
    per_server = {link: intervals_ms([c["t_ns"] for c in conns if c["link"] == link]) for link in CLIENT_LINKS}
    too_soon = [v for vs in per_server.values() for v in vs if v < wait - slack_ms(wait)]
    j.metric("attempts_per_server", {link: sum(1 for c in conns if c["link"] == link) for link in CLIENT_LINKS})
    j.metric("passes", [[c["link"] for c in g] for g in groups])
    j.metric("attempt_ms", [c["duration_ms"] for c in conns])
    j.metric("gaps_within_passes_ms", [g for g in pauses if g <= wait / 2])
    j.metric("backoffs_ms", backoffs)
    j.metric("per_server_intervals_ms", per_server)
    j.metric("per_server_intervals", stats([v for vs in per_server.values() for v in vs]))
    if not backoffs:
        j.not_measured("ReconnectWait", "no pause between passes over the server list was observed")
        return
    shaped = j.metric(
        "schedule_shape", schedules.shape(pauses, [c["link"] for c in conns[1:]], len(CLIENT_LINKS), jitter)
    )
    near = j.noise_near_each(spans)
    band = Band.around(wait, wait + jitter, max(near) if near else j.noise_ms)
    # Read literally, as MaxReconnect is: "the time to backoff after attempting to
    # (and failing to) reconnect" is a wait after every failed attempt. Beside the
    # verdict: the reading under which the library conforms (a wait per pass).
    per_pass = not band.outside(backoffs) and not too_soon
    j.metric("conforms_if_read_per_pass", per_pass)
    detail = (
        f"read literally, a backoff after every failed attempt: {len(pauses)} pauses from the end of one "
        f"attempt to the next (on the wire), documented band [{wait:g}, {wait + jitter:g}] ms (measured "
        f"[{band.lo:g}, {band.hi:g}] with the slack); the library applies its wait {shaped['wait_applied']}. "
        f"Read as a wait per pass over the list, its {len(backoffs)} pauses between passes "
        + (
            "are all in the band and no server was retried sooner than ReconnectWait: it would conform"
            if per_pass
            else "are not all in the band, or a server was retried sooner: it would still deviate"
        )
    )
    j.in_band("ReconnectWait", pauses, band, detail, documented=wait, near=near)


@scenario("nats.cluster.giveup", family="nats", topology="nats-3", checks=["MaxReconnect", "ClosedCB"])
def giveup(run: Run) -> None:
    """Client given all three, MaxReconnect 3; all three refused for good: attempts until it closes."""
    if not run.connect("client", CLIENT_LINKS, options={"MaxReconnect": 3}, timeout=CONNECT_S):
        return
    run.fault("refuse", ",".join(CLIENT_LINKS))
    run.wait("client", "closed", 40)
    run.sleep(0.3)


@giveup.judge
def judge_giveup(j: Judge) -> None:
    if schedules.never_connected(j, "the client never connected"):
        return
    schedules.give_up(j, CLIENT_LINKS, "in all, over three servers,")


@scenario("nats.cluster.discovered", family="nats", topology="nats-3", checks=["DiscoveredServersCB"])
def discovered(run: Run) -> None:
    """n3 down when the client (given n1) connects; n3 comes back and joins the cluster."""
    if "servers_discovered" not in run.describe["observes"]:
        raise NotSupported(f"{run.client} has no callback for servers learned from the cluster")
    down = run.fault("kill", "n3")
    if not run.connect("client", ["n1-client"], timeout=CONNECT_S):
        return
    down.end()  # starts n3 again and waits until it is routed to its peers
    run.wait(
        "client",
        "servers_discovered",
        5,
        after_ns=down.record["end_ns"],
        where=lambda e: run.url("n3-client") in e["servers"],
    )
    run.sleep(0.3)


@discovered.judge
def judge_discovered(j: Judge) -> None:
    rejoined = j.outage().end_ns
    n3 = j.links["n3-client"]
    events = j.tl.select(actor="client", kind="servers_discovered", after=rejoined)
    hit = next((e for e in events if n3 in e["servers"]), None)
    j.metric("servers_discovered_events", [e["servers"] for e in events])
    j.metric("discovered_after_restart_ms", ms(hit["t_ns"] - rejoined) if hit else None)
    j.verdict(
        "DiscoveredServersCB",
        hit is not None,
        [e["servers"] for e in events],
        "discovered-servers callback naming n3 after n3 joined the cluster",
    )


CUSTOM_DELAY_MS = 300


@scenario(
    "nats.cluster.custom-delay",
    family="nats",
    topology="nats-3",
    checks=["CustomReconnectDelayCB", "CustomReconnectDelayCB.attempts", "CustomReconnectDelayCB.delay"],
)
def custom_delay(run: Run) -> None:
    """Client given all three with a custom reconnect delay of 300 ms; all three refused for 2 s."""
    if not run.connect("client", CLIENT_LINKS, options={"CustomReconnectDelay": CUSTOM_DELAY_MS}, timeout=CONNECT_S):
        return
    cut = run.fault("refuse", ",".join(CLIENT_LINKS))
    run.sleep(2.0)
    cut.end()
    run.wait("client", "reconnected", 5, after_ns=cut.start_ns)
    run.sleep(0.3)


@custom_delay.judge
def judge_custom_delay(j: Judge) -> None:
    if schedules.never_connected(j, "the client never connected"):
        return
    delay = j.actors["client"]["options"]["CustomReconnectDelay"]
    down = j.outage().start_ns
    up = max(o.end_ns for o in j.outages())
    urls = j.links
    lost_url = j.tl.first(actor="client", kind="connected")["url"]
    calls = j.tl.select(actor="client", kind="reconnect_delay_cb", after=down, before=up)
    attempts = [a for a in client_attempts(j.tl, "client", down, up) if a.get("url")]
    j.metric("callback_arguments", [c["attempts"] for c in calls])
    # Which servers had been tried (and failed) before each call, since the previous one.
    # The server just lost counts as tried: its connection is what failed.
    tried_before: list[list[str]] = []
    prev = down
    seen = {link_of_url(lost_url, urls)}
    for c in calls:
        seen |= {link_of_url(a["url"], urls) for a in attempts if prev <= a["t_ns"] < c["t_ns"]}
        tried_before.append(sorted(x for x in seen if x))
        seen, prev = set(), c["t_ns"]
    made = [sum(1 for a in attempts if a["t_ns"] < c["t_ns"]) for c in calls]
    # Each call and the next attempt after it: the span its delay measured.
    spans = [(c["t_ns"], t) for c in calls if (t := next((a["t_ns"] for a in attempts if a["t_ns"] > c["t_ns"]), None))]
    after = [ms(b - a) for a, b in spans]
    j.metric("servers_tried_before_each_call", tried_before)
    j.metric("attempts_made_before_each_call", made)
    j.metric("next_attempt_after_call_ms", after)
    if not calls:
        for cid in j.applicable:
            j.deviates(cid, 0, "the custom delay callback was never called while every server was cut")
        return
    if not attempts:
        why = (
            "the library does not tell the driver where each attempt went, and refused attempts never "
            "reach the wire, so which servers were tried around each call is unknown"
        )
        for cid in j.applicable:
            j.not_measured(cid, why)
        return
    every = all(t == sorted(CLIENT_LINKS) for t in tried_before)
    j.verdict(
        "CustomReconnectDelayCB",
        every,
        tried_before,
        "servers tried since the previous call (the lost server counts as tried), at each call",
    )
    j.verdict(
        "CustomReconnectDelayCB.attempts",
        [c["attempts"] for c in calls] == made,
        {"passed": [c["attempts"] for c in calls], "attempts_made": made},
        "argument of each call against the reconnect attempts made before it",
    )
    j.within(
        "CustomReconnectDelayCB.delay",
        after,
        delay,
        delay,
        f"delays from a callback returning {delay} ms to the next attempt",
        documented=delay,
        spans=spans,
    )
