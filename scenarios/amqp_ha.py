"""AMQP clients of an Artemis primary/backup pair (topology artemis-ha) when the
primary dies: what the broker tells them about its backup, who follows it, how
fast, and what became of their messages.

The primary names its backup in every AMQP Open (the failover-server-list
property), as the backup's client link: a client that follows that list reaches
the backup through its proxy, and the wire shows it. The client publishes durable
messages (workload.publish.durable) on the primary; once it is stopped, a witness
on the backup drains the queue the pair shares, so the invariants judge every
message: what the primary had taken is in the backup's journal.

Judged only where a client's documentation says something: qpid-jms replaces its
failover URIs with the list the server sends (amqpOpenServerListAction, REPLACE by
default). rhea's and proton's documentation say nothing of a server's list: for
them it is measured. The primary is not started again in these scenarios: its
restart is a failback, which the next entry's reset does not wait for either
(the pair is restarted from the primary, docs/decisions.md).

amqp.router.ha-failover puts the list's other consumer in the client's place: a
router (topology router-ha) whose connector knows only the primary, judged on the
router seed's claim that its connector tries the alternate hosts a peer lists.
"""

from __future__ import annotations

import re
import time

from harness.backends.local import READY_TIMEOUT_S
from harness.clock import now_ns
from harness.errors import EnvironmentFault
from harness.judging import Judge, schedules
from harness.judging.metrics import hostport, lasting, ledger, link_of_address, ms, wire_connections
from harness.scenario import NotSupported, Run, scenario
from harness.services import artemis, artemis_ha

CONNECT_S = 15.0
# Durable, so that what the primary took is in the journal the backup takes over.
PUBLISH = {"rate": 100, "size": 64, "durable": True}
# Once the backup serves, how long a client may take to come to it: qpid-jms's
# attempts, doubling from 10 ms, are at most a few seconds apart by then.
RECONNECT_S = 15.0
AFTER_RECONNECT_S = 2.0  # messages flowing on the backup
DRAIN_QUIET_S = 1.5  # the witness stops once nothing has come for this long
DRAIN_MAX_S = 20.0
PRIMARY, BACKUP = "a1", "a2"


def _service_address(run: Run, service: str) -> str:
    """Where the broker listens itself (no proxy: the harness's own look leaves no
    connection on a client's link)."""
    addrs = getattr(run.live, "addrs", None)
    if addrs is None:
        raise NotSupported(f"the {run.live.backend} backend does not say where {service} listens")
    return addrs.service(service, "amqp")


def record_failover_list(run: Run) -> list[str] | None:
    """The failover-server-list the primary sends in its Open, as a mark."""
    servers = artemis_ha.failover_list(_service_address(run, PRIMARY))
    links = run.links()
    run.mark(
        "primary_open",
        failover_server_list=servers,
        links=[link_of_address(s, links) for s in servers or []],
    )
    return servers


def wait_serving(run: Run, service: str, since_ns: int) -> int:
    """When `service` (the backup) completes an AMQP handshake, on the shared clock.
    Not doing so within READY_TIMEOUT_S is the environment's fault, not the client's."""
    addr = _service_address(run, service)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        # The moment the successful probe connected: its handshake (tens of ms on a
        # loaded host, a JVM's first AMQP connection) is not the backup's delay.
        t = now_ns()
        if artemis.handshake(addr, 0.5):
            break
        if time.monotonic() > deadline:
            raise EnvironmentFault(
                f"{service}, the backup, did not serve within {READY_TIMEOUT_S} s of its primary's kill",
                f"see {getattr(run.live, 'workdir', '?')}/{service}.log",
            )
        time.sleep(0.02)
    run.mark("backup_serving", service=service, after_kill_ms=ms(t - since_ns), probe_ms=ms(now_ns() - t))
    return t


def drain(run: Run, subject: str, link: str = f"{BACKUP}-observer") -> None:
    """A witness on the live broker (the backup, unless the primary took over back)
    takes what the pair holds, until it has been quiet a while."""
    run.start("observer", [link], subscribe=True, subject=subject)
    if run.wait("observer", ("subscribed", "link_opened"), CONNECT_S) is None:
        return
    deadline = time.monotonic() + DRAIN_MAX_S
    seen = -1
    while time.monotonic() < deadline:
        count = sum(1 for e in run.drivers["observer"].snapshot() if e["kind"] == "received")
        if count == seen:
            break
        seen = count
        run.sleep(DRAIN_QUIET_S)
    run.stop("observer")


def failover(run: Run, links: list[str]) -> None:
    """The client publishes on the pair through `links`; the primary is killed and left down."""
    subject = f"{run.tag}.m"
    if record_failover_list(run) is None:
        raise EnvironmentFault(f"{PRIMARY}, the primary, did not answer an AMQP open")
    # The witness drains the backup afterwards, so the broker's first settlement says messages flow.
    if not run.connect(
        "client", links, timeout=CONNECT_S, settle=1.0, flowing=("client", "settled"), publish=PUBLISH, subject=subject
    ):
        return
    kill = run.fault("kill", PRIMARY, restart=False)
    wait_serving(run, BACKUP, kill.start_ns)
    back = run.wait("client", "reconnected", RECONNECT_S, after_ns=kill.start_ns)
    run.sleep(AFTER_RECONNECT_S if back else 0.5)
    run.stop("client")
    drain(run, subject)


@scenario(
    "amqp.ha.primary-killed",
    family="amqp",
    topology="artemis-ha",
    checks=["server_list.replace"],
)
def primary_killed(run: Run) -> None:
    """A client given only the primary's URL; the primary killed: does it follow the backup the broker named?"""
    failover(run, [f"{PRIMARY}-client"])


@primary_killed.judge
def judge_primary_killed(j: Judge) -> None:
    seen = measure(j)
    if seen is None:
        return
    if j.applies("server_list.replace"):
        listed = seen["failover_list_links"]
        if f"{BACKUP}-client" not in listed:
            j.not_measured("server_list.replace", f"the primary's Open named no backup ({listed})")
            return
        to = seen["reconnected_to"]
        j.verdict(
            "server_list.replace",
            to == f"{BACKUP}-client",
            {"reconnected_to": to, "after_backup_serving_ms": seen["reconnect_after_backup_serving_ms"]},
            f"given only {PRIMARY}-client; the primary's Open listed {listed}; after the primary's kill the client "
            + (
                f"reconnected through {to}, {seen['reconnect_after_backup_serving_ms']} ms after the backup served"
                if to
                else f"did not reconnect within {RECONNECT_S:g} s of the backup serving"
            ),
        )


@scenario(
    "amqp.ha.both-urls",
    family="amqp",
    topology="artemis-ha",
    checks=["reconnect.recovers"],
)
def both_urls(run: Run) -> None:
    """A client given both brokers' URLs; the primary killed: how soon it is on the backup, and its messages."""
    failover(run, [f"{PRIMARY}-client", f"{BACKUP}-client"])


@both_urls.judge
def judge_both_urls(j: Judge) -> None:
    seen = measure(j)
    if seen is None:
        return
    if j.applies("reconnect.recovers"):
        to = seen["reconnected_to"]
        after = [
            e
            for e in j.tl.select(kind="received")
            if e["actor"] == "observer" and e.get("seq") in seen["published_after_reconnect"]
        ]
        flowing = to == f"{BACKUP}-client" and bool(after)
        j.verdict(
            "reconnect.recovers",
            flowing,
            {"reconnected_to": to, "delivered_after_reconnect": len(after)},
            "both brokers in the client's list, the primary killed and left down: the client "
            + (
                f"reconnected to the backup ({to}) and {len(after)} messages it sent there reached the witness"
                if to
                else f"did not reconnect within {RECONNECT_S:g} s of the backup serving"
            ),
        )


# Failback: how long a client that does not follow the server's list is left on the
# dead primary before it is started again (one that follows is on the backup by then).
ON_BACKUP_S = 5.0


@scenario(
    "amqp.ha.failback",
    family="amqp",
    topology="artemis-ha",
    checks=["reconnect.recovers"],
    slow=True,  # a failback took 4 to 19 s here, and over 60 s on a loaded machine
)
def failback(run: Run) -> None:
    """Only the primary's URL; the primary killed, then started again (a failback): where the client goes."""
    subject = f"{run.tag}.m"
    if record_failover_list(run) is None:
        raise EnvironmentFault(f"{PRIMARY}, the primary, did not answer an AMQP open")
    if not run.connect(
        "client",
        [f"{PRIMARY}-client"],
        timeout=CONNECT_S,
        settle=1.0,
        flowing=("client", "settled"),
        publish=PUBLISH,
        subject=subject,
    ):
        return
    kill = run.fault("kill", PRIMARY)  # ended below: started again, a failback
    wait_serving(run, BACKUP, kill.start_ns)
    if run.wait("client", "reconnected", ON_BACKUP_S, after_ns=kill.start_ns):
        run.sleep(1.0)  # messages flowing on the backup
    restart = run.mark("primary_restart")
    # Returns once the primary is active again, after the backup gave the store back;
    # past READY_TIMEOUT_S it is the environment's error, with the reason in one line.
    kill.end()
    run.mark("primary_serving", after_restart_ms=ms(now_ns() - restart))
    back = run.wait("client", "reconnected", RECONNECT_S, after_ns=restart)
    run.sleep(AFTER_RECONNECT_S if back else 0.5)
    run.stop("client")
    drain(run, subject, f"{PRIMARY}-observer")


@failback.judge
def judge_failback(j: Judge) -> None:
    seen = measure(j)
    if seen is None:
        return
    restart = next(iter(j.tl.marks("primary_restart")), None)
    serving = next(iter(j.tl.marks("primary_serving")), None)
    j.metric("failback_ms", serving.get("after_restart_ms") if serving else None)
    if restart is None or serving is None:
        return
    lost = j.tl.first(actor="client", kind="disconnected", after=restart["t_ns"])
    home = j.tl.first(actor="client", kind="reconnected", after=restart["t_ns"])
    to = _link(j, home.get("url")) if home else None
    j.metric(
        "on_backup_when_primary_restarted",
        seen["reconnected_to"] == f"{BACKUP}-client" and (seen["reconnected_at"] or 0) < restart["t_ns"],
    )
    j.metric("lost_again_after_restart_ms", ms(lost["t_ns"] - restart["t_ns"]) if lost else None)
    j.metric("reconnected_after_failback_to", to)
    j.metric("reconnect_after_primary_serving_ms", ms(home["t_ns"] - serving["t_ns"]) if home else None)
    if j.applies("reconnect.recovers"):
        sent = {e["seq"] for e in j.tl.select(actor="client", kind="published", after=home["t_ns"])} if home else set()
        after = [e for e in j.tl.select(kind="received") if e["actor"] == "observer" and e.get("seq") in sent]
        j.verdict(
            "reconnect.recovers",
            home is not None and bool(after),
            {"reconnected_to": to, "delivered_after_reconnect": len(after)},
            "the primary killed and started again (it took over back from its backup): the client "
            + (
                f"reconnected through {to} and {len(after)} messages it sent then reached the witness"
                if home
                else f"did not reconnect within {RECONNECT_S:g} s of the primary serving again"
            ),
        )


def measure(j: Judge) -> dict | None:
    """The metrics both scenarios share; None if the client never connected."""
    opened = next(iter(j.tl.marks("primary_open")), None)
    listed = [x or "elsewhere" for x in (opened or {}).get("links", [])]
    j.metric("primary_failover_server_list", (opened or {}).get("failover_server_list"))
    j.metric("failover_list_links", listed)
    if schedules.never_connected(j, "the client never connected, so there was nothing to fail over from"):
        return None
    kill = j.outage().start_ns
    serving = next(iter(j.tl.marks("backup_serving")), None)
    # The mark is made after the probe; the backup served from the probe's start.
    serving_ns = serving["t_ns"] - int(serving.get("probe_ms", 0) * 1e6) if serving else None
    loss = j.tl.first(actor="client", kind="disconnected", after=kill)
    # On the backup: before the primary was started again, where it is (failback).
    restart = next((m["t_ns"] for m in j.tl.marks("primary_restart")), None)
    back = j.tl.first(actor="client", kind="reconnected", after=kill, before=restart)
    to = _link(j, back.get("url")) if back else None
    # The wire: connections the client's proxies accepted after the kill, by link
    # (the witness comes later, on an observer link).
    wire = j.tl.select(kind="conn_accepted", link=_links(j), after=kill)
    # The connection that carried the reconnect to the backup, as its proxy saw it: the
    # last one accepted there before the client said it was back.
    on_backup = [e for e in wire if e["link"] == f"{BACKUP}-client" and back and e["t_ns"] <= back["t_ns"]]
    failures = j.tl.select(actor="client", kind="attempt_failed", after=kill, before=back["t_ns"] if back else None)
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == "client"), j.tl.t1_ns)
    published = j.tl.select(actor="client", kind="published")
    after_back = {e["seq"] for e in published if back and e["t_ns"] >= back["t_ns"]}
    seen = {
        "failover_list_links": listed,
        "reconnected_to": to,
        "reconnect_after_backup_serving_ms": ms(back["t_ns"] - serving_ns) if back and serving_ns else None,
        "published_after_reconnect": after_back,
        "reconnected_at": back["t_ns"] if back else None,
    }
    j.metric("backup_serving_after_kill_ms", serving.get("after_kill_ms") if serving else None)
    j.metric("loss_noticed_ms", ms(loss["t_ns"] - kill) if loss else None)
    j.metric("reconnected", back is not None)
    j.metric("reconnected_to", to)
    j.metric("reconnect_after_kill_ms", ms(back["t_ns"] - kill) if back else None)
    j.metric("reconnect_after_backup_serving_ms", seen["reconnect_after_backup_serving_ms"])
    # Negative when the client got there first: the harness's probe polls every 50 ms.
    j.metric(
        "wire_reconnect_on_backup_after_backup_serving_ms",
        ms(on_backup[-1]["t_ns"] - serving_ns) if on_backup and serving_ns and to == f"{BACKUP}-client" else None,
    )
    j.metric("wire_connections_after_kill", {x: sum(1 for e in wire if e["link"] == x) for x in _links(j)})
    j.metric("attempts_failed_before_reconnect", len(failures))
    j.metric("published_after_reconnect", len(after_back))
    up = back["t_ns"] if back else restart  # the client back, or the primary started again
    down = [e for e in published if e["t_ns"] >= kill and (up is None or e["t_ns"] < up)]
    j.metric("published_while_down", len(down))
    j.metric("client_ran_after_kill_ms", ms(stop - kill))
    return seen


def _links(j: Judge) -> list[str]:
    return list(dict.fromkeys([*j.actors["client"]["links"], f"{BACKUP}-client"]))


def _link(j: Judge, url: str | None) -> str | None:
    # qpid-jms names a URI from the server's list with its query (?amqp.vhost=...).
    target = hostport(url.split("?", 1)[0]) if url else None
    if target is None:
        return None
    return link_of_address(target, j.links) or f"elsewhere ({target})"


# -- a router's connector as the second consumer of the primary's list -----------------
#
# topology router-ha: router r1's route-container connector dials only the primary
# (route-r1-a1); the primary's Open names the backup as a2-client, on which no client
# connects here, so every connection on it is the router's. The client sends to the
# router's waypoint address (an autoLink out over that connector), never to a broker:
# its link to the router stays attached while the router looks for a broker.

ROUTER = "r1"
ROUTER_LINK = "route-r1-a1"
ROUTER_TO_BACKUP = f"{BACKUP}-client"
ROUTER_UP_S = 30.0  # the router retries a lost connector every few seconds
# Once the backup serves, how long the router may take to reach it: qdrouterd cycles
# a failover list once a second, and backs off to 5 s on a host that refuses it.
ROUTER_FOLLOW_S = 30.0
FLOW_AGAIN_S = 15.0  # after the router is on the backup, for a message to be accepted there


def router_log(run: Run) -> str:
    """The router's log since it last started (the local backend's <workdir>/r1.log;
    a restarted router appends to it); empty where there is none."""
    folder = getattr(run.live, "workdir", None)
    try:
        text = (folder / f"{ROUTER}.log").read_text(errors="replace") if folder else ""
    except OSError:
        return ""
    return text[text.rfind("ROUTER (info) Version:") :] if "ROUTER (info) Version:" in text else text


def router_open_props(run: Run) -> str | None:
    """The properties of the last Open the router received on a connection it made,
    as its log prints them (qdrouterd and skrouterd log each connection at info)."""
    found = re.findall(r"Connection Opened: dir=out .* props=(.*)", router_log(run))
    return found[-1] if found else None


def router_links(run: Run) -> dict:
    """What the router said of its autoLink: evidence beside the wire for how it sent
    the messages on. (Its "Connection Opened" lines name the connector's configured
    host even on a connection to a failover host, so where it went is the wire's to say.)"""
    text = router_log(run)
    return {
        "autolink_activated": len(re.findall(r"Auto Link Activated", text)),
        "autolink_deactivated": len(re.findall(r"Auto Link Deactivated", text)),
        # The lines themselves, without their timestamps: which connection each names.
        "autolink_lines": [m.strip() for m in re.findall(r"\(info\) (Auto Link .*)", text)][:10],
    }


def _accepted(e: dict) -> bool:
    return e.get("outcome") == "accepted"


@scenario(
    "amqp.router.ha-failover",
    family="amqp",
    topology="router-ha",
    checks=["router.connector.failover-list"],
)
def router_ha_failover(run: Run) -> None:
    """A router whose connector dials only the primary; the primary killed: does the router follow the listed backup?"""
    if record_failover_list(run) is None:
        raise EnvironmentFault(f"{PRIMARY}, the primary, did not answer an AMQP open")
    # The backend starts the router after the pair is in place, so that the Open it
    # got names the backup (the primary names it only once the backup announced itself).
    if not run.wait_established(ROUTER_LINK, ROUTER_UP_S):
        return
    run.mark("router_open", props=router_open_props(run))
    queue = run.live.topology.link(ROUTER_LINK).waypoint
    if not run.connect("client", ["r1-client"], timeout=CONNECT_S, settle=1.0, publish=PUBLISH, subject=queue):
        return
    # Messages flow through the router before the fault (the autoLink is attached).
    if run.wait("client", "settled", CONNECT_S, where=_accepted) is None:
        return
    kill = run.fault("kill", PRIMARY, restart=False)
    wait_serving(run, BACKUP, kill.start_ns)
    if run.wait_established(ROUTER_TO_BACKUP, ROUTER_FOLLOW_S):
        run.wait("client", "settled", FLOW_AGAIN_S, after_ns=now_ns(), where=_accepted)
        run.sleep(AFTER_RECONNECT_S)
    else:
        run.sleep(0.5)
    run.stop("client")
    run.mark("router_log", **router_links(run))
    drain(run, queue)


@router_ha_failover.judge
def judge_router_ha_failover(j: Judge) -> None:
    opened = next(iter(j.tl.marks("primary_open")), None)
    listed = [x or "elsewhere" for x in (opened or {}).get("links", [])]
    j.metric("primary_failover_server_list", (opened or {}).get("failover_server_list"))
    j.metric("failover_list_links", listed)
    router_open = next(iter(j.tl.marks("router_open")), None)
    j.metric("router_open_properties", (router_open or {}).get("props"))
    said = next(iter(j.tl.marks("router_log")), None)
    keys = ("autolink_activated", "autolink_deactivated", "autolink_lines")
    j.metric("router_log", {k: said.get(k) for k in keys} if said else None)
    kills = [o for o in j.outages() if o.kind == "kill" and o.target == PRIMARY]
    kill = kills[0].start_ns if kills else None
    if kill is None or not any(map(_accepted, j.tl.select(actor="client", kind="settled", before=kill))):
        j.nothing_measured("no message went through the router to the primary, so there was nothing to fail over")
        return
    serving = next(iter(j.tl.marks("backup_serving")), None)
    serving_ns = serving["t_ns"] - int(serving.get("probe_ms", 0) * 1e6) if serving else None
    j.metric("backup_serving_after_kill_ms", serving.get("after_kill_ms") if serving else None)
    loss = j.tl.first(source="proxy", kind="conn_closed", link=ROUTER_LINK, after=kill)
    j.metric("router_connection_closed_after_kill_ms", ms(loss["t_ns"] - kill) if loss else None)
    since = loss["t_ns"] if loss else kill
    # Every connection the router made after the loss, on the primary's link or the
    # backup's (in order).
    tries = wire_connections(j.tl, [ROUTER_LINK, ROUTER_TO_BACKUP], since)
    # An attempt whose proxy could not reach the broker (the backup not serving yet)
    # is never closed on the wire: the proxy logs the failed dial instead.
    refused = {(e["link"], e["client"]) for e in j.tl.select(source="proxy", kind="upstream_failed", after=since)}
    for c in tries:
        c["refused"] = (c["link"], c["client"]) in refused
    to_backup = [c for c in tries if c["link"] == ROUTER_TO_BACKUP]
    held = [c for c in lasting(to_backup) if not c["refused"]]
    j.metric("attempt_order", [c["link"] for c in tries][:30])
    j.metric(
        "attempts_ms",
        [{"link": c["link"], "at_ms": ms(c["t_ns"] - since), "refused": c["refused"]} for c in tries][:30],
    )
    first = ms(to_backup[0]["t_ns"] - since) if to_backup else None
    j.metric("first_backup_attempt_after_loss_ms", first)
    j.metric("router_on_backup", bool(held))
    on_ns = held[0]["t_ns"] if held else None
    j.metric("router_on_backup_after_kill_ms", ms(on_ns - kill) if on_ns else None)
    # Negative when the router got there before the harness's probe saw the backup serve.
    j.metric("router_on_backup_after_backup_serving_ms", ms(on_ns - serving_ns) if on_ns and serving_ns else None)
    # The client's link is to the router, which never went away: what the client saw.
    j.metric("client_disconnected", j.tl.first(actor="client", kind="disconnected", after=kill) is not None)
    j.metric("client_link_closed", j.tl.first(actor="client", kind="link_closed", after=kill) is not None)
    phases = {"before_kill": (j.tl.t0_ns, kill), "router_looking": (kill, on_ns), "router_on_backup": (on_ns, None)}
    if on_ns is None:
        phases = {"before_kill": (j.tl.t0_ns, kill), "after_kill": (kill, None)}
    j.metric("ledger", ledger(j.tl, "client", ["observer"], phases))
    outcomes: dict[str, int] = {}
    for e in j.tl.select(actor="client", kind="settled", after=kill):
        outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    j.metric("settlements_after_kill", outcomes)
    # Messages flowing again: accepted through the router after it reached the backup,
    # and sent then and taken by the witness from the backup.
    settled = j.tl.select(actor="client", kind="settled", after=on_ns) if on_ns else []
    again = next(filter(_accepted, settled), None)
    j.metric("first_accepted_after_router_on_backup_ms", ms(again["t_ns"] - on_ns) if again and on_ns else None)
    sent = {e["seq"] for e in j.tl.select(actor="client", kind="published", after=on_ns)} if on_ns else set()
    got = {e["seq"] for e in j.tl.select(actor="observer", kind="received")}
    j.metric("delivered_sent_after_router_on_backup", len(sent & got))
    if not j.applies("router.connector.failover-list"):
        return
    if ROUTER_TO_BACKUP not in listed:
        j.not_measured("router.connector.failover-list", f"the primary's Open named no backup ({listed})")
        return
    if loss is None:
        j.not_measured("router.connector.failover-list", f"the router's connection on {ROUTER_LINK} never closed")
        return
    on_primary = len(tries) - len(to_backup)
    j.verdict(
        "router.connector.failover-list",
        bool(to_backup),
        {
            "backup_attempts": len(to_backup),
            "first_backup_attempt_after_loss_ms": first,
            "router_on_backup": bool(held),
            "delivered_sent_after_router_on_backup": len(sent & got),
        },
        f"the primary's Open listed {listed}; after its kill the router made {on_primary} attempts on "
        f"{ROUTER_LINK} and {len(to_backup)} on {ROUTER_TO_BACKUP}"
        + (f", the first {first:g} ms after the loss" if first is not None else "")
        + (
            f"; connected to the backup {ms(on_ns - serving_ns):g} ms after it served, and "
            f"{len(sent & got)} messages sent after that reached the witness"
            if on_ns and serving_ns
            else ""
        ),
    )
