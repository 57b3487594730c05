from __future__ import annotations

from harness.faults.base import DROP_EXISTING, Param, ToxicKind
from harness.faults.registry import register


@register
class Bandwidth(ToxicKind):
    """bandwidth: rate limit (rate_kbps, KB/s)."""

    name = "bandwidth"
    toxic = "bandwidth"
    params = (Param("rate_kbps", int), DROP_EXISTING)

    def attributes(self) -> dict:
        return {"rate": self.param("rate_kbps")}
