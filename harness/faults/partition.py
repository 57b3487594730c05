from __future__ import annotations

from harness.backends import Live
from harness.errors import UsageError
from harness.faults.refuse import Refuse
from harness.faults.registry import register


@register
class Partition(Refuse):
    """partition: every route link between two groups of services ("n1|n2,n3") is
    disabled, as refuse disables a link."""

    name = "partition"

    def links(self, live: Live) -> list[str]:
        groups = [set(g.split(",")) for g in self.target.split("|")]
        if len(groups) != 2 or not all(groups):
            raise UsageError(f"partition target {self.target!r} must look like 'n1|n2,n3'")
        a, b = groups
        for name in a | b:
            live.topology.service(name)
        return [
            x.name
            for x in live.topology.links
            if x.role == "route" and ((x.origin in a and x.to in b) or (x.origin in b and x.to in a))
        ]

    def reverted_links(self, live: Live) -> list[str]:
        return self.links(live)
