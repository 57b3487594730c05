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
from harness.noise import Windows

VERDICTS = ("conforms", "deviates", "not-measured")
# An invariant's words (harness/judging/invariants.py).
INVARIANT_VERDICTS = ("holds", "violated")
ALL_VERDICTS = (*VERDICTS, *INVARIANT_VERDICTS)
# Verdicts that are findings about the library: a claim it breaks, an invariant it breaks.
FINDINGS = ("deviates", "violated")
# A check's `why`: it is not-measured because the run's timing noise was too large
# to decide it (harness/noise.py); the run-level summary counts these (outcome.py).
NOISE = "noise"
# Or because the proxy, the harness's instrument, stood still: it hung dialling a
# server that had gone, and saw nothing of its link meanwhile (wire.dial_stalls).
STALLED = "proxy-stalled"
# Undecided by the run, not refuted by it: the baseline holds neither against a library.
UNDECIDED = (NOISE, STALLED)


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
        noise_p99_ms: float | None = None,
        topology: str | None = None,
        noise_windows: Windows | None = None,
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
        # The lateness 1% of wake-ups exceeded: the noise a statistic blind to its
        # top few percent (a 5th-95th percentile spread) is judged against.
        self.noise_p99_ms = noise_ms if noise_p99_ms is None else noise_p99_ms
        # The same, a second at a time: what checks of times in a span are judged with.
        self.noise_windows = noise_windows
        self.metrics: dict[str, Any] = {}
        self.checks: list[dict] = []

    # -- context --

    def noise_near(self, lo_ns: int, hi_ns: int) -> float:
        """How late a time measured near [lo, hi] may be, from the lateness measured
        there (noise.Windows.error_ms): what a check of times in that span is judged
        with; the run's largest when no window was measured there (runs recorded
        before windows)."""
        near = self.noise_windows.error_ms(lo_ns, hi_ns) if self.noise_windows else None
        return self.noise_ms if near is None else near

    def lateness_of(self, actor: str, lo_ns: int, hi_ns: int) -> float:
        """How late `actor`'s own driver woke near [lo, hi] (its `lateness` windows):
        how long its loop may have held what its library had accepted. noise_near
        where its driver reported none there."""
        own = self.noise_windows.actor_max_ms(actor, lo_ns, hi_ns) if self.noise_windows else None
        return self.noise_near(lo_ns, hi_ns) if own is None else own

    def noise_near_each(self, spans: list[tuple[int, int]] | None) -> list[float] | None:
        """noise_near of each (start_ns, end_ns) span; None without spans (the caller
        then has only the run's figure, self.noise_ms)."""
        return [self.noise_near(a, b) for a, b in spans] if spans else None

    def noise_p99_near(self, lo_ns: int, hi_ns: int) -> float:
        """The probe's p99 lateness near [lo, hi], as noise_near; the run's p99 when none."""
        near = self.noise_windows.p99_ms(lo_ns, hi_ns) if self.noise_windows else None
        return self.noise_p99_ms if near is None else near

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
        why: str | None = None,
    ) -> None:
        if check_id not in self.applicable:
            raise KeyError(f"check {check_id} is not declared by this scenario or has no expectation for this client")
        e = self.exp(check_id)
        check = {
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
        if why is not None:  # written only when set: older files and other checks stay as they were
            check["why"] = why
        self.checks.append(check)

    def conforms(self, check_id: str, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "conforms", observed, detail, **kw)

    def deviates(self, check_id: str, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "deviates", observed, detail, **kw)

    def verdict(self, check_id: str, ok: bool, observed: Any, detail: str, **kw: Any) -> None:
        self._add(check_id, "conforms" if ok else "deviates", observed, detail, **kw)

    def not_measured(self, check_id: str, reason: str, **kw: Any) -> None:
        self._add(check_id, "not-measured", None, reason, **kw)

    def too_noisy(self, check_id: str, observed: Any, detail: str, **kw: Any) -> None:
        """Not-measured because the run's measured timing noise is too large to decide
        it (`detail` gives the figure): marked `why: noise`, so a run of many such
        checks reads "too loaded to judge" (outcome.run_noise)."""
        self._add(check_id, "not-measured", observed, detail, why=NOISE, **kw)

    def undecide_all(self, reason: str, why: str) -> None:
        """Every check, claim or invariant, not-measured for `reason` and marked `why`:
        what the run saw cannot carry a verdict. A decided one's detail keeps what it
        would have read; one already not-measured (the client never connected, say)
        may owe that to the same cause. Those marked for noise stay so."""
        for c in self.checks:
            if c["verdict"] != "not-measured":
                c["detail"] = f"{reason} (it would have read {c['verdict']}: {c['detail']})"
                c["verdict"] = "not-measured"
            elif c.get("why") is None:
                c["detail"] = f"{reason} ({c['detail']})"
            else:
                continue
            c["why"] = why

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
        spans: list[tuple[int, int]] | None = None,
    ) -> None:
        """Conforms when every value is inside [low - slack, high + slack]. `spans`,
        one (start_ns, end_ns) per value, is what each measured: it is told from the
        noise measured near it (noise_near), not from the run's worst moment."""
        if not values:
            self.not_measured(check_id, f"no {what} was observed", documented=documented, unit=unit)
            return
        near = self.noise_near_each(spans)
        band = Band.around(low, high, max(near) if near else self.noise_ms)
        detail = (
            f"{len(values)} {what}, documented band [{low:g}, {high:g}] {unit} "
            f"(measured [{band.lo:g}, {band.hi:g}] with the measurement slack)"
        )
        self.in_band(check_id, values, band, detail, documented=documented, unit=unit, near=near)

    def in_band(
        self,
        check_id: str,
        values: list[float],
        band: Band,
        detail: str,
        observed: Any = None,
        near: list[float] | None = None,
        **kw: Any,
    ) -> None:
        """Conforms when every value is in the band; deviates when one is outside it
        by more than the timing noise measured in this run (`near`: near each value);
        else not-measured, with the figures: a busy machine must not turn into a
        finding about the library."""
        outside = band.outside(values)
        if outside:
            detail += f"; outside: {', '.join(f'{v:g}' for v in outside)}"
        if outside and not band.beyond_noise(values, near):
            where = "near each" if near else "in this run"
            detail += (
                f"; every value outside lies within the error the timer noise measured {where} allows "
                f"(at most {band.noise_ms:g} ms), so it cannot be told from noise"
            )
            self.too_noisy(check_id, values if observed is None else observed, detail, band=band, **kw)
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
