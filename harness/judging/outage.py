"""Outages: the faults of a run as judges read them, one definition.

A fault's record holds when it was requested (`start_ns`), when it was confirmed in
force (`applied_ns`) and, if it was healed within the run, when it ended (`end_ns`).
A judge asks for the window in which the link or service was faulted; an outage
never healed lasts until the run ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judging.timeline import Timeline

# A message accepted within this of a fault's instant was in flight at it.
INSTANT_MS = 100.0


def instant_pad_ms(late_ms: float = 0.0, in_flight_ms: float = 0.0) -> float:
    """How far a fault's instant reaches (Outage.instant_ns): after it, INSTANT_MS plus
    the timer lateness; before it, the longer of INSTANT_MS and `in_flight_ms`, how
    long a message was measured to stay in flight, plus the lateness."""
    return max(INSTANT_MS, in_flight_ms) + late_ms


@dataclass(frozen=True)
class Outage:
    kind: str
    target: str
    start_ns: int
    end_ns: int | None  # None: not healed while the run lasted
    run_end_ns: int
    # When the revert was confirmed (a killed server running again), if it was.
    reverted_ns: int | None = None
    # When the fault was confirmed in force. It took effect somewhere between the
    # request and this: a container engine under load took 2.6 s to kill one.
    applied_ns: int | None = None

    def instant_ns(
        self, noticed_ns: int | None = None, late_ms: float = 0.0, in_flight_ms: float = 0.0
    ) -> tuple[int, int]:
        """The fault's instant: from INSTANT_MS before its request to INSTANT_MS after
        it surely took effect: when it was confirmed, or earlier when the client
        already reported the loss (`noticed_ns`; it cannot notice a fault not yet in
        force). A message accepted in it may have been on the wire as the fault
        struck, or not: chance, not the library. `late_ms`, how late the publisher's
        own loop woke near the fault (invariants.writer_late_ms), widens it on both
        sides: a library's writer woken that late still held, as the fault struck,
        what it had accepted that much earlier (under compose load async-nats lost 71
        accepted 100-170 ms before a refusal, with its driver's loop 97 ms late).
        `in_flight_ms`, how long a message was seen to stay unsettled before the
        fault (invariants.settlement_ms), reaches back further: one sent that long
        before the fault may still have been in flight."""
        before = int(instant_pad_ms(late_ms, in_flight_ms) * 1e6)
        after = int(instant_pad_ms(late_ms) * 1e6)
        known = [t for t in (self.applied_ns, noticed_ns) if t is not None]
        return self.start_ns - before, max(self.start_ns, min(known, default=self.start_ns)) + after

    @property
    def healed(self) -> bool:
        return self.end_ns is not None

    @property
    def until_ns(self) -> int:
        """The end of the faulted window: the heal, else the end of the run."""
        return self.end_ns if self.end_ns is not None else self.run_end_ns

    @property
    def healed_ns(self) -> int | None:
        """When the fault was surely gone: its revert confirmed, else its end."""
        return self.reverted_ns if self.reverted_ns is not None else self.end_ns


def outages(tl: Timeline) -> list[Outage]:
    """Every fault of the run, in the order it was made."""
    return [
        Outage(f["kind"], f["target"], f["start_ns"], f["end_ns"], tl.t1_ns, f.get("reverted_ns"), f.get("applied_ns"))
        for f in tl.faults
    ]
