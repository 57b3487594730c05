"""The fate of every message at the instant of a fault, for each kind of fault.

The client under test publishes steadily (1,000 small messages a second on NATS,
250 on AMQP) while one kind of fault is made and healed; a witness subscribed
through an unfaulted link counts what arrived. The invariants
(harness/judging/invariants.py) judge every message, and count its fate by
phase: before the fault, within 100 ms of it, during it, after it healed.

NATS runs on the 3-node cluster: the client is on n1 only, the witness on n2, so
killing or pausing n1 leaves the witness connected. On AMQP the witness must be
on the client's broker to receive, so when that broker is killed the witness
loses its connection too, and the invariants say they cannot judge.
"""

from __future__ import annotations

from harness.clock import now_ns
from harness.judging import Judge
from harness.scenario import Run, scenario

CONNECT_S = 15.0
FAULT_S = 3.0
# Watched after the heal at least this long, so that liveness (a bound of about
# 2.6 s for the NATS defaults, 1.5 to 2.2 s for AMQP here) can be decided even
# for a client that came back elsewhere before the heal.
WATCH_AFTER_HEAL_S = 3.0
# How long after the heal a client that lost its connection is waited for.
RECONNECT_S = 15.0
# Stale detection within a second or two, so a blackholed client notices.
FAST_PINGS = {"PingInterval": 500, "MaxPingsOut": 2}

FAULTS = {
    # kind: (target of the fault, its parameters)
    "refuse": ("link", {}),
    "reset": ("link", {}),
    "blackhole": ("link", {}),
    "kill": ("service", {}),
    "pause": ("service", {}),
}
FAMILIES = {
    # family: (topology, client link, witness link, service, publish workload)
    "nats": ("nats-3", "n1-client", "n2-observer", "n1", {"rate": 1000, "size": 64}),
    "amqp": ("artemis-3", "a1-client", "a1-observer", "a1", {"rate": 250, "size": 64}),
}


# AMQP only: how the application sends (docs/driver-contract.md,
# workload.publish.settlement). The scenario without a suffix sends unsettled
# and does not wait; `.awaited` waits for each settlement before the next;
# `.presettled` sends settled, at most once.
SETTLEMENTS = ("awaited", "presettled")


def fates(run: Run, family: str, kind: str, settlement: str | None = None) -> None:
    _, link, witness, service, publish = FAMILIES[family]
    if settlement:
        publish = {**publish, "settlement": settlement}
    run.start("observer", [witness], subscribe=True)
    if run.wait("observer", ("subscribed", "link_opened"), CONNECT_S) is None:
        return
    options = FAST_PINGS if family == "nats" and kind == "blackhole" else None
    subject = run.actors["observer"]["workload"]["subject"]
    if not run.connect(
        "client",
        [link],
        timeout=CONNECT_S,
        settle=1.0,
        flowing=("observer", "received"),
        publish=publish,
        subject=subject,
        options=options,
    ):
        return
    target = link if FAULTS[kind][0] == "link" else service
    f = run.fault(kind, target, **FAULTS[kind][1])
    run.sleep(FAULT_S)
    f.end()
    healed = now_ns()
    wait_back(run, f.start_ns, healed)
    run.sleep(max(2.0, WATCH_AFTER_HEAL_S - (now_ns() - healed) / 1e9))
    run.stop("client")
    run.sleep(1.5)  # what was in flight reaches the witness


def wait_back(run: Run, fault_ns: int, healed_ns: int) -> None:
    """Until the client is back, up to RECONNECT_S after the heal. A client that
    reported no lost connection within WATCH_AFTER_HEAL_S of it is not waited for
    longer: nothing will come back (a 3 s pause kept every connection, and the full
    wait was 15 s of nothing per entry). A program given with --app reports nothing
    but the wire, so it gets the full wait."""
    left = RECONNECT_S - (now_ns() - healed_ns) / 1e9
    if not run.is_app("client") and "disconnected" in run.describe["observes"]:
        watch = WATCH_AFTER_HEAL_S - (now_ns() - healed_ns) / 1e9
        if run.wait("client", ("disconnected", "reconnected"), watch, after_ns=fault_ns) is None:
            return
        left = RECONNECT_S - (now_ns() - healed_ns) / 1e9
    run.wait("client", "reconnected", left, after_ns=fault_ns)


def judge_fates(j: Judge) -> None:
    """Nothing beyond the invariants: they are judged for every entry that publishes."""


def _define(family: str, kind: str, settlement: str | None = None) -> None:
    topology = FAMILIES[family][0]

    def script(run: Run) -> None:
        fates(run, family, kind, settlement)

    what = "link" if FAULTS[kind][0] == "link" else "server"
    how = {
        None: "",
        "awaited": ", each settlement awaited before the next",
        "presettled": ", sent pre-settled (at most once)",
    }[settlement]
    script.__doc__ = f"Publishing steadily while the client's {what} is faulted ({kind}, {FAULT_S:g} s){how}."
    script.__name__ = f"{family}_fates_{kind}" + (f"_{settlement}" if settlement else "")
    name = f"{family}.fates.{kind}" + (f".{settlement}" if settlement else "")
    sc = scenario(name, family=family, topology=topology, checks=[])(script)
    sc.judge(judge_fates)


for _family in FAMILIES:
    for _kind in FAULTS:
        _define(_family, _kind)
# Not for a killed broker: the witness on that broker loses its own connection, so
# no invariant can be decided there in any mode (amqp.fates.kill shows it once).
for _kind in (k for k in FAULTS if k != "kill"):
    for _settlement in SETTLEMENTS:
        _define("amqp", _kind, _settlement)
