"""Faults: actions on a link (through Toxiproxy) or on a service (through the
backend), each with a start and an end stamped on the shared clock.

Each kind is one small class in its own module of this package (refuse.py,
latency.py, kill.py, ...), registered by name (registry.py). The class declares
its parameters as its schema, says in its docstring what a client sees, and
applies, reverts and confirms itself: an action counts as done only once the
proxy's or the service's real state shows it (confirm.py), else it is an
EnvironmentFault, never a verdict.

`stream` picks the direction where it applies: upstream (client to server),
downstream (server to client) or both. A link fault may name several links
("n1-client,n2-client"): they are cut together, the ones carrying open
connections last, so no client slips through a link about to be cut.
"""

from __future__ import annotations

from harness.faults import registry
from harness.faults.base import STREAMS
from harness.faults.fault import Fault, FaultLog

registry.load()
LINK_KINDS = registry.names("link")
SERVICE_KINDS = registry.names("service")

__all__ = ["LINK_KINDS", "SERVICE_KINDS", "STREAMS", "Fault", "FaultLog"]
