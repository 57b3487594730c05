from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import ServiceKind
from harness.faults.registry import register


@register
class Kill(ServiceKind):
    """kill: SIGKILL; at the end the service is started again (same ports) and is ready."""

    name = "kill"

    def apply(self, live: Live) -> None:
        live.kill(self.target)

    def revert(self, live: Live) -> None:
        live.start(self.target)

    def confirm_applied(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "stopped")

    def confirm_reverted(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "running")
