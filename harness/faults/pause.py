from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import ServiceKind
from harness.faults.registry import register


@register
class Pause(ServiceKind):
    """pause: SIGSTOP (every thread stopped), then SIGCONT."""

    name = "pause"

    def apply(self, live: Live) -> None:
        live.pause(self.target)

    def revert(self, live: Live) -> None:
        live.resume(self.target)

    def confirm_applied(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "paused")

    def confirm_reverted(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "running")
