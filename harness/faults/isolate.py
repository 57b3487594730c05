from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import ServiceKind
from harness.faults.registry import register


@register
class Isolate(ServiceKind):
    """isolate: the service's container leaves its network, then rejoins: a real
    partition, below the proxies (compose backend only)."""

    name = "isolate"

    def apply(self, live: Live) -> None:
        live.disconnect(self.target)

    def revert(self, live: Live) -> None:
        live.reconnect(self.target)

    def confirm_applied(self, live: Live) -> str | None:
        return confirm.isolation_is(live, self.target, True)

    def confirm_reverted(self, live: Live) -> str | None:
        return confirm.isolation_is(live, self.target, False)
