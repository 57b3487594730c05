"""Standing topologies: those `harness up` started and left running, each under a name.

A standing topology is known by its detached process record (harness/procs.py,
keyed by its name), which holds its ports, its addresses and the pids of its
processes. Any later `harness` process adopts it from there (LocalTopology.adopt)
to fault, inspect or stop it; what it shows is read live, from Toxiproxy's API and
from the processes themselves, the record only says where to look.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from collections.abc import Iterator

from harness import ports, procs
from harness.backends.local import LocalTopology
from harness.errors import EnvironmentFault, UsageError
from harness.services import KINDS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_name(name: str) -> str:
    """A name is one simple word (it names a file and a folder): letters, digits, _ . -"""
    if not _NAME.fullmatch(name) or ".." in name:
        raise UsageError(
            f"the name {name!r} is not a simple word", "use letters, digits, '_', '-' or '.', e.g. --name outage-42"
        )
    return name


def _alive(record: dict) -> bool:
    return any(ports.process_start_time(p["pid"]) == p["start"] for p in record["procs"])


def names() -> list[str]:
    """The names of the standing topologies, sorted. A record whose processes are all
    gone (the machine or a person killed them) is dropped here, its ports released."""
    out = []
    for rec in procs.detached_records():
        name = rec.get("info", {}).get("name")
        if name is None:
            continue  # a record of an older harness: `harness down` stops it
        if _alive(rec):
            out.append(name)
        else:
            ports.release(rec["info"].get("ports", []))
            procs.drop_detached(name)
    return sorted(out)


@contextlib.contextmanager
def claimed(name: str) -> Iterator[None]:
    """Hold `name` while a topology comes up under it: two `harness up --name x` at once
    must not both start (the second's record would hide the first's processes)."""
    procs.RECORDS.mkdir(parents=True, exist_ok=True)
    with open(procs.RECORDS / f"up-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if name in names():
                raise UsageError(f"a topology named {name} is already running", f"run `harness down {name}` first")
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def adopt(name: str) -> LocalTopology:
    """The standing topology `name`; UsageError if none runs under that name."""
    running = names()
    record = procs.detached_record(name) if name in running else None
    if record is None:
        raise UsageError(
            f"no topology named {name!r} is running",
            f"running: {', '.join(running)}" if running else "start one with `harness up --name NAME`",
        )
    return LocalTopology.adopt(record)


def stop(name: str) -> int:
    """Stop the standing topology `name`, release its ports; how many processes ran."""
    live = adopt(name)
    count = sum(1 for p in [live.proxy_proc, *live.services.values()] if p is not None and p.alive())
    live.down()
    procs.drop_detached(name)
    return count


def status(live: LocalTopology) -> dict:
    """What runs, read live: each link from Toxiproxy's API, each service from its process."""
    info = (procs.detached_record(live.name) or {}).get("info", {})
    api = f"http://{live.addrs.host}:{live.addrs.api}"
    out: dict = {
        "name": live.name,
        "topology": live.topology.name,
        "backend": live.backend,
        "since": info.get("since"),
        "workdir": str(live.workdir),
        "toxiproxy": {"api": api, "pid": live.proxy_proc.pid if live.proxy_proc else None},
        "links": [],
        "services": [],
    }
    try:
        proxies = live.toxiproxy.proxies()
        out["toxiproxy"].update(state="running", version=live.toxiproxy.version())
    except EnvironmentFault as e:
        proxies = {}
        out["toxiproxy"].update(state="not answering", error=e.line())
    for link in live.topology.links:
        p = proxies.get(link.name)
        out["links"].append(
            {
                "name": link.name,
                "role": link.role,
                "listen": p["listen"] if p else live.addrs.link(link.name),
                "upstream": p["upstream"] if p else None,
                "state": ("enabled" if p["enabled"] else "disabled") if p else "unknown",
                "toxics": live.toxiproxy.toxic_details(link.name) if p else [],
            }
        )
    for svc in live.topology.services:
        state = live.service_state(svc.name)
        mod = KINDS[svc.kind]
        out["services"].append(
            {
                "name": svc.name,
                "kind": svc.kind,
                "pid": live.services[svc.name].pid if state != "stopped" else None,
                "ports": {port: live.addrs.services[(svc.name, port)] for port in svc.ports},
                "state": state,
                "version": mod.version(svc, live.addrs, live.workdir) if state == "running" else None,
            }
        )
    return out


def render(st: dict, faults_on: list[dict], history: list[str] | None = None) -> str:
    """One standing topology's status, for a person."""
    tp = st["toxiproxy"]
    lines = [
        f"{st['name']}: topology {st['topology']}, {st['backend']} backend, up since {st['since']}",
        f"  toxiproxy API {tp['api']} (pid {tp['pid']}, {tp['state']})",
        "  links:",
    ]
    for x in st["links"]:
        toxics = ", ".join(f"{t['name']} {t['type']} {t['attributes']}" for t in x["toxics"])
        lines.append(
            f"    {x['name']:<14} {x['role']:<9} {x['listen']:<21} -> {x['upstream'] or '?':<21} {x['state']}"
            + (f"; toxics: {toxics}" if toxics else "")
        )
    lines.append("  services:")
    for s in st["services"]:
        port_list = " ".join(f"{k}={v}" for k, v in s["ports"].items())
        lines.append(
            f"    {s['name']:<14} {s['kind']:<12} pid {s['pid'] or '-':<8} {s['state']:<8} "
            f"{s['version'] or '':<8} {port_list}"
        )
    lines.append("  faults on:" + ("" if faults_on else " none"))
    for f in faults_on:
        params = " ".join(f"{k}={v}" for k, v in f["params"].items())
        lines.append(f"    #{f['id']} {f['kind']} {f['target']} {params}".rstrip())
    if history:
        lines.append("  fault log:")
        lines += [f"    {x}" for x in history]
    lines.append(f"  logs and configs in {st['workdir']}")
    return "\n".join(lines)
