from __future__ import annotations

from harness.backends import Live
from harness.faults import confirm
from harness.faults.base import LinkKind
from harness.faults.registry import register


@register
class Refuse(LinkKind):
    """refuse: the proxy is disabled: open connections close, new ones are refused."""

    name = "refuse"

    def apply_link(self, live: Live, link: str) -> None:
        live.toxiproxy.set_enabled(link, False)

    def revert_link(self, live: Live, link: str) -> None:
        live.toxiproxy.set_enabled(link, True)

    def link_applied(self, live: Live, link: str) -> str | None:
        return confirm.proxy_closed(live, link)

    def link_reverted(self, live: Live, link: str) -> str | None:
        return confirm.proxy_open(live, link)
