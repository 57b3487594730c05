"""Replay bundles: what it takes to run one scenario x client again, exactly.

Every entry's work folder gets a replay.json (harness/contracts/replay.schema.json,
described in docs/results-schema.md): the scenario, the client, the seed, the
user's options, the backend, the versions of everything that ran, the faults and
schedules as they were played, and the verdicts. `harness replay FOLDER` checks
the versions against what is installed (and says so before running when they
differ), runs the scenario again with the same seed and options, and says whether
the verdicts agree.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import __version__, paths
from harness.contracts import problems, read_json
from harness.drivers import registry
from harness.errors import UsageError

FORMAT = "fault-harness/replay"
VERSION = 1
FILENAME = "replay.json"
# Server binaries the set-up installs, by the name their versions carry in results.
SERVERS = {"nats-server": "nats-server", "toxiproxy": "toxiproxy-server", "artemis": "artemis"}


def bundle(entry: dict, backend: str, user_options: dict) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "scenario": entry["scenario"],
        "client": entry["client"],
        "seed": entry["seed"],
        "backend": backend,
        "options": user_options,
        "versions": {
            "harness": __version__,
            "client": {"library": entry["library"], "version": entry["client_version"]},
            "servers": entry["server_versions"],
        },
        "actors": entry["actors"],
        "faults": entry["faults"],
        "schedules": entry["schedules"],
        "status": entry["status"],
        "verdicts": {c["id"]: c["verdict"] for c in entry["checks"]},
    }


def write(entry: dict, backend: str, user_options: dict, workdir: Path) -> Path:
    data = bundle(entry, backend, user_options)
    bad = problems("replay", data)
    if bad:
        raise AssertionError(f"harness bug: replay bundle breaks its schema: {bad[0]}")
    path = workdir / FILENAME
    path.write_text(json.dumps(data, indent=1))
    return path


def load(path: Path) -> dict:
    """A bundle from its folder or file, or one line naming the file and the problem."""
    path, data = read_json(
        path, FILENAME, "replay bundle", "no replay bundle here", "give a run's work/<scenario>--<client> folder"
    )
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path}: not a replay bundle")
    if data.get("version") != VERSION:
        raise UsageError(
            f"{path}: replay bundle version {data.get('version')} is not supported "
            f"(this harness reads version {VERSION})"
        )
    bad = problems("replay", data)
    if bad:
        raise UsageError(f"{path}: replay bundle is corrupt ({bad[0]})")
    return data


def version_differences(data: dict) -> list[str]:
    """What installed now differs from what the recorded run used."""
    out = []
    if data["versions"]["harness"] != __version__:
        out.append(f"harness {data['versions']['harness']} -> {__version__}")
    desc = registry.describe(registry.get(data["client"]))
    recorded = data["versions"]["client"]
    if desc["library_version"] != recorded["version"]:
        out.append(f"{recorded['library']} {recorded['version']} -> {desc['library_version']}")
    for name, version in data["versions"]["servers"].items():
        now = paths.binary_version(SERVERS[name]) if name in SERVERS else None
        if now not in (None, "unknown") and now.lstrip("v") != str(version).lstrip("v"):
            out.append(f"{name} {version} -> {now}")
    return out


def agreement(data: dict, entry: dict) -> list[str]:
    """Verdicts of the replay that differ from the recorded ones (empty: they agree)."""
    if entry["status"] != data["status"]:
        return [f"status {data['status']} -> {entry['status']}" + (f" ({entry['error']})" if entry["error"] else "")]
    now = {c["id"]: c["verdict"] for c in entry["checks"]}
    before = data["verdicts"]
    return [
        f"{cid}: {before.get(cid, 'absent')} -> {now.get(cid, 'absent')}"
        for cid in sorted(set(before) | set(now))
        if before.get(cid) != now.get(cid)
    ]
