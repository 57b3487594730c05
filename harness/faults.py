"""Faults: actions on a link (through Toxiproxy) or on a service (through the
backend), each with a start and an end stamped on the shared clock.

Link faults and what a client sees:
  refuse      the proxy is disabled: open connections close, new ones are refused
  reset       open connections close; each new one is accepted, then reset (RST)
              as soon as data flows
  blackhole   data stops and connections stay open (timeout toxic, timeout 0);
              with drop_existing, open connections close first
  latency     delay (ms) with jitter (ms)
  bandwidth   rate limit (KB/s)
  slicer      data cut into small pieces with a delay between them
  limit_data  the connection is closed after `bytes` bytes
  partition   every route link between two groups of services is disabled
Service faults:
  kill        SIGKILL; at the end the service is started again (same ports)
  pause       SIGSTOP, then SIGCONT
  restart     SIGTERM and start again (instantaneous)
  isolate     the service's container leaves its network, then rejoins: a real
              partition, below the proxies (compose backend only)

`stream` picks the direction where it applies: upstream (client to server),
downstream (server to client) or both. A link fault may name several links
("n1-client,n2-client"): they are cut together, the ones carrying open
connections last, so no client slips through a link about to be cut.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.backends import Live
from harness.clock import now_ns
from harness.errors import UsageError
from harness.wire import open_connections

LINK_KINDS = ("refuse", "reset", "blackhole", "latency", "bandwidth", "slicer", "limit_data", "partition")
SERVICE_KINDS = ("kill", "pause", "restart", "isolate")
STREAMS = {"upstream": ("upstream",), "downstream": ("downstream",), "both": ("upstream", "downstream")}
_ids = itertools.count(1)


@dataclass
class Fault:
    kind: str
    target: str
    params: dict = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if not isinstance(self.params, dict):
            raise UsageError(f"fault {self.kind!r}: params must be a table, not {self.params!r}")
        if self.kind not in LINK_KINDS + SERVICE_KINDS:
            raise UsageError(
                f"unknown fault kind {self.kind!r}", f"choose one of: {', '.join(LINK_KINDS + SERVICE_KINDS)}"
            )
        needs = {"latency": "latency_ms", "bandwidth": "rate_kbps", "limit_data": "bytes"}.get(self.kind)
        if needs and needs not in self.params:
            raise UsageError(f"fault {self.kind} needs the parameter {needs}")
        stream = self.params.get("stream", "both")
        if not isinstance(stream, str) or stream not in STREAMS:  # an unhashable value is no stream either
            raise UsageError(f"fault {self.kind}: stream must be one of {', '.join(STREAMS)}, not {stream!r}")

    def describe(self) -> dict:
        return {"kind": self.kind, "target": self.target, "params": dict(self.params)}

    def _toxic(self, stream: str) -> str:
        return f"{self.kind}-{self.id}-{stream}"

    def _streams(self) -> tuple[str, ...]:
        return STREAMS[self.params.get("stream", "both")]

    def _partition_links(self, live: Live) -> list[str]:
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

    def _links(self, live: Live) -> list[str]:
        """The target links, those carrying open connections last: cut together,
        a client dropped from one link must not slip through another that is
        about to be cut."""
        links = self.target.split(",")
        for name in links:
            live.topology.link(name)
        busy = open_connections(live.wire_events(0))
        return sorted(links, key=lambda name: busy.get(name, 0) > 0)

    def _apply_link(self, live: Live, link: str) -> None:
        k, p = self.kind, self.params
        if k == "refuse":
            live.toxiproxy.set_enabled(link, False)
            return
        attributes = {
            "reset": ("reset_peer", {"timeout": p.get("timeout_ms", 0)}),
            "blackhole": ("timeout", {"timeout": 0}),
            "latency": ("latency", {"latency": p.get("latency_ms", 0), "jitter": p.get("jitter_ms", 0)}),
            "bandwidth": ("bandwidth", {"rate": p.get("rate_kbps", 0)}),
            "slicer": (
                "slicer",
                {
                    "average_size": p.get("average_size", 1),
                    "size_variation": p.get("size_variation", 0),
                    "delay": p.get("delay_us", 1000),
                },
            ),
            "limit_data": ("limit_data", {"bytes": p.get("bytes", 0)}),
        }[k]
        for s in self._streams():
            live.toxiproxy.add_toxic(link, self._toxic(s), attributes[0], s, attributes[1])
        if p.get("drop_existing", k == "reset"):
            # Toxiproxy closes every open connection of a proxy when it is disabled.
            live.toxiproxy.set_enabled(link, False)
            live.toxiproxy.set_enabled(link, True)

    def apply(self, live: Live) -> None:
        k = self.kind
        if k in LINK_KINDS and k != "partition":
            for link in self._links(live):
                self._apply_link(live, link)
        elif k == "partition":
            for name in self._partition_links(live):
                live.toxiproxy.set_enabled(name, False)
        elif k == "kill":
            live.kill(self.target)
        elif k == "pause":
            live.pause(self.target)
        elif k == "restart":
            live.stop(self.target)
            live.start(self.target)
        elif k == "isolate":
            live.disconnect(self.target)

    def revert(self, live: Live) -> None:
        k = self.kind
        if k == "refuse":
            for link in self.target.split(","):
                live.toxiproxy.set_enabled(link, True)
        elif k in LINK_KINDS and k != "partition":
            for link in self.target.split(","):
                for s in self._streams():
                    live.toxiproxy.remove_toxic(link, self._toxic(s))
        elif k == "partition":
            for name in self._partition_links(live):
                live.toxiproxy.set_enabled(name, True)
        elif k == "kill":
            live.start(self.target)
        elif k == "pause":
            live.resume(self.target)
        elif k == "isolate":
            live.reconnect(self.target)


@dataclass
class FaultLog:
    """Every fault of a run with its start and end on the shared clock."""

    records: list[dict] = field(default_factory=list)

    def begin(self, fault: Fault, live: Live) -> dict:
        rec = {**fault.describe(), "start_ns": now_ns(), "end_ns": None}
        fault.apply(live)
        rec["applied_ns"] = now_ns()
        if fault.kind == "restart":
            rec["end_ns"] = rec["applied_ns"]
        self.records.append(rec)
        return rec

    def end(self, fault: Fault, rec: dict, live: Live) -> None:
        if rec["end_ns"] is not None:
            return
        rec["end_ns"] = now_ns()
        fault.revert(live)
        rec["reverted_ns"] = now_ns()
