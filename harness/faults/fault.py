"""A fault (a kind on a target, with parameters) and the log of a run's faults,
each stamped on the shared clock when asked for, confirmed applied, ended and
confirmed reverted."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends import Live
from harness.clock import now_ns
from harness.errors import EnvironmentFault, HarnessError, UsageError
from harness.faults import registry
from harness.faults.base import Kind

_ids = itertools.count(1)


@dataclass
class Fault:
    kind: str
    target: str
    params: dict = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    action: Kind = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.params, dict):
            raise UsageError(f"fault {self.kind!r}: params must be a table, not {self.params!r}")
        cls = registry.KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if cls is None:
            raise UsageError(f"unknown fault kind {self.kind!r}", f"choose one of: {', '.join(registry.KINDS)}")
        cls.validate(self.params)
        self.action = cls(self.target, self.params, self.id)

    @property
    def lasting(self) -> bool:
        return self.action.lasting

    def describe(self) -> dict:
        return {"kind": self.kind, "target": self.target, "params": dict(self.params)}

    def _streams(self) -> tuple[str, ...]:
        return self.action.streams()

    def apply(self, live: Live) -> None:
        """Do the fault and confirm it took; EnvironmentFault if it did not."""
        self._confirmed("applied", live, self.action.apply, self.action.confirm_applied)

    def revert(self, live: Live) -> None:
        """Undo the fault and confirm it is undone; EnvironmentFault if it is not."""
        self._confirmed("reverted", live, self.action.revert, self.action.confirm_reverted)

    def _confirmed(
        self, done: str, live: Live, act: Callable[[Live], None], confirm: Callable[[Live], str | None]
    ) -> None:
        try:
            act(live)
            problem = confirm(live)
        except EnvironmentFault as e:
            raise EnvironmentFault(f"fault {self.kind} on {self.target} was not {done}: {e.line()}") from e
        if problem:
            raise EnvironmentFault(f"fault {self.kind} on {self.target} was not {done}: {problem}")


@dataclass
class FaultLog:
    """Every fault of a run with its start and end on the shared clock; applied_ns
    and reverted_ns only once the action was confirmed."""

    records: list[dict] = field(default_factory=list)

    def begin(self, fault: Fault, live: Live) -> dict:
        rec = {**fault.describe(), "start_ns": now_ns(), "end_ns": None}
        try:
            fault.apply(live)
        except EnvironmentFault:
            # Part of it may be in force: recorded as begun, undone as far as it goes.
            self.records.append(rec)
            with contextlib.suppress(HarnessError):
                fault.action.revert(live)
            raise
        rec["applied_ns"] = now_ns()
        if not fault.lasting:
            rec["end_ns"] = rec["applied_ns"]
        self.records.append(rec)
        return rec

    def end(self, fault: Fault, rec: dict, live: Live) -> None:
        if rec["end_ns"] is not None:
            return
        if not fault.action.heals():
            # Ended but not healed (a kill that leaves its server down): the outage
            # lasts until the run ends, and nothing is judged as after a heal.
            rec["left_in_force_ns"] = now_ns()
            fault.revert(live)
            return
        rec["end_ns"] = now_ns()
        fault.revert(live)
        rec["reverted_ns"] = now_ns()
