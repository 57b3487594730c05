"""How late the compose backend's wire log stamps a connection: connect through a
proxy of a running nats-single project, wait for Toxiproxy's "Accepted client"
line, print the spread of its stamp minus the moment just before connect() (as
benchmarks/timing_fidelity.py measures the local backend), and p99. The images
built here stamp in the proxy, on the host's clock; the official image's lines
are stamped when they arrive through the engine's attach stream. Needs an engine (DOCKER_HOST) and, without a
registry, HARNESS_COMPOSE_FILES=compose.local.yaml.

    .venv/bin/python benchmarks/compose_wire_latency.py [COUNT]
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.backends import compose as backend
from harness.clock import now_ns
from harness.errors import HarnessError
from harness.topology import get


def accepted(live: backend.ComposeTopology) -> int:
    return sum(1 for e in live.wire_events(0) if e["kind"] == "conn_accepted")


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        live = backend.ComposeTopology.up(get("nats-single"), Path(work))
        try:
            host, port = live.url("n1-client").split("://")[1].rsplit(":", 1)
            delays = []
            for _ in range(count):
                seen = accepted(live)
                t0 = now_ns()
                with socket.create_connection((host, int(port))):
                    while accepted(live) <= seen:
                        time.sleep(0.0005)
                    stamp = [e for e in live.wire_events(0) if e["kind"] == "conn_accepted"][-1]["t_ns"]
                delays.append((stamp - t0) / 1e6)
                time.sleep(0.05)
        finally:
            live.down()
    delays.sort()
    print(
        f"wire stamp minus the moment before connect(), {count} connections: min {delays[0]:.2f} ms, "
        f"median {statistics.median(delays):.2f} ms, p90 {delays[int(0.9 * (count - 1))]:.2f} ms, "
        f"p99 {delays[int(0.99 * (count - 1))]:.2f} ms, max {delays[-1]:.2f} ms"
    )


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
    except (HarnessError, ValueError) as e:
        sys.exit(f"compose_wire_latency: {e}")
