"""The router on the local backend: which binary is found, its flavour and version,
one clear line for a binary that cannot be used or a configuration it refuses, and
nothing left running. Fake routers (small shell scripts) stand in where no real one
is needed; the live test runs only where a router is found (never in CI)."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from harness.backends.local import LocalTopology
from harness.errors import EnvironmentFault, Unavailable
from harness.services import Addresses, router, router_binary
from harness.topology import Link, Service, Topology, get

REFUSAL = (
    "2026-12-01 22:53:52.804852 +0000 MAIN (critical) Router start-up failed: Python: Exception: Cannot load "
    "configuration file /x/r1.conf: role='edge' only allowed with router mode='interior' for {'type': 'listener'}"
)


def fake(folder: Path, name: str, version: str, *, run: str = "sleep 60", code: int = 0) -> Path:
    """A script answering --version as a router does, and doing `run` otherwise."""
    path = folder / name
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "{version}"; exit {code}; fi\n{run}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A PATH of one folder (plus the shell), with no HARNESS_ROUTER."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.delenv(router_binary.ENV, raising=False)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/bin{os.pathsep}/usr/bin")
    if any(shutil.which(n) for n in router_binary.SEARCHED):
        pytest.skip("a router is installed in /bin or /usr/bin")
    return folder


def test_no_router_is_unavailable_with_how_to_get_one(only):
    with pytest.raises(Unavailable) as e:
        router_binary.find()
    assert "install one from your distribution" in e.value.line() and router_binary.ENV in e.value.line()


def test_skrouterd_is_preferred_and_each_binary_has_its_flavour(only):
    fake(only, "qdrouterd", "1.20.0")
    assert router_binary.find().flavour == "qdrouterd"
    fake(only, "skrouterd", "3.5.1")
    b = router_binary.find()
    assert (b.flavour, b.version, Path(b.path).name) == ("skrouterd", "3.5.1", "skrouterd")


def test_harness_router_names_any_binary_and_its_version_gives_the_flavour(only, monkeypatch):
    monkeypatch.setenv(router_binary.ENV, str(fake(only, "my-router", "1.19.0")))
    fake(only, "skrouterd", "3.5.1")  # named wins over PATH
    b = router_binary.find()
    assert (Path(b.path).name, b.flavour, b.version) == ("my-router", "qdrouterd", "1.19.0")
    monkeypatch.setenv(router_binary.ENV, str(only / "absent"))
    with pytest.raises(EnvironmentFault, match="is not an executable file"):
        router_binary.find()


@pytest.mark.parametrize(
    ("version", "code", "expect"),
    [
        ("1.4.0", 0, "qdrouterd 1.4.0 .* is too old: the router topology needs edge routers, qdrouterd 1.5"),
        ("error while loading shared libraries: libqpid-proton.so.11", 127, "--version failed: error while loading"),
        ("no version here", 0, "--version failed: no version here"),
    ],
)
def test_a_binary_that_cannot_be_used_is_one_line(only, version, code, expect):
    fake(only, "qdrouterd", version, code=code)
    with pytest.raises(EnvironmentFault, match=expect) as e:
        router_binary.find()
    assert "\n" not in e.value.line()


def test_the_configuration_follows_the_flavour():
    topo = get("router")
    at_ = addresses(topo)
    qd = router.config(topo.service("r1"), topo, at_, "qdrouterd")
    sk = router.config(topo.service("r1"), topo, at_, "skrouterd")
    assert "log {" in qd and "enable: info+" in qd and "log {" not in sk
    with pytest.raises(ValueError, match="unknown router flavour"):
        router.config(topo.service("r1"), topo, at_, "artemis")


def addresses(topo: Topology) -> Addresses:
    """Made-up loopback ports for every port and link of `topo`."""
    a = Addresses()
    n = iter(range(22001, 22100))
    a.api, a.sink = next(n), next(n)
    a.services = {(s.name, p): next(n) for s in topo.services for p in s.ports}
    a.links = {x.name: next(n) for x in topo.links}
    return a


def test_the_routers_own_refusal_line_without_the_attribute_dump():
    assert router.startup_error_in(f"noise\n{REFUSAL}\n") == (
        "Exception: Cannot load configuration file /x/r1.conf: role='edge' only allowed with router mode='interior'"
    )
    assert router.startup_error_in("ROUTER (info) Version: 1.20.0\n") is None


def test_version_names_a_qdrouterd(tmp_path):
    svc = get("router").service("r1")
    (tmp_path / "r1.log").write_text("2026 ROUTER (info) Version: 1.20.0+snapshot\n")
    assert router.version(svc, None, tmp_path) == "qdrouterd 1.20.0+snapshot"
    (tmp_path / "r1.log").write_text("2026 ROUTER (info) Version: 3.5.1\n")
    assert router.version(svc, None, tmp_path) == "3.5.1"


ONE_ROUTER = Topology(
    "one-router", "one router", (Service("r9", router.KIND, ("amqp",)),), (Link("r9-client", "r9", "amqp", "client"),)
)


def test_a_refused_configuration_is_the_routers_line_and_nothing_is_left(only, tmp_path, spawned):
    fake(only, "qdrouterd", "1.20.0", run=f'echo "{REFUSAL}" >&2; exit 1')
    with pytest.raises(EnvironmentFault) as e:
        LocalTopology.up(ONE_ROUTER, tmp_path / "work")
    assert e.value.line().startswith(
        "r9 (skupper-router) did not start: Exception: Cannot load configuration file /x/r1.conf: role='edge'"
    ), e.value.line()
    assert "{'type'" not in e.value.line()
    assert spawned and not [p.name for p in spawned if p.alive()]


def test_a_server_that_says_it_will_not_serve_is_not_waited_for(only, tmp_path, spawned):
    # A server can say why and run on (Artemis without its acceptor): the wait
    # reads its line while it runs rather than timing out.
    fake(only, "qdrouterd", "1.20.0", run=f'echo "{REFUSAL}" >&2; sleep 30')
    started = time.monotonic()
    with pytest.raises(EnvironmentFault, match=r"^r9 \(skupper-router\) did not start: Exception: Cannot load"):
        LocalTopology.up(ONE_ROUTER, tmp_path / "work")
    assert time.monotonic() - started < 10
    assert spawned and not [p.name for p in spawned if p.alive()]


REAL = shutil.which(os.environ.get(router_binary.ENV) or "skrouterd") or shutil.which("qdrouterd")


@pytest.mark.skipif(REAL is None, reason=router_binary.REASON)
def test_a_real_router_comes_up_answers_and_records_its_version(tmp_path, spawned):
    live = LocalTopology.up(ONE_ROUTER, tmp_path / "work")
    try:
        assert router.handshake(live.addrs.link("r9-client"))
        assert router_binary.find().version in live.versions()[router.KIND]
    finally:
        live.down()
    assert not [p.name for p in spawned if p.alive()]
