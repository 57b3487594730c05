from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import ServiceKind
from harness.faults.registry import register


@register
class Restart(ServiceKind):
    """restart: SIGTERM and start again, ready (instantaneous: over once applied)."""

    name = "restart"
    lasting = False

    def apply(self, live: Live) -> None:
        live.stop(self.target)
        live.start(self.target)

    def revert(self, live: Live) -> None:
        pass  # nothing to undo

    def confirm_applied(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "running")

    def confirm_reverted(self, live: Live) -> str | None:
        return None
