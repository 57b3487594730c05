from __future__ import annotations

from harness.faults.base import Param, ToxicKind
from harness.faults.registry import register


@register
class Reset(ToxicKind):
    """reset: open connections close; each new one is accepted, then reset (RST)
    as soon as data flows (reset_peer toxic, after timeout_ms). drop_existing defaults to true."""

    name = "reset"
    toxic = "reset_peer"
    params = (Param("timeout_ms", int, 0), Param("drop_existing", bool, True))

    def attributes(self) -> dict:
        return {"timeout": self.param("timeout_ms")}
