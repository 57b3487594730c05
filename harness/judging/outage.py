"""Outages: the faults of a run as judges read them, one definition.

A fault's record holds when it was requested (`start_ns`) and, if it was healed
within the run, when it ended (`end_ns`). A judge asks for the window in which
the link or service was faulted; an outage never healed lasts until the run ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judging.timeline import Timeline

# A message accepted within this of a fault's start was in flight at its instant.
INSTANT_MS = 100.0


@dataclass(frozen=True)
class Outage:
    kind: str
    target: str
    start_ns: int
    end_ns: int | None  # None: not healed while the run lasted
    run_end_ns: int
    # When the revert was confirmed (a killed server running again), if it was.
    reverted_ns: int | None = None

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
        Outage(f["kind"], f["target"], f["start_ns"], f["end_ns"], tl.t1_ns, f.get("reverted_ns")) for f in tl.faults
    ]
