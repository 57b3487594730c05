"""toxiproxy-harness (harness/proxy), for real: it serves Toxiproxy's API as toxiproxy-server
does, reports Toxiproxy's version, and its wire log carries accepts and closes stamped in the
proxy on the harness's clock."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest
from support import poll

from harness import paths, ports, procs
from harness.clock import now_ns
from harness.services import toxiproxy_server
from harness.toxiproxy import ToxiproxyClient
from harness.wire import WireLog

HOST = "127.0.0.1"
# Generous: the bound is on a shared, loaded CI host; the benchmark measures the real error.
NEAR_NS = 50_000_000


@pytest.fixture
def proxy(tmp_path) -> Iterator[tuple[procs.Proc, ToxiproxyClient, WireLog, int]]:
    api, listen = ports.claim(2, "test_proxy_live")
    proc = procs.spawn(
        "toxiproxy-harness",
        [paths.binary("toxiproxy-harness"), "-host", HOST, "-port", str(api)],
        log=tmp_path / "stderr",
        stdout=subprocess.PIPE,
        env=toxiproxy_server.env(),
    )
    try:
        wire = WireLog(proc.popen.stdout, tmp_path / "toxiproxy.log")
        client = ToxiproxyClient(HOST, api)
        procs.wait_until(client.answering, 10, "toxiproxy-harness to answer", proc)
        yield proc, client, wire, listen
    finally:
        proc.stop()
        ports.release([api, listen])


def test_the_harness_runs_its_own_build():
    assert toxiproxy_server.binary() == paths.binary("toxiproxy-harness")
    assert paths.binary_version("toxiproxy-harness") == paths.binary_version("toxiproxy-server")


def test_it_serves_the_api_and_stamps_accepts_in_the_proxy(proxy, tmp_path):
    proc, client, wire, listen = proxy
    assert client.version().lstrip("v") == paths.binary_version("toxiproxy-server")
    with socket.create_server((HOST, 0)) as upstream:
        client.create("p1", f"{HOST}:{listen}", f"{HOST}:{upstream.getsockname()[1]}")
        assert set(client.proxies()) == {"p1"}
        t0 = now_ns()
        with socket.create_connection((HOST, listen)) as s:
            me = f"{HOST}:{s.getsockname()[1]}"
            upstream.accept()[0].close()
            poll(lambda: len(wire.events()) >= 3, 10, "the accept, the dial and the close on the wire log")
    accepted, dialled, closed = wire.events()[:3]
    assert accepted["kind"] == "conn_accepted" and accepted["client"] == me
    assert dialled["kind"] == "upstream_connected" and accepted["t_ns"] <= dialled["t_ns"] <= closed["t_ns"]
    assert 0 <= accepted["t_ns"] - t0 < NEAR_NS
    # Not which side closed first: Toxiproxy logs both halves' ends microseconds apart,
    # in either order, whichever side closed (with toxiproxy-server too).
    assert closed["kind"] == "conn_closed" and closed["client"] == me and closed["t_ns"] > accepted["t_ns"]
    # The stamps are the proxy's: every accept and close line carries mono_ns.
    proc.stop()
    wire.join()  # the raw log is complete once the reader has seen the pipe's end
    lines = (tmp_path / "toxiproxy.log").read_text().splitlines()
    assert all('"mono_ns":' in line for line in lines if "Accepted client" in line or "Remove link" in line)
