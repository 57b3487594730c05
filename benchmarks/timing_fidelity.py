"""How far the wire log's accept stamps are from the truth, on a loaded machine.

Each instance is what one harness job runs on the wire side: a Toxiproxy server
(the one the harness runs, services/toxiproxy_server.py) whose stdout a WireLog
thread reads. A reference client (a process of its own, as a driver is) connects
through its proxy at moments it picks, stamping the clock just before connect()
and just after it returns; on loopback
the kernel completes the handshake, i.e. queues the connection for accept, inside
that window. Each accept is then matched by client port to the wire log, which
gives two stamps per connection: the proxy's own (mono_ns, written by
toxiproxy-harness as it logs the accept; the new path) and the one taken when the
harness read the line (the old path, and all there is for toxiproxy-server).

Printed per path, for 1, 4, 8 and 16 instances side by side, under three loads:
none; a busy thread in each instance's Python process (a harness job's own work,
parsing driver output and judging, holds the GIL the WireLog thread needs); and
that plus a busy-loop process per core. Figures: median, p99 and max of wire
stamp minus connect() start, and of wire stamp minus connect() return.

    .venv/bin/python benchmarks/timing_fidelity.py [CONNECTIONS_PER_INSTANCE]
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hog import cpu_hog  # benchmarks/, this script's folder

from harness import ports, procs
from harness.clock import now_ns
from harness.errors import HarnessError
from harness.services import toxiproxy_server
from harness.toxiproxy import ToxiproxyClient
from harness.wire import WireLog

HOST = "127.0.0.1"
INSTANCES = (1, 4, 8, 16)
GAP_S = (0.01, 0.04)  # between one instance's connections, picked at random
BUSY_S = 0.002  # the busy thread's work between two 1 ms sleeps
LOADS = (("idle", False, False), ("busy harness", True, False), ("busy + cpu hog", True, True))
WAIT_S = 60  # for a loaded machine to start a server and log every accept


def busy_thread() -> None:
    """Pure-Python work in this process, as a job's harness thread does between sleeps."""

    def work() -> None:
        while True:
            end = time.perf_counter() + BUSY_S
            while time.perf_counter() < end:
                pass
            time.sleep(0.001)

    threading.Thread(target=work, daemon=True).start()


@contextlib.contextmanager
def upstream() -> Iterator[int]:
    """A listening socket that takes connections and closes them: the proxy's server."""
    srv = socket.create_server((HOST, 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                srv.accept()[0].close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def instance(count: int, busy: bool) -> list[dict]:
    """One proxy and its client: per connection, the client's and the wire's stamps (ns)."""
    if busy:
        busy_thread()
    api, listen = ports.claim(2, "timing_fidelity")
    with tempfile.TemporaryDirectory() as work, upstream() as up:
        raw = Path(work) / "toxiproxy.log"
        proc = procs.spawn(
            "toxiproxy",
            toxiproxy_server.argv(HOST, api),
            log=Path(work) / "stderr",
            stdout=subprocess.PIPE,
            env=toxiproxy_server.env(),
        )
        try:
            wire = WireLog(proc.popen.stdout, raw)
            client = ToxiproxyClient(HOST, api)
            procs.wait_until(client.answering, WAIT_S, "toxiproxy to answer", proc)
            client.create("p", f"{HOST}:{listen}", f"{HOST}:{up}")
            # The client is a process of its own: in this one its stamps would wait for the GIL.
            out = subprocess.run(
                [sys.executable, __file__, "--client", str(listen), str(count)], capture_output=True, text=True
            )
            if out.returncode != 0:
                raise HarnessError(f"the reference client failed: {out.stderr.strip()}")
            conns = json.loads(out.stdout)
            procs.wait_until(lambda: len(wire.events()) >= 2 * count, WAIT_S, "every accept and close logged", proc)
        finally:
            proc.stop()
            ports.release([api, listen])
        wire.join()  # the raw log is complete once the reader has seen the pipe's end
        got = accepts(raw)
    return [{"start": conns[c][0], "end": conns[c][1], **got[c]} for c in conns if c in got]


def reference_client(port: int, count: int) -> dict[str, tuple[int, int]]:
    """Connect `count` times at moments of its own choosing: client address -> the clock
    just before connect() and just after it returned."""
    conns = {}
    for _ in range(count):
        time.sleep(random.uniform(*GAP_S))
        s = socket.socket()
        t0 = now_ns()
        s.connect((HOST, port))
        t1 = now_ns()
        conns[f"{HOST}:{s.getsockname()[1]}"] = (t0, t1)
        s.close()
    return conns


def accepts(raw: Path) -> dict[str, dict]:
    """Client address -> its accept's stamps, from the raw wire log ("READ_NS json")."""
    out = {}
    for line in raw.read_text().splitlines():
        read_ns, _, text = line.partition(" ")
        with contextlib.suppress(ValueError):
            rec = json.loads(text)
            if rec.get("message") == "Accepted client":
                out[rec["client"]] = {"read": int(read_ns), "proxy": rec.get("mono_ns")}
    return out


def run(instances: int, count: int, busy: bool) -> list[dict]:
    """`instances` side by side, each its own process (as harness jobs are)."""
    cmd = [sys.executable, __file__, "--instance", str(count), *(["--busy"] if busy else [])]
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(instances)]
    out = []
    for w in workers:
        text, _ = w.communicate()
        if w.returncode != 0:
            raise HarnessError(f"an instance failed (exit code {w.returncode})")
        out += json.loads(text)
    return out


def spread(values_ns: list[int]) -> str:
    ms = sorted(v / 1e6 for v in values_ns)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.2f}  p99 {p99:6.2f}  max {ms[-1]:6.2f}"


def main(count: int) -> None:
    server = Path(toxiproxy_server.binary()).name
    print(f"server: {server}; {count} connections per instance; ms, wire stamp minus client stamp")
    for load, busy, hog in LOADS:
        with cpu_hog(hog):
            for n in INSTANCES:
                rows = run(n, count, busy)
                label = f"{n} x {load:<14}"
                paths = [("read", "stamp on read")]
                if all(r["proxy"] is not None for r in rows):
                    paths.insert(0, ("proxy", "in the proxy "))
                for key, name in paths:
                    print(
                        f"{label}  {name}  vs connect() start: {spread([r[key] - r['start'] for r in rows])}"
                        f"  | vs its return: {spread([r[key] - r['end'] for r in rows])}  (n={len(rows)})"
                    )


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["--client"]:
            print(json.dumps(reference_client(int(sys.argv[2]), int(sys.argv[3]))))
        elif sys.argv[1:2] == ["--instance"]:
            print(json.dumps(instance(int(sys.argv[2]), "--busy" in sys.argv)))
        else:
            main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    except (HarnessError, ValueError) as e:
        sys.exit(f"timing_fidelity: {e}")
