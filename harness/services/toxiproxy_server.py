"""The Toxiproxy server: start command and environment. Its log is the wire log."""

from __future__ import annotations

import os
from pathlib import Path

from harness import paths

# The harness's own build (harness/proxy), which stamps each log line in the proxy
# on the monotonic clock, then Toxiproxy's, whose lines are stamped as they are read
# (harness/wire.py): a set-up that has not built ours yet still runs.
BINARIES = ("toxiproxy-harness", "toxiproxy-server")


def binary() -> str:
    for name in BINARIES:
        entry = paths.installed(name)
        if entry and Path(entry["path"]).exists():
            return entry["path"]
    return paths.binary(BINARIES[-1])  # the environment error, naming the one a set-up always has


def argv(host: str, api_port: int) -> list[str]:
    return [binary(), "-host", host, "-port", str(api_port)]


def env() -> dict[str, str]:
    # Trace level is the level at which Toxiproxy logs each connection's end.
    return {**os.environ, "LOG_LEVEL": "trace"}
