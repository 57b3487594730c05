"""The judge: what a scenario's judging function works with (the timeline, the
expectations that apply to this client, the options each actor ran with) and the
one place a check's verdict is recorded.

Verdicts of documentation claims:
  conforms      what was measured agrees with the documentation
  deviates      it does not; the check says what was documented and what was seen
  not-measured  it could not be measured here, and the check says why

A timing check stores the band it was judged against (harness/judging/bands.py).
"""

from __future__ import annotations

from typing import Any

from harness.expectations import Expectation
from harness.judging.bands import Band
from harness.judging.outage import Outage, outages
from harness.judging.timeline import Timeline

VERDICTS = ("conforms", "deviates", "not-measured")
# An invariant's words (harness/judging/invariants.py).
INVARIANT_VERDICTS = ("holds", "violated")
ALL_VERDICTS = (*VERDICTS, *INVARIANT_VERDICTS)
# Verdicts that are findings about the library: a claim it breaks, an invariant it breaks.
FINDINGS = ("deviates", "violated")


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
        noise_ms: float = 0.0,
        topology: str | None = None,
    ) -> None:
        self.tl = tl
        self.links = links
        self.expectations = expectations
        self.client = client
        self.actors = actors
        self.applicable = applicable
        # The largest timer lateness measured during the run (harness/noise.py); 0
        # for runs recorded before it was measured.
        self.noise_ms = noise_ms
        # The topology's name (harness/topology.py): which service each link leads to.
        self.topology = topology
        self.metrics: dict[str, Any] = {}
        self.checks: list[dict] = []

    # -- context --

    def applies(self, check_id: str) -> bool:
        return check_id in self.applicable

    def outages(self) -> list[Outage]:
        """Every fault of the run, in order (harness/judging/outage.py)."""
        return outages(self.tl)

    def outage(self, index: int = 0) -> Outage:
        """The run's `index`-th fault; an IndexError (a judge bug, so an error entry,
        never a verdict) if there are fewer."""
        return self.outages()[index]

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
        band: Band | None = None,
    ) -> None:
        if check_id not in self.applicable:
            raise KeyError(f"check {check_id} is not declared by this scenario or has no expectation for this client")
        e = self.exp(check_id)
        self.checks.append(
            {
                "id": check_id,
                "kind": "claim",
                "verdict": verdict,
                "documented": e.documented if documented is None else documented,
                "observed": observed,
                "unit": unit if unit is not None else e.unit,
                "band": band.to_json() if band is not None else None,
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

    def nothing_measured(self, reason: str, *, unless: tuple[str, ...] = ()) -> None:
        """Every applicable check that has no verdict yet (and is not in `unless`)
        is not-measured, for `reason`: the one way a judge says "nothing to judge"."""
        judged = {c["id"] for c in self.checks}
        for cid in self.applicable:
            if cid not in judged and cid not in unless:
                self.not_measured(cid, reason)

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
        band = Band.around(low, high, self.noise_ms)
        detail = (
            f"{len(values)} {what}, documented band [{low:g}, {high:g}] {unit} "
            f"(measured [{band.lo:g}, {band.hi:g}] with the measurement slack)"
        )
        self.in_band(check_id, values, band, detail, documented=documented, unit=unit)

    def in_band(
        self, check_id: str, values: list[float], band: Band, detail: str, observed: Any = None, **kw: Any
    ) -> None:
        """Conforms when every value is in the band; deviates when one is outside it
        by more than the timing noise measured in this run; else not-measured, with
        the figures: a busy machine must not turn into a finding about the library."""
        outside = band.outside(values)
        if outside:
            detail += f"; outside: {', '.join(f'{v:g}' for v in outside)}"
        if outside and not band.beyond_noise(values):
            detail += (
                f"; every value outside lies within the timer noise measured in this run "
                f"({band.noise_ms:g} ms), so it cannot be told from noise"
            )
            self._add(check_id, "not-measured", values if observed is None else observed, detail, band=band, **kw)
            return
        self.verdict(check_id, not outside, values if observed is None else observed, detail, band=band, **kw)

    def invariant(
        self, invariant_id: str, verdict: str, observed: Any, detail: str, *, statement: str, mode: str | None = None
    ) -> None:
        """An invariant's verdict (harness/judging/invariants.py): holds, violated or
        not-measured. Its source is the statement the harness holds every client to;
        `mode` is the delivery mode the publisher ran in, said in the detail too."""
        self.checks.append(
            {
                "id": f"invariant.{invariant_id}",
                "kind": "invariant",
                "verdict": verdict,
                "documented": statement,
                "observed": observed,
                "unit": None,
                "band": None,
                "detail": detail + (f" [mode: {mode}]" if mode else ""),
                "source": {"document": "Harness invariants", "file": "docs/judging.md", "quote": statement},
                "mode": mode,
            }
        )

    def metric(self, name: str, value: Any) -> Any:
        self.metrics[name] = value
        return value
