from __future__ import annotations

from harness.faults.base import DROP_EXISTING, Param, ToxicKind
from harness.faults.registry import register


@register
class Slicer(ToxicKind):
    """slicer: data cut into small pieces (average_size bytes, give or take size_variation)
    with a delay (delay_us) between them."""

    name = "slicer"
    toxic = "slicer"
    params = (
        Param("average_size", int, 1),
        Param("size_variation", int, 0),
        Param("delay_us", int, 1000),
        DROP_EXISTING,
    )

    def attributes(self) -> dict:
        return {
            "average_size": self.param("average_size"),
            "size_variation": self.param("size_variation"),
            "delay": self.param("delay_us"),
        }
