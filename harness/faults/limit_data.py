from __future__ import annotations

from harness.faults.base import DROP_EXISTING, Param, ToxicKind
from harness.faults.registry import register


@register
class LimitData(ToxicKind):
    """limit_data: the connection is closed after `bytes` bytes."""

    name = "limit_data"
    toxic = "limit_data"
    params = (Param("bytes", int), DROP_EXISTING)

    def attributes(self) -> dict:
        return {"bytes": self.param("bytes")}
