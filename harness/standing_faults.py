"""Faults applied by hand to a standing topology (`harness fault`), and their log.

A fault outlives the command that applied it, so everything needed to revert it
in a later process is in the log: kind, target, params and its id (toxics are
named by the id, harness/faults/base.py). The log is a JSON Lines file in the
topology's work folder, one line per action, each stamped on the shared clock
(harness/clock.py) as a scenario's FaultLog stamps its faults:

    {"action": "apply", "id": 1, "kind": "refuse", "target": "n1-client", "params": {},
     "lasting": true, "start_ns": ..., "applied_ns": ..., "end_ns": null}
    {"action": "revert", "id": 1, "kind": "refuse", ..., "end_ns": ..., "reverted_ns": ...}

An action that was not confirmed carries "error" and no applied_ns/reverted_ns; a
fault is on from a confirmed apply (of a lasting kind) until a confirmed revert.
Commands on one topology take a lock on its log, so two never interleave. Each line
also carries "logged_ns" and "logged_at" (the monotonic and the UTC wall-clock time
it was written), so that its stamps can be shown as times of day later, after a
reboot too (`history`; `harness status NAME`, `harness report reports/up/NAME`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.backends.local import LocalTopology
from harness.clock import now_ns
from harness.errors import EnvironmentFault, UsageError
from harness.faults import Fault, FaultLog, registry

FILENAME = "faults.jsonl"
_INT = re.compile(r"-?\d+")
_MS = re.compile(r"\d+ms")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)")


def path(live: LocalTopology) -> Path:
    return live.workdir / FILENAME


def parse_params(words: list[str], kind: str | None = None) -> dict:
    """name=value words into a table: numbers and true/false as such, the rest as text.
    The fault kind's schema then judges them (Fault raises UsageError). A bare
    duration ("latency 500ms") is the kind's one required *_ms parameter."""
    out: dict = {}
    for word in words:
        name, eq, raw = word.partition("=")
        if not eq and _MS.fullmatch(word) and (short := _short_ms(kind)):
            name, raw = short, word[:-2]
        elif not eq or not name:
            raise UsageError(f"fault parameter {word!r} is not name=value", "e.g. latency_ms=500")
        value: object = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif _INT.fullmatch(raw):
            value = int(raw)
        elif _FLOAT.fullmatch(raw):
            value = float(raw)
        out[name] = value
    return out


def _short_ms(kind: str | None) -> str | None:
    cls = registry.KINDS.get(kind) if kind else None
    ms = [p.name for p in cls.schema() if p.required and p.name.endswith("_ms")] if cls else []
    return ms[0] if len(ms) == 1 else None


def entries(log: Path) -> list[dict]:
    try:
        text = log.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def faults_on(log: Path) -> list[dict]:
    """The confirmed, lasting faults not yet confirmed reverted, in the order applied.
    One whose revert failed part way carries "revert_failed"."""
    on: dict[int, dict] = {}
    for e in entries(log):
        if e["action"] == "apply" and e.get("lasting") and "error" not in e:
            on[e["id"]] = e
        elif e["action"] == "revert" and "error" not in e:
            on.pop(e["id"], None)
        elif e["action"] == "revert" and e["id"] in on:
            on[e["id"]] = {**on[e["id"]], "revert_failed": True}
    return list(on.values())


@contextlib.contextmanager
def _locked(log: Path) -> Iterator[None]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append(log: Path, line: dict) -> None:
    stamped = {**line, "logged_ns": now_ns(), "logged_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
    with open(log, "a") as f:
        f.write(json.dumps(stamped) + "\n")


def _wall(line: dict, t_ns: int) -> datetime:
    """The time of day of a monotonic stamp of `line`: from the wall-clock time the line
    was written, else (a line of an older harness) from now, which holds until a reboot."""
    if "logged_at" in line and "logged_ns" in line:
        return datetime.fromisoformat(line["logged_at"]) - timedelta(microseconds=(line["logged_ns"] - t_ns) / 1e3)
    return datetime.now(UTC) - timedelta(microseconds=(now_ns() - t_ns) / 1e3)


def history(log: Path) -> list[dict]:
    """Every action of the log, in order, with `at`: when it was asked for (UTC, ISO
    8601), `took_ms`: until it was confirmed (None if it was not), and for a revert
    `on_ms`: how long the fault had been on."""
    applied = {}
    out = []
    for e in entries(log):
        start = e.get("start_ns" if e["action"] == "apply" else "end_ns") or e.get("logged_ns") or now_ns()
        done = e.get("applied_ns" if e["action"] == "apply" else "reverted_ns")
        row = {
            **e,
            "at": _wall(e, start).isoformat(timespec="milliseconds"),
            "took_ms": round((done - start) / 1e6, 3) if done is not None else None,
        }
        if e["action"] == "apply" and "error" not in e:
            applied[e["id"]] = e
        elif e["action"] == "revert" and e["id"] in applied:
            row["on_ms"] = round((start - applied[e["id"]]["applied_ns"]) / 1e6, 3)
        out.append(row)
    return out


def render_history(rows: list[dict]) -> list[str]:
    """The fault log for a person: one line per action, its time of day first."""
    lines = []
    for r in rows:
        when = datetime.fromisoformat(r["at"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        what = f"#{r['id']} {r['action']} {r['kind']} {r['target']} {params}".rstrip()
        if "error" in r:
            how = f"NOT confirmed: {r['error']}"
        elif r["action"] == "apply":
            how = f"confirmed in {r['took_ms']:g} ms" + ("" if r.get("lasting") else ", over once applied")
        else:
            how = f"confirmed in {r['took_ms']:g} ms" + (f", on for {r['on_ms'] / 1000:.1f} s" if "on_ms" in r else "")
        lines.append(f"{when}  {what}: {how}")
    return lines


def _check_target(live: LocalTopology, fault: Fault) -> None:
    """The target names what the topology has, before anything is done."""
    topo = live.topology
    if fault.action.scope == "service":
        topo.service(fault.target)
        state = live.service_state(fault.target)
        if state != "running":
            raise UsageError(f"{fault.target} is {state}", f"heal it first: `harness fault {live.name} heal`")
    elif fault.kind == "partition":
        fault.action.links(live)  # checks the groups and their services
    else:
        for link in fault.target.split(","):
            topo.link(link)


def apply(live: LocalTopology, kind: str, target: str, params: dict) -> dict:
    """Apply one fault, confirmed, and leave it on; its log line."""
    log = path(live)
    with _locked(log):
        fault = Fault(kind, target, params, id=max((e["id"] for e in entries(log)), default=0) + 1)
        _check_target(live, fault)
        faults = FaultLog()
        line = {"action": "apply", "id": fault.id, **fault.describe(), "lasting": fault.lasting}
        try:
            rec = faults.begin(fault, live)
        except EnvironmentFault as e:
            _append(log, {**line, **faults.records[-1], "error": e.line()})
            raise
        _append(log, {**line, **rec})
        return {**line, **rec}


def matches(fault: dict, target: str | None) -> bool:
    """`target` is the fault's target or one of the links or services it names."""
    return target is None or fault["target"] == target or target in re.split(r"[|,]", fault["target"])


def _heal_order(on: list[dict]) -> list[dict]:
    """Links before services, each the latest first: a killed server comes back ready
    only once the routes to its peers are open again."""
    latest_first = list(reversed(on))
    return sorted(latest_first, key=lambda f: registry.KINDS[f["kind"]].scope != "link")


def heal(live: LocalTopology, target: str | None = None) -> list[dict]:
    """Revert, confirmed, every fault still on (or those on `target`); their log lines.
    Every one is tried; the first that was not reverted is raised after the others."""
    log = path(live)
    done, failed = [], []
    with _locked(log):
        for on in _heal_order([f for f in faults_on(log) if matches(f, target)]):
            fault = Fault(on["kind"], on["target"], on["params"], id=on["id"])
            rec = {"start_ns": on["start_ns"], "end_ns": None}
            line = {"action": "revert", "id": fault.id, **fault.describe()}
            try:
                if on.get("revert_failed") and not fault.action.confirm_reverted(live):
                    # An earlier heal did it but could not confirm it in time: confirm only.
                    rec["end_ns"] = now_ns()
                    rec["reverted_ns"] = now_ns()
                else:
                    FaultLog().end(fault, rec, live)
            except EnvironmentFault as e:
                _append(log, {**line, "end_ns": rec["end_ns"], "error": e.line()})
                failed.append(e)
                continue
            _append(log, {**line, "end_ns": rec["end_ns"], "reverted_ns": rec["reverted_ns"]})
            done.append({**line, **rec})
    if failed:
        raise failed[0]
    return done


def forget(live: LocalTopology) -> None:
    """A fresh log for a topology brought up again under a name used before."""
    path(live).unlink(missing_ok=True)
