from __future__ import annotations

from harness.faults.base import DROP_EXISTING, ToxicKind
from harness.faults.registry import register


@register
class Blackhole(ToxicKind):
    """blackhole: data stops and connections stay open (timeout toxic, timeout 0);
    with drop_existing, open connections close first."""

    name = "blackhole"
    toxic = "timeout"
    params = (DROP_EXISTING,)

    def attributes(self) -> dict:
        return {"timeout": 0}
