"""Reconnect storms: N connections of one library, in one driver process, lost
at once (the server killed and restarted, or the proxy cut for all), and their
way back.

`harness run nats.storm.restart --client nats-go --connections 1000`; without
--connections, N is the family's default (harness/limits.py: 1,000 for NATS, 200
for AMQP); the pytest suite runs them with 50. Each connection publishes one
message a second; a witness (one more connection of the same library, on the
observer link) subscribes, so the messages lost across the storm are counted.

NATS: what is judged is the jitter claim: with the library's default jitter the
first attempts after the loss spread over [ReconnectWait, ReconnectWait +
ReconnectJitter]; with jitter off they do not. AMQP (rhea, python-qpid-proton to
ActiveMQ Artemis): neither library documents any jitter or other spreading of
reconnects (their delays are a fixed doubling backoff), so the AMQP storms judge
nothing and report the same figures (measured only).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from harness import limits
from harness.judging import Band, Judge, slack_ms
from harness.judging import storm as st
from harness.judging.metrics import ledger, ms
from harness.scenario import Run, scenario
from harness.selfload import LoadProbe

CHECKS = ["ReconnectJitter.storm"]
# Two rounds of nats.go's 2 s ReconnectWait while the server is away (an Artemis
# broker then takes some seconds more to start again).
OUTAGE_S = 5.0
PUBLISH = {"rate": 1, "size": 32}
# The sequential connects take a few ms each (nats.go about 5 through the proxy,
# nats.py over 60 at 1,000 on a loaded machine: its one event loop serves them all).
CONNECT_S_PER_CONNECTION = 0.2
BACK_S = 60.0
NO_JITTER = {"ReconnectJitter": 0}


@dataclass(frozen=True)
class Family:
    """Where a family's storm runs: the storm's link, the witness's, the server."""

    topology: str
    link: str
    witness: str
    server: str
    # The witness's event that says it receives: an AMQP receiver is attached (and
    # so its queue exists on the broker) only some ms after the connection opens.
    ready: str


FAMILIES = {
    "nats": Family("nats-single", "n1-client", "n1-observer", "n1", "connected"),
    # artemis-3, whose a1 the other AMQP scenarios use: the suite has it up already.
    "amqp": Family("artemis-3", "a1-client", "a1-observer", "a1", "link_opened"),
}


def storm(run: Run, kind: str, options: dict | None = None) -> None:
    """`kind` "kill" (the server killed, restarted at the end) or "refuse" (the storm's link)."""
    f = FAMILIES[run.scenario.family]
    n = run.connections or limits.default_connections(run.scenario.family)
    if not run.connect("witness", [f.witness], subscribe=True, timeout=10):
        return
    if f.ready != "connected" and run.wait("witness", f.ready, 10) is None:
        return
    run.start("storm", [f.link], options=options, connections=n, publish=PUBLISH)
    if not run.wait_count("storm", "connected", n, 10 + n * CONNECT_S_PER_CONNECTION):
        return
    run.sleep(1.0)
    load = LoadProbe().start()
    cut = run.fault(kind, f.server if kind == "kill" else f.link)
    run.sleep(OUTAGE_S)
    cut.end()
    run.wait_count("storm", "reconnected", n, BACK_S)
    run.mark("harness_load", **load.stop())
    run.sleep(1.0)  # what the clients flushed on reconnecting reaches the witness


@scenario("nats.storm.restart", family="nats", topology="nats-single", checks=CHECKS, storm=True)
def restart(run: Run) -> None:
    """N connections, the server killed and restarted after 5 s, library defaults."""
    storm(run, "kill")


@scenario("nats.storm.restart-no-jitter", family="nats", topology="nats-single", checks=CHECKS, storm=True)
def restart_no_jitter(run: Run) -> None:
    """N connections, the server killed and restarted after 5 s, ReconnectJitter 0."""
    storm(run, "kill", NO_JITTER)


@scenario("nats.storm.cut", family="nats", topology="nats-single", checks=CHECKS, storm=True)
def cut(run: Run) -> None:
    """N connections, their proxy refused (all cut at once) for 5 s, library defaults."""
    storm(run, "refuse")


@scenario("nats.storm.cut-no-jitter", family="nats", topology="nats-single", checks=CHECKS, storm=True)
def cut_no_jitter(run: Run) -> None:
    """N connections, their proxy refused (all cut at once) for 5 s, ReconnectJitter 0."""
    storm(run, "refuse", NO_JITTER)


@dataclass(frozen=True)
class Storm:
    """What measure_storm found, for a judge to go on from."""

    n: int
    link: str
    down: int
    up: int
    lost: dict[int, int]
    first: dict[int, int]
    delays: list[float]
    recorded: int
    emitted: int | None


def no_storm(j: Judge, reason: str) -> None:
    # Said as a figure too: a measured-only storm has no check to carry the reason.
    j.metric("storm_not_raised", reason)
    j.nothing_measured(reason)


def measure_storm(j: Judge) -> Storm | None:
    """Every storm figure, as metrics; None (every applicable check not-measured)
    when no storm was raised."""
    storm_actor = j.actors.get("storm")
    if storm_actor is None:
        return no_storm(j, "the witness never connected, so no storm was raised")
    n = storm_actor["connections"]
    link = storm_actor["links"][0]
    if not j.outages():
        up = st.per_connection_counts(j.tl, "storm", ("connected",))["connected"]
        j.metric("connections_reporting", {"connected": up})
        return no_storm(j, f"only {up} of {n} connections connected in time, so no storm was raised")
    cut = j.outage()
    down, up = cut.start_ns, cut.end_ns or j.tl.t1_ns
    lost = st.losses(j.tl, "storm", n, down)
    first = st.first_per_connection(j.tl, "storm", ("attempt", "attempt_failed"), lost)
    back = st.first_per_connection(j.tl, "storm", ("reconnected",), lost)
    delays = sorted(ms(first[c] - lost[c]) for c in first)
    proxy_saw = st.accepted(j.tl, link, up)
    server_saw = st.reached_server(j.tl, link, up)
    recorded, emitted = st.event_counts(j.tl, "storm")
    load = j.tl.marks("harness_load")
    j.metric("connections", n)
    j.metric(
        "connections_reporting", st.per_connection_counts(j.tl, "storm", ("connected", "disconnected", "reconnected"))
    )
    j.metric(
        "storm_times_ms",
        {"bin_ms": st.BIN_MS, "first_attempts": st.rel_ms(first, down), "reconnects": st.rel_ms(back, down)},
    )
    j.metric(
        "first_attempt_delay_ms",
        {
            "spread_p5_p95": st.spread_ms(delays),
            "median": median(delays) if delays else None,
            "min": delays[0] if delays else None,
            "max": delays[-1] if delays else None,
        },
    )
    j.metric("loss_spread_ms", st.spread_ms(st.rel_ms(lost, down)))
    j.metric("peak_connection_rate_per_s", st.peak_rate_per_s(server_saw))
    j.metric("connections_accepted_after_heal", len(proxy_saw))
    j.metric("connections_reaching_server_after_heal", len(server_saw))
    # A killed server is started again at the heal and is ready only later: an
    # Artemis broker takes seconds (nats-server a few ms).
    ready = cut.reverted_ns
    j.metric("server_ready_after_heal_ms", ms(ready - up) if ready is not None and cut.kind == "kill" else None)
    all_back = len(back) == n
    j.metric("all_back_after_heal_ms", ms(max(back.values()) - up) if all_back else None)
    j.metric("all_back_after_loss_ms", ms(max(back.values()) - down) if all_back else None)
    # From the first connection back to the last: the storm's own length, whenever
    # the server could be reached again.
    j.metric("all_back_after_first_back_ms", ms(max(back.values()) - min(back.values())) if all_back else None)
    j.metric("events", {"recorded": recorded, "expected": emitted})
    j.metric(
        "harness_load",
        {k: v for k, v in load[0].items() if k not in ("t_ns", "kind", "label", "source", "actor")} if load else None,
    )
    # Sent before the server was ready again counts as sent in the storm.
    healed = max(up, cut.healed_ns or up)
    fates = ledger(j.tl, "storm", ["witness"], {"before": (0, down), "storm": (down, healed), "after": (healed, None)})
    j.metric("messages", fates)
    j.metric("messages_lost", fates["totals"].get("lost", 0))
    return Storm(n, link, down, up, lost, first, delays, recorded, emitted)


def judge_storm(j: Judge) -> None:
    """The NATS storms: the figures, and the jitter claim judged from them."""
    s = measure_storm(j)
    if s is None:
        return
    n, down, up, delays, recorded, emitted = s.n, s.down, s.up, s.delays, s.recorded, s.emitted
    if emitted is None or recorded != emitted:
        said = "did not say how many it printed" if emitted is None else f"printed {emitted}"
        j.nothing_measured(
            f"recorded {recorded} events of the storm's driver, which {said}: "
            "a storm judged on missing events could be wrong"
        )
        return
    if len(delays) < n:
        j.nothing_measured(f"only {len(delays)} of {n} connections reported both the loss and an attempt after it")
        return
    # The same first attempts seen two more ways: from the fault's start, and as
    # the proxy accepted them (where it accepts during the outage: a killed server).
    in_outage = st.accepted(j.tl, s.link, down, up)
    views = {
        "from each connection's reported loss": delays,
        "from the fault's start": st.rel_ms(s.first, down),
        "as the wire saw them": [ms(t - down) for t in sorted(in_outage)[:n]] if len(in_outage) >= n else [],
    }
    dispatch = st.spread_ms(st.rel_ms(s.lost, down)) or 0.0
    span = (min(down, *s.lost.values()), max(s.first.values()))
    jitter = j.option("storm", "ReconnectJitter")
    order = st.order_with_jitter(s.lost, s.first, jitter) if jitter > 0 else None
    judge_jitter(j, delays, {k: v for k, v in views.items() if v}, dispatch, span, order)


def judge_jitter(
    j: Judge,
    delays: list[float],
    views: dict[str, list[float]],
    dispatch: float,
    span: tuple[int, int],
    order: st.Order | None,
) -> None:
    """The spread of the first attempts (the narrowest of `views`) and the median
    delay from each connection's loss, against the jitter window; a verdict needs
    the spread to be told from the measurement allowance, the wait's slack plus the
    timer noise measured in this run. `dispatch` is the spread with which the
    driver reported one instant (the loss) on all N connections: one process serving
    N connections spreads N simultaneous attempts by about as much, jitter or not,
    so a spread conforms only when it is wide enough beyond that. `span` (ns) runs
    from the first loss to the last first attempt: the noise judged with is that
    measured near it (Judge.noise_near), not the lateness of the storm's start.
    `order` (with jitter on): the attempts' order against the losses'
    (storm.order_with_jitter)."""
    noise, p99 = j.noise_near(*span), j.noise_p99_near(*span)
    wait = j.option("storm", "ReconnectWait")
    jitter = j.option("storm", "ReconnectJitter")
    # Late loss reports widen the first view, a cut spread out in time the second,
    # a library's own slow reporting neither the third: each can only widen the
    # library's real spread, so the narrowest is the one judged.
    spreads = {k: st.spread_ms(v) or 0.0 for k, v in views.items()}
    narrowest = min(spreads, key=lambda k: spreads[k])
    spread = spreads[narrowest]
    mid = median(delays)
    # The spread is blind to the top and bottom 5% of the delays, so the noise it
    # is told from is the lateness only 1% of the probe's wake-ups exceeded.
    allowance = slack_ms(wait) + p99
    band = Band.around(wait, wait + jitter, noise)
    figures = (
        f"{len(delays)} connections lost at once: first attempt after the loss {delays[0]:g} to {delays[-1]:g} ms, "
        f"median {mid:g}; spread (5th to 95th percentile) {spread:g} ms, the narrowest of "
        + ", ".join(f"{v:g} {k}" for k, v in spreads.items())
        + f"; documented window [{wait:g}, "
        f"{wait + jitter:g}] ms (ReconnectWait {wait:g} + ReconnectJitter up to {jitter:g}); measurement "
        f"allowance {allowance:g} ms (slack {slack_ms(wait):g} + timer noise measured near the storm, 99th "
        f"percentile, {p99:g}); the driver reported the loss on all connections over {dispatch:g} ms"
    )
    if order:
        figures += (
            f"; attempts against the order of the losses, Kendall's tau {order.tau:.2f} (storms simulated with "
            f"the documented jitter: {order.jittered_mean:.2f} ± {order.jittered_sd:.2f})"
        )
    # The median, not every delay, and only a late one deviates: each delay runs
    # from the library's report of the loss, which in a storm comes late by varying
    # amounts and so makes delays look short, and a spread look wide. A narrow
    # spread is the robust finding: noise only ever widens it.
    late = mid > band.hi + noise
    early = mid < band.lo - noise
    ordered = bool(order and order.follows_losses) and not late and not early
    if jitter > 0:
        need = jitter / 2
        # The widest spread jitter, the allowance and the loss reports' own could make.
        widest = jitter + allowance + dispatch
        if need <= allowance:
            why = f"; a spread of half the jitter ({need:g} ms) cannot be told from the allowance"
            j.too_noisy("ReconnectJitter.storm", None, figures + why, band=band)
        elif spread < need:
            why = f"; not spread: under half the jitter ({need:g} ms)"
            j.deviates("ReconnectJitter.storm", delays, figures + why, band=band, unit="ms")
        elif spread > widest:
            why = (
                "; spread wider than the window and the allowance: the load of N connections on the "
                "library's own reports cannot be told from its jitter"
            )
            if spread <= widest + noise:
                # As with jitter off: the storm's own loop or the probe was late by as
                # much as the excess, so the excess may be noise.
                why += f", and the excess is within the largest timer lateness measured near the storm ({noise:g} ms)"
                j.too_noisy("ReconnectJitter.storm", None, figures + why, band=band)
            else:
                j.not_measured("ReconnectJitter.storm", figures + why, band=band)
        elif ordered:
            # Spread within the window, its median in it, yet in the order the connections
            # were lost: one process serving them one by one spreads them so, while
            # jitter drawn for each connection scrambles that order however busy the
            # process. Told from the order, not from any timing, so no noise can make
            # it up; it also decides a spread within the loss reports' own, which the
            # spread alone cannot. Only with the median in the window: a library that
            # counts each wait from its own start (nats.js, from the connection's last
            # connect) attempts early, in an order of its own.
            why = (
                f"; the attempts came in the order of their losses, over {st.ORDER_Z:g} standard deviations above "
                f"{st.ORDER_SIMULATIONS} storms simulated with the documented jitter: whatever spread they have "
                "is the process's serving them one by one, not jitter"
            )
            j.deviates("ReconnectJitter.storm", delays, figures + why, band=band, unit="ms")
        elif spread < need + dispatch:
            why = (
                f"; spread, but by less than half the jitter plus the spread of the loss reports ({need + dispatch:g} "
                "ms): one process dispatching N connections spreads them that much without any jitter"
            )
            j.not_measured("ReconnectJitter.storm", figures + why, band=band)
        elif late:
            why = "; spread, but the median comes after the window beyond the noise"
            j.deviates("ReconnectJitter.storm", delays, figures + why, band=band, unit="ms")
        elif early:
            why = "; the median comes before the window: the loss reports came late, so the delays are short"
            j.not_measured("ReconnectJitter.storm", figures + why, band=band)
        else:
            j.conforms("ReconnectJitter.storm", delays, figures + "; spread over the window", band=band, unit="ms")
        return
    # Jitter off: the claim's other side, that without it they attempt at once;
    # told only where the default jitter's spread could have been told apart.
    default = j.exp("ReconnectJitter").value
    if allowance >= default / 2:
        why = f"; at once cannot be told from the default jitter's spread ({default:g} ms) with this allowance"
        j.too_noisy("ReconnectJitter.storm", None, figures + why, band=band)
    elif spread <= allowance:
        why = "; with jitter off they attempt at the same time"
        j.conforms("ReconnectJitter.storm", delays, figures + why, band=band, unit="ms")
    elif spread <= allowance + noise:
        # A loaded machine: the storm's own event loop (its driver's lateness) or
        # the probe was late by as much as the spread, so the spread may be noise.
        why = (
            f"; spread beyond the allowance, but within the largest timer lateness measured near the storm "
            f"({noise:g} ms)"
        )
        j.too_noisy("ReconnectJitter.storm", None, figures + why, band=band)
    else:
        why = (
            "; with jitter off they still spread beyond the allowance: the load of N connections in one "
            "process, or the library, cannot be told apart"
        )
        j.not_measured("ReconnectJitter.storm", figures + why, band=band)


for _s in (restart, restart_no_jitter, cut, cut_no_jitter):
    _s.judge(judge_storm)


# -- AMQP: measured only ------------------------------------------------------------


@scenario("amqp.storm.restart", family="amqp", topology=FAMILIES["amqp"].topology, checks=[], storm=True)
def amqp_restart(run: Run) -> None:
    """N connections, the broker killed and restarted after 5 s, library defaults (measured only)."""
    storm(run, "kill")


@scenario("amqp.storm.cut", family="amqp", topology=FAMILIES["amqp"].topology, checks=[], storm=True)
def amqp_cut(run: Run) -> None:
    """N connections, their proxy refused (all cut at once) for 5 s, library defaults (measured only)."""
    storm(run, "refuse")


def judge_measured(j: Judge) -> None:
    """The figures alone: no AMQP document claims anything about a storm."""
    measure_storm(j)


for _s in (amqp_restart, amqp_cut):
    _s.judge(judge_measured)
