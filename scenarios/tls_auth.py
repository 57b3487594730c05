"""TLS and authentication: the single-server schedules over TLS, and wrong credentials.

Topologies: nats-single-tls and artemis-1-tls (TLS on the client port, with a CA
and server certificate made for each running topology, see harness/certs.py),
nats-single-auth and artemis-1-auth (one user with a password; Artemis refuses
anonymous access). Each client is told the run's CA (NATS `RootCAs`, AMQP `ca`)
and its credentials (NATS `User`/`Password`, AMQP `username`/`password`).

Over TLS, the NATS docs give the reconnect jitter its own bound, ReconnectJitterTLS
(1 s by default against 100 ms without TLS): the intervals are judged as on a plain
link, against that bound. The AMQP schedule is judged as in amqp.single.refused.

Wrong credentials are recorded, not judged: none of the documents held against
these clients says what a client does when the server refuses its login (retry,
give up, what it reports). So those scenarios declare no checks and keep metrics:
the attempts, their intervals, whether and when the client gave up, and every
error text it was given. The NATS "reconnect for any reason" claim is not stretched
to cover them: it promises attempts after a lost connection, which the plain and
TLS scenarios judge, and says nothing about a login that keeps failing.
"""

from __future__ import annotations

from collections import Counter

from harness.certs import Certs
from harness.errors import EnvironmentFault
from harness.judging import Judge, schedules, slack_ms
from harness.judging.metrics import client_attempts, intervals_ms, ms, wire_connections
from harness.scenario import NotSupported, Run, scenario
from harness.services import KINDS
from harness.topology import AUTH_USER

CONNECT_S = 15.0
NATS_LINK = "n1-client"
AMQP_LINK = "a1-client"

# With TLS every interval is ReconnectWait (2 s) plus up to 1 s of jitter. 16 s gives
# at least five intervals even if every draw is the largest (attempts at 0, 3, ... 15 s),
# six on average: with n = 5 the jitter check's threshold is 1000 * 0.001**(1/5) = 251 ms.
NATS_TLS_OUTAGE_S = 16.0
AMQP_TLS_OUTAGE_S = 12.0

WRONG_PASSWORD = "not-the-password"
# How long a client refused at login is watched for giving up. nats.py goes on through
# its MaxReconnect default (60 attempts, 2 s apart: about 2 min); the others give up
# within seconds. A client still trying at the end shows as `gave_up` None.
OBSERVE_S = 150.0


# -- helpers --------------------------------------------------------------------


def certs_of(run: Run) -> Certs:
    """The CA and certificates of the running topology (made when it came up)."""
    found = getattr(run.live, "certs", None)
    if found is None:
        raise EnvironmentFault(f"topology {run.live.topology.name} came up without certificates")
    return found


def credentials(run: Run, password: str) -> dict:
    """The family's option names for the one user of the auth topologies."""
    user = AUTH_USER[0]
    if run.scenario.family == "nats":
        return {"User": user, "Password": password}
    return {"username": user, "password": password}


def set_password(run: Run, password: str) -> None:
    """Change the running server's password of the one user (nats-server: its config,
    reloaded; Artemis: its users file, which it reads again at the next login)."""
    live = run.live
    if live.backend != "local":
        raise NotSupported(f"changing a password on a running server is not built for the {live.backend} backend")
    svc = live.topology.services[0]
    run.mark("password_changed", service=svc.name, to="the topology's" if password == AUTH_USER[1] else "another")
    KINDS[svc.kind].reload_users(
        svc,
        live.topology,
        live.addrs,
        live.workdir,
        live.instance,  # type: ignore[attr-defined]
        live.pids()[svc.name],  # type: ignore[attr-defined]
        ((AUTH_USER[0], password),),
    )


# -- NATS over TLS --------------------------------------------------------------


@scenario(
    "nats.tls.refused",
    family="nats",
    topology="nats-single-tls",
    checks=["AutoReconnect", "DisconnectedErrCB", "ReconnectedCB", "ReconnectWait", "ReconnectJitterTLS"],
)
def nats_tls_refused(run: Run) -> None:
    """One TLS server, its link refused for 16 s, defaults plus the run's CA: ReconnectJitterTLS."""
    if not run.connect("client", [NATS_LINK], options={"RootCAs": str(certs_of(run).ca)}, timeout=CONNECT_S):
        return
    cut = run.fault("refuse", NATS_LINK)
    run.sleep(NATS_TLS_OUTAGE_S)
    cut.end()
    run.wait("client", "reconnected", 10, after_ns=cut.start_ns)
    run.sleep(0.3)


@nats_tls_refused.judge
def judge_nats_tls_refused(j: Judge) -> None:
    """As nats.single.refused judges a plain link, with the TLS jitter bound."""
    schedules.nats_schedule(j, NATS_LINK, jitter_check="ReconnectJitterTLS", note=", TLS in use")
    if not j.outages():
        return
    cut = j.outage()
    attempts = client_attempts(j.tl, "client", cut.start_ns, cut.end_ns)
    wait = j.option("client", "ReconnectWait")
    plain_jitter = j.exp("ReconnectJitter").value
    j.metric("connected_url", (j.tl.first(actor="client", kind="connected") or {}).get("url"))
    # Which bound the library used: extra delays beyond the plain (no TLS) jitter bound.
    j.metric(
        "extra_delays_above_plain_jitter_bound",
        sum(
            1
            for v in intervals_ms([a["t_ns"] for a in attempts])
            if v - wait > plain_jitter + slack_ms(wait + plain_jitter)
        ),
    )


# -- AMQP over TLS ----------------------------------------------------------------


@scenario(
    "amqp.tls.refused",
    family="amqp",
    topology="artemis-1-tls",
    checks=["scheme.amqps", "reconnect.default", "reconnect.first_delay", "reconnect.growth", "reconnect.recovers"],
)
def amqp_tls_refused(run: Run) -> None:
    """One broker with a TLS acceptor (amqps), its link refused for 12 s, defaults plus the run's CA."""
    if not run.connect("client", [AMQP_LINK], options={"ca": str(certs_of(run).ca)}, timeout=CONNECT_S):
        return
    f = run.fault("refuse", AMQP_LINK)
    run.sleep(AMQP_TLS_OUTAGE_S)
    f.end()
    run.wait("client", "reconnected", 15, after_ns=f.start_ns)
    run.sleep(0.3)


@amqp_tls_refused.judge
def judge_amqp_tls_refused(j: Judge) -> None:
    connected = j.tl.first(actor="client", kind="connected")
    if j.applies("scheme.amqps"):
        # The acceptor speaks TLS only (tests/test_tls_auth_live.py checks that a plain
        # AMQP header gets nothing back): an open connection over amqps:// was TLS.
        j.verdict(
            "scheme.amqps",
            connected is not None,
            {"connected": connected is not None, "url": connected["url"] if connected else None},
            "an amqps:// URL connected to a broker whose acceptor accepts TLS only",
        )
    if j.outages() and connected is not None:
        f = j.outage()
        down, up = f.start_ns, f.until_ns
        loss = j.tl.first(actor="client", kind="disconnected", after=down)
        attempts = schedules.attempt_marks(j.tl, "client", down, up)
        spans = schedules.delay_spans(loss["t_ns"], attempts) if loss else []
        delays = [ms(b - a) for a, b in spans]
        back = j.tl.first(actor="client", kind="reconnected", after=down)
    else:
        j.nothing_measured(
            "the client never connected to the broker, so there was nothing to cut", unless=("scheme.amqps",)
        )
        return
    j.metric("attempts_during_outage", len(attempts))
    j.metric("attempts_seen_as", sorted({a["kind"] for a in attempts}))
    j.metric("delays_ms", delays)
    j.metric("first_delay_ms", delays[0] if delays else None)
    j.metric("reconnected_after_heal_ms", ms(back["t_ns"] - up) if back else None)
    j.verdict(
        "reconnect.default",
        bool(attempts) and back is not None,
        {"attempts": len(attempts), "reconnected": back is not None},
        "with no reconnect option, the client tried again over amqps and reconnected once healed",
    )
    first, first_span = (delays[0], spans[0]) if delays else (None, None)
    schedules.first_delay(j, "reconnect.first_delay", first, "the connection was lost", first_span)
    opts = j.actors["client"]["options"]
    cap = opts.get("max_reconnect_delay", j.exp("reconnect.max_delay").value)
    schedules.growth(j, "reconnect.growth", delays, cap, spans=spans)
    relinked = j.tl.select(actor="client", kind="link_opened", after=back["t_ns"] if back else up)
    j.verdict(
        "reconnect.recovers",
        back is not None,
        {"reconnected": back is not None, "links_reopened": len(relinked)},
        "the TLS connection came back after the link healed",
    )


# -- wrong credentials -------------------------------------------------------------


def record_refusals(j: Judge, link: str, since: int, until: int | None, prefix: str = "") -> None:
    """What a client refused at login did from `since`: attempts, gaps, giving up, and
    every error text it was told (metrics only)."""
    until = until or j.tl.t1_ns
    attempts = schedules.attempt_marks(j.tl, "client", since, until)
    gave_up = j.tl.first(actor="client", kind=("closed", "connect_failed"), after=since, before=until)
    wire = wire_connections(j.tl, [link], since, until)
    told: dict[str, dict[str, int]] = {}
    for kind in ("attempt_failed", "connect_failed", "disconnected", "closed", "async_error", "link_closed"):
        texts = Counter(
            e.get("error") or "(none)" for e in j.tl.select(actor="client", kind=kind, after=since, before=until)
        )
        if texts:
            told[kind] = dict(texts)
    got_in = j.tl.first(actor="client", kind=("connected", "reconnected"), after=since, before=until)
    times = [a["t_ns"] for a in attempts]
    j.metric(f"{prefix}attempts", len(attempts))
    j.metric(f"{prefix}attempts_seen_as", sorted({a["kind"] for a in attempts}))
    j.metric(f"{prefix}attempt_times_ms", [ms(t - since) for t in times])
    j.metric(f"{prefix}intervals_ms", intervals_ms(times))
    j.metric(f"{prefix}wire_connections", len(wire))
    j.metric(f"{prefix}gave_up", gave_up["kind"] if gave_up else None)
    j.metric(f"{prefix}gave_up_after_ms", ms(gave_up["t_ns"] - since) if gave_up else None)
    # Counted on the wire: rhea reports an attempt's failure only after its give-up.
    j.metric(
        f"{prefix}wire_connections_before_giving_up",
        sum(1 for w in wire if w["t_ns"] <= gave_up["t_ns"]) if gave_up else None,
    )
    # Without a report of giving up, how long it had been quiet when the watch ended
    # (a library that stops without saying so shows as a long quiet time).
    j.metric(f"{prefix}quiet_before_end_ms", ms(until - times[-1]) if times and gave_up is None else None)
    j.metric(f"{prefix}observed_for_ms", ms(until - since))
    j.metric(f"{prefix}told", told)
    j.metric(f"{prefix}got_in", got_in["kind"] if got_in else None)


def watch_refusals(run: Run, after_ns: int) -> None:
    """Until the client gives up, or OBSERVE_S, then stop it (so nothing it does after
    the scenario changes the server back is recorded)."""
    run.wait("client", ("closed", "connect_failed"), OBSERVE_S, after_ns=after_ns)
    run.sleep(0.5)  # an attempt right after giving up would show
    run.stop("client")


def wrong_from_start(run: Run, link: str) -> None:
    t = run.mark("wrong_password_from_start")
    run.start("client", [link], options=credentials(run, WRONG_PASSWORD))
    watch_refusals(run, t)


def password_changed(run: Run, link: str) -> None:
    """Connect with the right password; cut the link; the server's password changes;
    heal. Every reconnect attempt now meets a login the server refuses."""
    if not run.connect("client", [link], options=credentials(run, AUTH_USER[1]), timeout=CONNECT_S):
        return
    cut = run.fault("refuse", link)
    try:
        set_password(run, WRONG_PASSWORD + "-now-the-servers")
        run.sleep(1.0)
        cut.end()
        watch_refusals(run, cut.start_ns)
    finally:
        cut.end()
        if run.drivers["client"].proc.alive():
            run.stop("client")
        set_password(run, AUTH_USER[1])


def judge_wrong_from_start(j: Judge, link: str) -> None:
    start = next((m["t_ns"] for m in j.tl.marks("wrong_password_from_start")), j.tl.t0_ns)
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == "client"), None)
    record_refusals(j, link, start, stop)


def judge_password_changed(j: Judge, link: str) -> None:
    if not j.outages() or j.tl.first(actor="client", kind="connected") is None:
        j.metric("connected_with_right_password", False)
        return
    j.metric("connected_with_right_password", True)
    f = j.outage()
    changed = next((m["t_ns"] for m in j.tl.marks("password_changed")), None)
    restored = [m["t_ns"] for m in j.tl.marks("password_changed")][1:]
    stop = next((m["t_ns"] for m in j.tl.marks("stop") if m.get("to") == "client"), None)
    until = min([t for t in [stop, *restored] if t is not None], default=None)
    lost = j.tl.first(actor="client", kind="disconnected", after=f.start_ns)
    j.metric("disconnect_error", lost.get("error") if lost else None)
    j.metric("password_changed_after_cut_ms", ms(changed - f.start_ns) if changed else None)
    # During the cut every attempt is refused by the proxy; from the heal on each one
    # reaches the server and is refused at login.
    record_refusals(j, link, f.start_ns, f.end_ns, prefix="cut_")
    record_refusals(j, link, f.end_ns, until, prefix="after_heal_")


@scenario("nats.auth.wrong-password", family="nats", topology="nats-single-auth", checks=[], slow=True)
def nats_wrong_password(run: Run) -> None:
    """Wrong password from the first connect, defaults: retries, giving up, what the client is told (metrics)."""
    wrong_from_start(run, NATS_LINK)


@nats_wrong_password.judge
def judge_nats_wrong_password(j: Judge) -> None:
    judge_wrong_from_start(j, NATS_LINK)


@scenario("nats.auth.password-changed", family="nats", topology="nats-single-auth", checks=[], slow=True)
def nats_password_changed(run: Run) -> None:
    """Connected, link cut, the server's password changed, link healed: what the reconnecting client does (metrics)."""
    password_changed(run, NATS_LINK)


@nats_password_changed.judge
def judge_nats_password_changed(j: Judge) -> None:
    judge_password_changed(j, NATS_LINK)


@scenario("amqp.auth.wrong-password", family="amqp", topology="artemis-1-auth", checks=[])
def amqp_wrong_password(run: Run) -> None:
    """Wrong password from the first connect, defaults: retries, giving up, what the client is told (metrics)."""
    wrong_from_start(run, AMQP_LINK)


@amqp_wrong_password.judge
def judge_amqp_wrong_password(j: Judge) -> None:
    judge_wrong_from_start(j, AMQP_LINK)


@scenario("amqp.auth.password-changed", family="amqp", topology="artemis-1-auth", checks=[])
def amqp_password_changed(run: Run) -> None:
    """Connected, link cut, the broker's password changed, link healed: what the reconnecting client does (metrics)."""
    password_changed(run, AMQP_LINK)


@amqp_password_changed.judge
def judge_amqp_password_changed(j: Judge) -> None:
    judge_password_changed(j, AMQP_LINK)
