"""Timing bands: the one definition of how far a measured time may sit from the
documented one, and the band a check stores with its verdict.

A band is the documented [low, high] widened on each side by the measurement
slack of that edge. `slack_ms()` is a fixed SLACK_MS for the distance between an
event and its timestamp (timer wake-up, callback dispatch, a busy CPU), plus the
timer slack Linux itself allows a sleeping event loop: 0.1% of the wait, at most
100 ms (poll/epoll timeouts of normal-priority tasks, see select_estimate_accuracy
in the kernel's fs/select.c). Its derivation is in docs/decisions.md; it is never
widened to make a run pass. Reports draw the stored band; they never recompute it.
"""

from __future__ import annotations

from dataclasses import dataclass

# See docs/decisions.md, "Measurement slack".
SLACK_MS = 20.0
KERNEL_TIMER_SLACK = 0.001
KERNEL_TIMER_SLACK_MAX_MS = 100.0


def slack_ms(wait_ms: float = 0.0) -> float:
    """How far a measured wait of about `wait_ms` may sit from the truth."""
    return SLACK_MS + min(KERNEL_TIMER_SLACK * max(wait_ms, 0.0), KERNEL_TIMER_SLACK_MAX_MS)


@dataclass(frozen=True)
class Band:
    """The documented [low, high] and the slack judged on each side: a value
    conforms when it lies in [low - slack_low, high + slack_high]. `noise_ms` is
    the timing noise measured during the run (harness/noise.py): a value outside
    the band by less than that cannot be told from noise, and only a value beyond
    it deviates for sure."""

    low: float
    high: float
    slack_low: float
    slack_high: float
    noise_ms: float = 0.0

    @classmethod
    def around(cls, low: float, high: float, noise_ms: float = 0.0) -> Band:
        """The usual band: each edge widened by its own measurement slack."""
        return cls(low, high, slack_ms(low), slack_ms(high), noise_ms)

    @property
    def lo(self) -> float:
        return self.low - self.slack_low

    @property
    def hi(self) -> float:
        return self.high + self.slack_high

    def holds(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def outside(self, values: list[float]) -> list[float]:
        return [v for v in values if not self.holds(v)]

    def beyond_noise(self, values: list[float], noise_ms: list[float] | None = None) -> list[float]:
        """Values outside the band by more than the measured noise: sure deviations.
        `noise_ms`, one per value, is the noise measured near each (noise.Windows);
        without it every value is judged with the band's."""
        near = noise_ms or [self.noise_ms] * len(values)
        return [v for v, n in zip(values, near, strict=True) if not self.lo - n <= v <= self.hi + n]

    def to_json(self) -> dict:
        """What a check stores (results schema: check.band)."""
        return {
            "documented": [self.low, self.high],
            "lo": round(self.lo, 6),
            "hi": round(self.hi, 6),
            "slack_ms": [self.slack_low, self.slack_high],
            "noise_ms": self.noise_ms,
        }
