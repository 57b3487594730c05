"""toxiproxy-server: start command and environment. Its log is the wire log."""

from __future__ import annotations

import os

from harness import paths

BINARY = "toxiproxy-server"


def argv(host: str, api_port: int) -> list[str]:
    return [paths.binary(BINARY), "-host", host, "-port", str(api_port)]


def env() -> dict[str, str]:
    # Trace level is the level at which Toxiproxy logs each connection's end.
    return {**os.environ, "LOG_LEVEL": "trace"}
