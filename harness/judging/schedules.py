"""Judging helpers shared by scenario files: reconnect schedules, their growth and
cap, jitter. Each turns measurements into one check with the band it used and why.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from statistics import median

from harness.judging.bands import SLACK_MS, Band, slack_ms
from harness.judging.judge import Judge
from harness.judging.metrics import client_attempts, intervals_ms, link_of_url, ms, stats, wire_connections
from harness.judging.timeline import Timeline

# "A brief delay" is read as: a deliberate pause (longer than the measurement
# slack, so not an immediate retry) of at most one second.
BRIEF_MAX_MS = 1000.0


def never_connected(j: Judge, why: str = "the client never connected, so there was nothing to cut") -> bool:
    """True (and every applicable check not-measured) if the client never got
    connected or no fault was made: there is nothing to judge."""
    if j.outages() and j.tl.first(actor="client", kind="connected") is not None:
        return False
    j.nothing_measured(why)
    return True


def nats_schedule(
    j: Judge, link: str, *, attempt_cost_ms: float = 0.0, jitter_check: str = "ReconnectJitter", note: str = ""
) -> None:
    """NATS attempts while `link` was down, against ReconnectWait plus the jitter
    bound `jitter_check` names (ReconnectJitter, or ReconnectJitterTLS over TLS).

    `attempt_cost_ms` is how long one failed attempt takes before the wait starts:
    0 for a refused or reset connection, the Timeout for a blackholed one.
    """
    if never_connected(j):
        return
    cut = j.outage()
    down, up = cut.start_ns, cut.end_ns
    lost = j.tl.first(actor="client", kind="disconnected", after=down)
    back = j.tl.first(actor="client", kind="reconnected", after=down)
    attempts = client_attempts(j.tl, "client", down, up)
    times = [a["t_ns"] for a in attempts]
    iv = intervals_ms(times)
    spans = list(itertools.pairwise(times))  # what each interval measured: its noise is that near it
    wait = j.option("client", "ReconnectWait")
    bound = j.option("client", jitter_check)
    wire = wire_connections(j.tl, [link], down, up)
    reported = j.tl.select(actor="client", kind="attempt_failed", after=down, before=up)
    j.metric("attempts_during_outage", len(attempts))
    j.metric("attempt_times_ms", [j.tl.rel_ms(t) for t in times])
    j.metric("intervals_ms", iv)
    j.metric("intervals", stats(iv))
    j.metric("disconnect_noticed_ms", ms(lost["t_ns"] - down) if lost else None)
    j.metric("first_attempt_after_loss_ms", ms(times[0] - lost["t_ns"]) if lost and times else None)
    j.metric("reconnected_after_heal_ms", ms(back["t_ns"] - up) if back else None)
    j.metric("failed_attempts_reported_by_library", len(reported))
    j.metric("wire_connections_during_outage", len(wire))
    j.metric("wire_connection_ms", stats([w["duration_ms"] for w in wire if w["duration_ms"] is not None]))
    # Judged against what the client ran with: an option that makes not coming
    # back correct leaves nothing to judge in the claims about coming back.
    why_not_back = configured_not_to_return(j, attempts, down, up)
    off = j.option("client", "AllowReconnect") is False
    for cid in ("AutoReconnect", "ReconnectedCB", *(("AllowReconnect",) if off else ())):
        if why_not_back and j.applies(cid):
            j.not_measured(cid, why_not_back)

    if j.applies("AutoReconnect") and not why_not_back:
        # A library that shows attempts only by their failure (async-nats) has one
        # still open at the heal after a blackhole: the wire saw it, it tried.
        j.verdict(
            "AutoReconnect",
            bool(attempts or wire) and back is not None,
            {"attempts": len(attempts), "wire_attempts": len(wire), "reconnected": back is not None},
            f"attempts while cut off (as the library reported them, and as the proxy accepted them), and a "
            f"reconnect once healed{note}",
        )
    if j.applies("AllowReconnect") and not off:
        j.verdict(
            "AllowReconnect",
            bool(attempts),
            len(attempts),
            "with AllowReconnect left at its default, the client made reconnect attempts",
            unit="attempts",
        )
    if j.applies("DisconnectedErrCB"):
        n = len(j.tl.select(actor="client", kind="disconnected", after=down, before=up))
        j.verdict(
            "DisconnectedErrCB",
            n == 1,
            n,
            "disconnected callbacks for the one loss of the connection",
            unit="calls",
        )
    if j.applies("ReconnectedCB") and not why_not_back:
        j.verdict(
            "ReconnectedCB",
            back is not None,
            back is not None,
            "reconnected callback once the link healed",
        )
    if j.applies("ReconnectWait"):
        low = wait + attempt_cost_ms
        what = f"intervals between attempts (ReconnectWait plus up to {jitter_check} {bound:g} ms{note})"
        j.within("ReconnectWait", iv, low, low + bound, what, documented=wait, spans=spans)
    if j.applies(jitter_check):
        jitter(j, jitter_check, [v - wait - attempt_cost_ms for v in iv], bound, wait + attempt_cost_ms, spans)


def configured_not_to_return(j: Judge, attempts: list[dict], down: int, up: int | None) -> str | None:
    """Why the options the NATS client ran with make it correct not to reconnect
    during this outage (AllowReconnect off, or MaxReconnect used up before the link
    healed, as the client's closed event shows), else None."""
    if j.option("client", "AllowReconnect") is False:
        return "the client ran with AllowReconnect false, so it is not meant to reconnect"
    limit = j.option("client", "MaxReconnect")
    closed = j.tl.first(actor="client", kind="closed", after=down, before=up)
    if closed is not None and isinstance(limit, int) and 0 <= limit <= len(attempts):
        return (
            f"the client ran with MaxReconnect {limit} and gave up after {len(attempts)} attempts, before the "
            "link healed; with that option coming back is not expected, so it cannot be judged in this outage"
        )
    return None


def attempt_marks(tl: Timeline, actor: str, after: int, before: int | None = None) -> list[dict]:
    """One event per connection attempt, the earliest the library lets us see:
    its start (`attempt`, or a `connection_details_cb` call, which rhea makes as it
    starts each attempt), else its reported failure."""
    for kind in ("attempt", "connection_details_cb", "attempt_failed"):
        found = tl.select(actor=actor, kind=kind, after=after, before=before)
        if found:
            return found
    return []


def delay_spans(
    loss_ns: int, attempts: list[dict], failures: list[dict] | None = None, waits: list[dict] | None = None
) -> list[tuple[int, int]]:
    """(from, to) of the delay before each attempt: the first from the loss, the rest
    from the end of the attempt before. That end is where the library reports it
    started waiting (`waits`, `retry_scheduled`: qpid-jms closes the failed transport
    first, which takes up to ~100 ms under load), else its reported failure, where
    `failures` holds one between the two starts (the libraries wait from the
    failure: a refused connect costs a JVM tens of ms under load), else the
    attempt's own mark."""
    starts = [a["t_ns"] for a in attempts]
    if not starts:
        return []
    # The first mark between the two starts, a reported wait in preference to a failure.
    marks = [sorted(e["t_ns"] for e in events or []) for events in (waits, failures)]
    ends = []
    for prev, nxt in itertools.pairwise(starts):
        end = next((t for ts in marks for t in ts if prev <= t <= nxt), prev)
        ends.append(end)
    return list(zip([loss_ns, *ends], starts, strict=True))


def delays_ms(loss_ns: int, attempts: list[dict], failures: list[dict] | None = None) -> list[float]:
    """The delay before each attempt, in ms (delay_spans)."""
    return [ms(b - a) for a, b in delay_spans(loss_ns, attempts, failures)]


@dataclass
class Recovery:
    """What the client did in one outage: its loss, its attempts, the delay before
    each, and its way back."""

    down: int  # fault start
    up: int  # fault end (or the run's end)
    loss: dict | None  # the client's disconnected event
    attempts: list[dict]  # one event per attempt (see attempt_marks)
    delays: list[float]  # before each attempt: the first from the loss
    back: dict | None  # the client's reconnected event
    spans: list[tuple[int, int]]  # what each delay measured (delay_spans)

    def span(self, i: int) -> tuple[int, int] | None:
        """What the i-th delay measured, if there was one."""
        return self.spans[i] if i < len(self.spans) else None


def recovery(j: Judge, index: int = 0, actor: str = "client", until_ns: int | None = None) -> Recovery:
    """The client's recovery from the run's `index`-th outage; its attempts up to
    `until_ns` where given (the heal surely in force), else up to the heal's request."""
    f = j.outage(index)
    down, up = f.start_ns, f.until_ns if until_ns is None else until_ns
    loss = j.tl.first(actor=actor, kind="disconnected", after=down)
    attempts = attempt_marks(j.tl, actor, down, up)
    starts = bool(attempts) and attempts[0]["kind"] != "attempt_failed"
    failures = j.tl.select(actor=actor, kind="attempt_failed", after=down, before=up) if starts else []
    waits = j.tl.select(actor=actor, kind="retry_scheduled", after=down, before=up) if starts else []
    spans = delay_spans(loss["t_ns"], attempts, failures, waits) if loss else []
    delays = [ms(b - a) for a, b in spans]
    return Recovery(down, up, loss, attempts, delays, j.tl.first(actor=actor, kind="reconnected", after=down), spans)


def starts_afresh(first_ms: float | None, second_ms: float | None) -> bool | None:
    """The second outage's first delay is the first outage's, within twice the slack
    (each is measured); None when either outage had no attempt."""
    if first_ms is None or second_ms is None:
        return None
    return abs(first_ms - second_ms) <= 2 * slack_ms(max(first_ms, second_ms))


def limit_counted(used_first: int, tries_second: int, limit: int) -> str:
    """How a try limit counts, from the tries the first outage used (its failed
    attempts and the one that succeeded) and the attempts the second made before
    giving up: `per outage` (the second had them all), `per connection` (the two
    together had them all), else `neither`."""
    if tries_second == limit:
        return "per outage"
    if used_first + tries_second == limit:
        return "per connection"
    return "neither"


def amqp_cap(j: Judge, actor: str = "client") -> float | None:
    """The cap an AMQP client ran with: its explicit max_reconnect_delay, else the documented default."""
    opts = j.actors[actor]["options"]
    if "max_reconnect_delay" in opts:
        return opts["max_reconnect_delay"]
    return j.exp("reconnect.max_delay").value


# The factor an AMQP delay grows by when too few delays were seen to measure it:
# the documentation says only "exponentially"; both libraries were measured to
# double (docs/judging.md, "Schedule shape").
AMQP_FACTOR = 2.0


@dataclass(frozen=True)
class NextWait:
    """The longest the client's own schedule lets it wait, from the heal, before
    its next attempt: `ms`, or None when the harness cannot tell (`how` says why)."""

    ms: float | None
    how: str


def next_wait(j: Judge, family: str, rec: Recovery, actor: str = "client") -> NextWait:
    """The wait the client was in when the link healed, per its options (else the
    documented defaults) and, for a growing schedule, the delays it made so far.
    An attempt that was in flight at the heal fails or succeeds at once: a
    blackhole's connections are closed when it is removed, and a resumed server
    answers what queued for it; so no attempt's own cost is added."""
    opts = j.actors[actor]["options"]
    if family == "nats":
        if "CustomReconnectDelay" in opts:
            d = float(opts["CustomReconnectDelay"])
            return NextWait(d, f"the custom reconnect-delay callback's {d:g} ms")
        tls = any(str(u).startswith("tls://") for u in j.actors[actor].get("servers", []))
        jit = "ReconnectJitterTLS" if tls else "ReconnectJitter"
        wait, bound = j.option(actor, "ReconnectWait"), j.option(actor, jit)
        # Left at its defaults, a client with a schedule of its own (async-nats doubles
        # its delay up to 4 s; it has no ReconnectWait) is held to the longest delay it
        # made in this outage, where that is longer. A wait it was given is kept to.
        longest = max(rec.delays, default=0.0)
        if "ReconnectWait" not in opts and longest > wait + bound + slack_ms(wait + bound):
            return NextWait(longest, f"the longest delay it made in this outage, {longest:g} ms")
        return NextWait(wait + bound, f"ReconnectWait {wait:g} ms plus {jit} up to {bound:g} ms")
    if {"reconnect_object", "connection_details", "reconnect_function", "reconnect_delays"} & set(opts):
        return NextWait(None, "the client ran with a reconnect schedule of its own, which the harness does not model")
    if "reconnect_delay" in opts:
        d = float(opts["reconnect_delay"])
        return NextWait(d, f"the fixed reconnect_delay {d:g} ms")
    cap_ms = amqp_cap(j, actor)
    grow = [d for d in rec.delays if d > SLACK_MS]
    if not grow:
        first = opts.get("initial_reconnect_delay")
        if first is not None:
            return NextWait(float(first), f"the first delay, initial_reconnect_delay {first:g} ms")
        return NextWait(BRIEF_MAX_MS, f"the first delay, 'a brief delay' read as at most {BRIEF_MAX_MS:g} ms")
    ratios = [b / a for a, b in itertools.pairwise(grow)]
    factor = max(median(ratios), 1.0) if ratios else AMQP_FACTOR
    d = factor * grow[-1] if cap_ms is None else min(cap_ms, factor * grow[-1])
    how = f"the delay after {grow[-1]:g} ms grown by {factor:.2f}" + (
        f", capped at {cap_ms:g} ms" if cap_ms is not None else ""
    )
    return NextWait(d, how)


def shape(pauses: list[float], links: list[str | None], servers: int, jitter_ms: float = 0.0) -> dict:
    """Where a client that knows `servers` endpoints applies its wait, and how the
    wait grows. `pauses[i]` is the pause before attempt i (the first may be from
    the loss), `links[i]` where attempt i went.

    Attempts are grouped at every deliberate pause (one above the measurement
    slack). The wait is applied `per attempt` when, after the first group, every
    attempt is a group of its own; `per pass` when every group tries each server
    at most once and every group but the first and last tries them all; else
    `unclear`. Growth compares the deliberate pauses: `none` (all alike), `per
    attempt` (each longer than the one before), `per pass` (alike within a pass of
    `servers` attempts, longer from pass to pass), else `unclear`. Pauses alike
    differ by no more than their slack plus the documented `jitter_ms`.
    """
    out: dict = {"servers": servers, "pauses_ms": pauses, "wait_applied": "unclear", "growth": "unclear"}
    groups: list[list[str | None]] = []
    for p, link in zip(pauses, links, strict=True):
        if p > SLACK_MS or not groups:
            groups.append([link])
        else:
            groups[-1].append(link)
    if len(groups) < 3:
        return out
    if all(len(g) == 1 for g in groups[1:]):
        out["wait_applied"] = "per attempt"
    elif all(len(set(g)) == len(g) for g in groups) and all(len(g) == servers for g in groups[1:-1]):
        out["wait_applied"] = "per pass"
    else:
        return out
    waits = [p for p in pauses if p > SLACK_MS]

    def same(a: float, b: float) -> bool:
        return abs(a - b) <= slack_ms(a) + slack_ms(b) + jitter_ms

    runs: list[list[float]] = []
    for w in waits:
        if runs and same(runs[-1][0], w):
            runs[-1].append(w)
        else:
            runs.append([w])
    growing = all(b[0] > a[0] for a, b in itertools.pairwise(runs))
    if len(runs) == 1:
        out["growth"] = "none"
    elif growing and all(len(r) == 1 for r in runs):
        out["growth"] = "per attempt"
    elif growing and all(len(r) == servers for r in runs[:-1]):
        out["growth"] = "per pass"
    return out


def first_delay(j: Judge, check_id: str, delay: float | None, what: str, span: tuple[int, int] | None = None) -> None:
    """'A brief delay' before the first attempt; `span`, what the delay measured,
    lets it be told from the noise near it."""
    if delay is None:
        j.not_measured(check_id, f"no attempt followed {what}")
        return
    # Timer lateness only lengthens a delay: an immediate retry stays one, so only
    # the upper edge is widened by the measured noise.
    near = [j.noise_near(*span)] if span else None
    band = Band(SLACK_MS, BRIEF_MAX_MS, 0.0, slack_ms(BRIEF_MAX_MS), near[0] if near else j.noise_ms)
    detail = (
        f"first attempt {delay:g} ms after {what}; 'a brief delay' read as more than the {SLACK_MS:g} ms "
        f"measurement slack (not an immediate retry) and at most {BRIEF_MAX_MS:g} ms"
    )
    if delay <= SLACK_MS:
        j.deviates(check_id, delay, detail, unit="ms", band=band)
        return
    j.in_band(check_id, [delay], band, detail, observed=delay, unit="ms", near=near)


def growth(
    j: Judge,
    check_id: str,
    delays: list[float],
    cap_ms: float | None,
    factor: float | None = None,
    spans: list[tuple[int, int]] | None = None,
) -> None:
    """Exponential growth: before the cap, each delay is a constant factor (> 1)
    times the one before, up to measurement slack. Leading zero delays (an
    immediate retry) carry no factor and are left out. With `factor` (a documented
    multiplier), that factor is the one every delay is held to, not the median.
    `spans`, what each delay measured, lets each be told from the noise near it."""
    near = j.noise_near_each(spans) or [j.noise_ms] * len(delays)
    kept = [(d, n) for d, n in zip(delays, near, strict=True) if d > SLACK_MS]
    if cap_ms is not None:
        kept = [(d, n) for d, n in kept if d < cap_ms - slack_ms(cap_ms)]
    grow = [d for d, _ in kept]
    if len(grow) < 3:
        j.not_measured(check_id, f"only {len(grow)} growing delays observed; 3 are needed", unit="ms")
        return
    ratios = [b / a for a, b in itertools.pairwise(grow)]
    # The factor is read from the later half of the steps: a fixed cost added to
    # every delay (a JVM's refused connect, about 25 ms) bends the short early
    # ratios and hardly the long late ones, and the early steps are then held to
    # it within their slack.
    r = median(ratios[len(ratios) // 2 :]) if factor is None else factor
    # Both delays are measured, each within its slack; the earlier one is scaled by
    # the factor, and so is its slack.
    pairs = list(itertools.pairwise(kept))
    off = [b for (a, _), (b, _) in pairs if abs(b - r * a) > slack_ms(b) + r * slack_ms(a)]
    # The same with the timer noise measured on both delays: only these are sure.
    sure = [b for (a, na), (b, nb) in pairs if abs(b - r * a) > slack_ms(b) + r * slack_ms(a) + r * na + nb]
    if factor is None:
        reading = (
            f"grow by a factor of {r:.2f} (the median of the later half of the steps); exponential growth means "
            "one factor > 1 for all"
        )
    else:
        reading = f"(median factor {median(ratios):.2f}) held to the documented factor {factor:g}"
    detail = (
        f"{len(grow)} delays below the cap {reading}, each within its own slack plus factor x the slack of "
        "the delay before" + (f"; off: {off}" if off else "")
    )
    if r > 1.2 and off and not sure:
        where = "near them" if spans else "in this run"
        j.too_noisy(
            check_id,
            grow,
            detail + f"; each is off by less than the error the timer noise measured {where} allows (at most "
            f"{max(n for _, n in kept):g} ms)",
            unit="ms",
        )
        return
    j.verdict(
        check_id, r > 1.2 and not off, grow, detail, unit="ms", **({} if factor is None else {"documented": factor})
    )


def fixed_delay(j: Judge, check_id: str, delay: float | None, what: str, span: tuple[int, int] | None = None) -> None:
    """One documented default delay (the expectation's value, in ms), judged on the one
    delay it governs (`span`: what it measured). Only with untouched defaults: any
    option may change it."""
    if j.actors["client"]["options"]:
        j.not_measured(check_id, "the client ran with options of its own, not the library's defaults", unit="ms")
        return
    value = j.exp(check_id).value
    spans = [span] if span and delay is not None else None
    j.within(check_id, [] if delay is None else [delay], value, value, what, documented=value, spans=spans)


def cap(
    j: Judge,
    check_id: str,
    delays: list[float],
    cap_ms: float,
    reached_after_ms: float | None = None,
    spans: list[tuple[int, int]] | None = None,
) -> None:
    """The delay stops growing at the cap: it reaches it and never exceeds it;
    each delay told from the noise near its span, where `spans` says what it measured."""
    if not delays:
        j.not_measured(check_id, "no delays observed", unit="ms")
        return
    at_cap = [d for d in delays if abs(d - cap_ms) <= slack_ms(cap_ms)]
    over = [d for d in delays if d > cap_ms + slack_ms(cap_ms)]
    if not at_cap and not over:
        when = (
            f"; at the documented growth it would be reached after {reached_after_ms / 1000:g} s"
            if (reached_after_ms)
            else ""
        )
        j.not_measured(
            check_id,
            f"the delay never reached the cap while observed (largest {max(delays):g} ms){when}",
            documented=cap_ms,
            unit="ms",
        )
        return
    near = j.noise_near_each(spans)
    j.in_band(
        check_id,
        delays,
        # The low edge takes the measurement slack too: a loss the library reports a
        # moment after its first attempt starts (qpid-jms) reads as a delay just below 0.
        Band(0, cap_ms, SLACK_MS, slack_ms(cap_ms), max(near) if near else j.noise_ms),
        f"{len(at_cap)} delays at the cap of {cap_ms:g} ms (± {slack_ms(cap_ms):g}), "
        + (f"{len(over)} above it" if over else "none above it"),
        documented=cap_ms,
        unit="ms",
        near=near,
    )


def jitter(
    j: Judge,
    check_id: str,
    extra_ms: list[float],
    jitter_ms: float,
    base_ms: float = 0.0,
    spans: list[tuple[int, int]] | None = None,
) -> None:
    """Jitter = interval minus its fixed part. Documented: uniform in [0, jitter].

    Two things must hold: every extra delay is within [0, jitter] (plus slack), and
    the delays are random. Randomness is judged by the largest of n draws: under the
    documented uniform jitter, P(max < jitter * 0.001**(1/n)) = 0.001, so a maximum
    below that threshold is taken as "no jitter" with a 0.1% false alarm rate.
    `spans`, one (start_ns, end_ns) per interval, lets each be judged with the
    timer noise measured near it (Judge.noise_near) instead of the run's worst.
    """
    n = len(extra_ms)
    extra = [round(x, 3) for x in extra_ms]
    j.metric("jitter_ms", extra)
    if n < 3:
        j.not_measured(check_id, f"only {n} intervals observed; at least 3 are needed")
        return
    threshold = jitter_ms * 0.001 ** (1 / n)
    near = j.noise_near_each(spans) or [j.noise_ms] * n
    # The extra delay is measured on intervals of about base + jitter: their slack.
    tol = slack_ms(base_ms + jitter_ms)
    band = Band(0, jitter_ms, tol, tol, max(near))
    inside = not band.outside(extra_ms)
    random_enough = max(extra_ms) >= threshold
    detail = (
        f"extra delay per interval {min(extra_ms):.1f}..{max(extra_ms):.1f} ms over {n} intervals; "
        f"documented uniform in [0, {jitter_ms:g}] ms, so the largest should exceed {threshold:.1f} ms "
        "(0.1% false alarm)"
    )
    # Timer lateness only adds to a delay: a largest extra below the threshold is
    # surely no jitter, but one above it is jitter only if one interval stays above
    # once the noise measured near it is taken off (lateness of 25-30 ms looks like
    # jitter).
    sure_random = max(x - e for x, e in zip(extra_ms, near, strict=True)) >= threshold
    surely_wrong = not random_enough or band.beyond_noise(extra_ms, near)
    if not surely_wrong and not (inside and sure_random):
        where = "near these intervals" if spans else "in this run"
        why = (
            f"; the error the timer noise measured {where} allows (at most {band.noise_ms:g} ms) is too large to tell "
            f"jitter of this size from lateness"
        )
        j.too_noisy(check_id, extra, detail + why, documented=jitter_ms, band=band)
        return
    j.verdict(check_id, inside and random_enough, extra, detail, documented=jitter_ms, band=band)


def give_up(j: Judge, links: list[str], what: str) -> None:
    """NATS MaxReconnect and ClosedCB: attempts from the loss until the client closed,
    judged as a total against MaxReconnect (the documentation's reading), with the
    count per server as evidence."""
    max_reconnect = j.option("client", "MaxReconnect")
    down = j.outage().start_ns
    closed = j.tl.first(actor="client", kind="closed", after=down)
    attempts = client_attempts(j.tl, "client", down, closed["t_ns"] if closed else None)
    per = {link: sum(1 for a in attempts if link_of_url(a.get("url"), j.links) == link) for link in links}
    last = attempts[-1]["t_ns"] if attempts else None
    # A library that reports one failure per pass over several servers (async-nats)
    # does not say how many attempts it made, and refused ones never reach the wire.
    per_pass = len(links) > 1 and any(a.get("per_pass") for a in attempts)
    j.metric("attempts_before_closed", None if per_pass else len(attempts))
    j.metric("failed_passes_before_closed", len(attempts) if per_pass else None)
    j.metric("attempts_per_server", per if any(per.values()) else None)
    j.metric("closed_after_loss_ms", ms(closed["t_ns"] - down) if closed else None)
    j.metric("closed_after_last_attempt_ms", ms(closed["t_ns"] - last) if closed and last else None)
    j.metric("closed_error", closed.get("error") if closed else None)
    if per_pass and closed is not None:
        j.not_measured(
            "MaxReconnect",
            f"the library reported {len(attempts)} failed passes over the server list, not its attempts, and "
            "refused attempts never reach the wire, so the attempts before it closed are not known",
            documented=max_reconnect,
        )
    elif closed is None:
        j.deviates(
            "MaxReconnect",
            len(attempts),
            "the client had not given up when the scenario ended",
            documented=max_reconnect,
        )
    else:
        j.verdict(
            "MaxReconnect",
            len(attempts) == max_reconnect,
            len(attempts),
            f"reconnect attempts {what} before the client closed (MaxReconnect {max_reconnect})",
            documented=max_reconnect,
        )
    # A client's own documented limit (MaxReconnect@NAME, its expectations file) where it
    # ran with its default: judged beside the family's claim, literally as that one.
    for own in (c for c in j.applicable if c.startswith("MaxReconnect@")):
        if "MaxReconnect" in j.actors["client"]["options"]:
            j.not_measured(own, "MaxReconnect was given, so the library's own default was not used")
        elif closed is None:
            j.deviates(own, len(attempts), "the client had not given up when the scenario ended")
        else:
            limit = j.exp(own).value
            j.verdict(own, len(attempts) == limit, len(attempts), f"reconnect attempts {what} before the client closed")
    if j.applies("ClosedCB"):
        j.verdict(
            "ClosedCB",
            closed is not None,
            closed is not None,
            "closed callback once the client stopped trying",
        )
