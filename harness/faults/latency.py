from __future__ import annotations

from harness.faults.base import DROP_EXISTING, Param, ToxicKind
from harness.faults.registry import register


@register
class Latency(ToxicKind):
    """latency: delay (latency_ms) with jitter (jitter_ms)."""

    name = "latency"
    toxic = "latency"
    params = (Param("latency_ms", int), Param("jitter_ms", int, 0), DROP_EXISTING)

    def attributes(self) -> dict:
        return {"latency": self.param("latency_ms"), "jitter": self.param("jitter_ms")}
