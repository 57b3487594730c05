"""Checks: one documented expectation held against a timeline, with a verdict.

Verdicts:
  conforms      what was measured agrees with the documentation
  deviates      it does not; the check says what was documented and what was seen
  not-measured  it could not be measured here, and the check says why

Timing bands come from the documentation (a value, plus its documented jitter).
On top of a band goes the measurement slack, slack_ms(): a fixed SLACK_MS for the
distance between an event and its timestamp (timer wake-up, callback dispatch, a
busy CPU), plus the timer slack Linux itself allows a sleeping event loop: 0.1% of
the wait, at most 100 ms (poll/epoll timeouts of normal-priority tasks, see
select_estimate_accuracy in the kernel's fs/select.c). Its derivation is in
docs/decisions.md; it is never widened to make a run pass.
"""

from __future__ import annotations

from typing import Any

from harness.expectations import Expectation
from harness.timeline import Timeline

VERDICTS = ("conforms", "deviates", "not-measured")

# See docs/decisions.md, "Measurement slack".
SLACK_MS = 20.0
KERNEL_TIMER_SLACK = 0.001
KERNEL_TIMER_SLACK_MAX_MS = 100.0


def slack_ms(wait_ms: float = 0.0) -> float:
    """How far a measured wait of about `wait_ms` may sit from the truth."""
    return SLACK_MS + min(KERNEL_TIMER_SLACK * max(wait_ms, 0.0), KERNEL_TIMER_SLACK_MAX_MS)


class Judge:
    """What a scenario's judge function works with: the timeline, the expectations
    that apply to this client, and the place to put metrics and checks."""

    def __init__(
        self,
        tl: Timeline,
        links: dict[str, str],
        expectations: dict[str, Expectation],
        client: str,
        actors: dict[str, dict],
        applicable: list[str],
    ) -> None:
        self.tl = tl
        self.links = links
        self.expectations = expectations
        self.client = client
        self.actors = actors
        self.applicable = applicable
        self.metrics: dict[str, Any] = {}
        self.checks: list[dict] = []

    # -- context --

    def applies(self, check_id: str) -> bool:
        return check_id in self.applicable

    def exp(self, check_id: str) -> Expectation:
        return self.expectations[check_id]

    def option(self, actor: str, name: str) -> Any:
        """The value an actor ran with: its explicit option, else the documented default."""
        opts = self.actors[actor]["options"]
        if name in opts:
            return opts[name]
        return self.exp(name).value

    # -- verdicts --

    def _add(
        self,
        check_id: str,
        verdict: str,
        observed: Any,
        detail: str,
        *,
        documented: Any = None,
        unit: str | None = None,
        band: tuple[float, float] | None = None,
    ) -> None:
        if check_id not in self.applicable:
            raise KeyError(f"check {check_id} is not declared by this scenario or has no expectation for this client")
        e = self.exp(check_id)
        self.checks.append(
            {
                "id": check_id,
                "verdict": verdict,
                "documented": e.value if documented is None else documented,
                "observed": observed,
                "unit": unit if unit is not None else e.unit,
                "band": list(band) if band is not None else None,
                "detail": detail,
                "source": e.source(),
            }
        )

    def conforms(self, check_id: str, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "conforms", observed, detail, **kw)

    def deviates(self, check_id: str, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "deviates", observed, detail, **kw)

    def verdict(self, check_id: str, ok: bool, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "conforms" if ok else "deviates", observed, detail, **kw)

    def not_measured(self, check_id: str, reason: str, **kw: Any) -> None:
        self._add(check_id, "not-measured", None, reason, **kw)

    def within(
        self,
        check_id: str,
        values: list[float],
        low: float,
        high: float,
        what: str,
        unit: str = "ms",
        documented: Any = None,
    ) -> None:
        """Conforms when every value is inside [low - slack, high + slack]."""
        if not values:
            self.not_measured(check_id, f"no {what} was observed", documented=documented, unit=unit)
            return
        lo, hi = low - slack_ms(low), high + slack_ms(high)
        outside = [v for v in values if not lo <= v <= hi]
        detail = (
            f"{len(values)} {what}, documented band [{low:g}, {high:g}] {unit} "
            f"(measured [{lo:g}, {hi:g}] with the measurement slack)"
        )
        if outside:
            detail += f"; outside: {', '.join(f'{v:g}' for v in outside)}"
        self.verdict(check_id, not outside, values, detail, documented=documented, unit=unit, band=(low, high))

    def metric(self, name: str, value: Any) -> Any:
        self.metrics[name] = value
        return value
