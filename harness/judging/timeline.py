"""The timeline: driver events, the fault log and the wire log merged on one clock.

Built once per scenario run from what the run recorded; everything after it
(metrics, checks, reports) reads only this.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness import wire as wire_log


def merge(client: Iterable[dict], wire: Iterable[dict], faults: list[dict], marks: Iterable[dict]) -> list[dict]:
    events = list(client)
    events += [{**e, "source": "proxy", "actor": e.get("link") or wire_log.ACTOR} for e in wire]
    for f in faults:
        base = {"source": "harness", "actor": "harness", "fault": f["kind"], "target": f["target"]}
        events.append({**base, "t_ns": f["start_ns"], "kind": "fault_start"})
        if f["end_ns"] is not None:
            events.append({**base, "t_ns": f["end_ns"], "kind": "fault_end"})
    events += [{**m, "source": "harness", "actor": "harness"} for m in marks]
    # Stable: events with the same stamp keep their source order.
    return sorted(events, key=lambda e: e["t_ns"])


class Timeline:
    def __init__(self, events: list[dict], faults: list[dict], t0_ns: int, t1_ns: int) -> None:
        self.events = events
        self.faults = faults
        self.t0_ns = t0_ns
        self.t1_ns = t1_ns

    def select(
        self,
        *,
        actor: str | None = None,
        kind: str | Iterable[str] | None = None,
        source: str | None = None,
        link: str | Iterable[str] | None = None,
        after: int | None = None,
        before: int | None = None,
    ) -> list[dict]:
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
        links = {link} if isinstance(link, str) else set(link) if link is not None else None
        return [
            e
            for e in self.events
            if (actor is None or e.get("actor") == actor)
            and (kinds is None or e["kind"] in kinds)
            and (source is None or e["source"] == source)
            and (links is None or e.get("link") in links)
            and (after is None or e["t_ns"] >= after)
            and (before is None or e["t_ns"] <= before)
        ]

    def first(self, **kw) -> dict | None:
        found = self.select(**kw)
        return found[0] if found else None

    def fault(self, kind: str | None = None, target: str | None = None) -> dict | None:
        for f in self.faults:
            if (kind is None or f["kind"] == kind) and (target is None or f["target"] == target):
                return f
        return None

    def marks(self, label: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == "mark" and e.get("label") == label]

    def rel_ms(self, t_ns: int) -> float:
        return round((t_ns - self.t0_ns) / 1e6, 3)
