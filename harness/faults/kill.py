from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import Param, ServiceKind
from harness.faults.registry import register


@register
class Kill(ServiceKind):
    """kill: SIGKILL; at the end the service is started again (same ports) and is ready.
    restart=false: it stays down at the end (a primary whose backup took over: its
    restart would be a failback, which only a scenario that measures it should wait
    for); the next entry's reset starts it."""

    name = "kill"
    params = (Param("restart", bool, True),)

    def heals(self) -> bool:
        return bool(self.param("restart"))

    def apply(self, live: Live) -> None:
        live.kill(self.target)

    def revert(self, live: Live) -> None:
        if self.param("restart"):
            live.start(self.target)

    def confirm_applied(self, live: Live) -> str | None:
        return confirm.service_is(live, self.target, "stopped")

    def confirm_reverted(self, live: Live) -> str | None:
        if not self.param("restart"):
            return None
        return confirm.service_is(live, self.target, "running")
