"""Flapping links: down for a second, up for two, five times, on one connection.

Played as a schedule (harness/schedule.py), so the same steps are replayed the
same way. No sentence of the documentation speaks of flapping, so these
scenarios measure and judge nothing: per outage, the attempts, the delay before
the first, and the way back, which show whether each brief success resets the
library's backoff and its attempt count.
"""

from __future__ import annotations

from harness.judging import Judge, schedules
from harness.judging.metrics import ms
from harness.scenario import Run, scenario
from harness.schedule import Schedule, Step

CONNECT_S = 15.0
DOWN_S, UP_S, TIMES = 1.0, 2.0, 5


def flap(run: Run, link: str) -> None:
    if not run.connect("client", [link], timeout=CONNECT_S):
        return
    run.play(Schedule([Step(0.0, "refuse", link, for_s=DOWN_S, every_s=DOWN_S + UP_S, times=TIMES)], seed=run.seed))
    last = run.faults.records[-1]
    run.wait("client", "reconnected", 15, after_ns=last["start_ns"])
    run.sleep(0.5)


def judge_flaps(j: Judge) -> None:
    if schedules.never_connected(j):
        return
    per = []
    for i in range(len(j.outages())):
        r = schedules.recovery(j, i)
        per.append(
            {
                "attempts": len(r.attempts),
                "first_delay_ms": r.delays[0] if r.delays else None,
                "delays_ms": r.delays,
                "reconnected_after_heal_ms": ms(r.back["t_ns"] - r.up) if r.back else None,
            }
        )
    j.metric("outages", per)
    j.metric("reconnected_after_every_outage", all(p["reconnected_after_heal_ms"] is not None for p in per))
    firsts = [p["first_delay_ms"] for p in per if p["first_delay_ms"] is not None]
    j.metric("first_delay_per_outage_ms", firsts)


@scenario("nats.single.flapping", family="nats", topology="nats-single", checks=[])
def nats_flapping(run: Run) -> None:
    """The one server's link refused for 1 s and back for 2 s, five times, library defaults."""
    flap(run, "n1-client")


@nats_flapping.judge
def judge_nats_flapping(j: Judge) -> None:
    judge_flaps(j)


@scenario("amqp.single.flapping", family="amqp", topology="artemis-3", checks=[])
def amqp_flapping(run: Run) -> None:
    """The broker's link refused for 1 s and back for 2 s, five times, library defaults."""
    flap(run, "a1-client")


@amqp_flapping.judge
def judge_amqp_flapping(j: Judge) -> None:
    judge_flaps(j)
