"""How many connections this machine can hold for a storm scenario, checked
before anything starts.

A storm of N connections through Toxiproxy opens N sockets in the driver, 2N in
the proxy (one each side) and N in the server, and every client socket takes an
ephemeral port. Each process inherits the harness's RLIMIT_NOFILE, so the soft
limit is raised to the hard one when N needs it; beyond the hard limit, or beyond
the ephemeral port range, the run is refused in one line (exit 2).
"""

from __future__ import annotations

import resource
from pathlib import Path

from harness.errors import UsageError

# N connections per family when --connections is not given (issue 16).
DEFAULT_CONNECTIONS = {"nats": 1000, "amqp": 200}
# Descriptors a process needs besides the storm's sockets: logs, pipes, the witness.
SPARE_FDS = 256
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def default_connections(family: str) -> int:
    return DEFAULT_CONNECTIONS.get(family, 1)


def fds_needed(n: int) -> int:
    """The most one process holds: the proxy, a socket on each side per connection."""
    return 2 * n + SPARE_FDS


def ephemeral_ports() -> int | None:
    """How many ephemeral ports the kernel hands out, or None where it does not say."""
    try:
        low, high = (int(x) for x in PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return None
    return high - low + 1


def check_connections(n: int) -> None:
    """Refuse `n` connections if the machine cannot hold them; raise the soft
    NOFILE limit to the hard one if that is what it takes."""
    if n < 1:
        raise UsageError(f"--connections must be at least 1, not {n}")
    need = fds_needed(n)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and need > hard:
        raise UsageError(
            f"--connections {n} needs {need} open files per process, beyond this machine's hard "
            f"RLIMIT_NOFILE of {hard} (ulimit -Hn)"
        )
    if soft != resource.RLIM_INFINITY and need > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ports = ephemeral_ports()
    # A client socket to the proxy and the proxy's socket to the server each take one.
    if ports is not None and 2 * n > ports:
        raise UsageError(
            f"--connections {n} needs {2 * n} ephemeral ports, beyond this machine's {ports} "
            f"({PORT_RANGE}: {PORT_RANGE.read_text().strip()})"
        )
