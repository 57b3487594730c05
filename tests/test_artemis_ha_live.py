"""The artemis-ha pair on the local backend, real brokers: brought up it names its
backup in the primary's AMQP Open, and torn down it leaves nothing running; a
backup that never announces itself is one clear line, with nothing left running.

Timings are printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import paths
from harness.backends import local
from harness.backends.local import LocalTopology
from harness.errors import EnvironmentFault
from harness.services import artemis, artemis_ha
from harness.topology import get

pytestmark = pytest.mark.skipif(not paths.installed("artemis"), reason="ActiveMQ Artemis is not installed")


def gone(pids: dict[str, int]) -> list[str]:
    """The names of the processes in `pids` still running."""
    import os

    alive = []
    for name, pid in pids.items():
        try:
            os.kill(pid, 0)
            alive.append(name)
        except ProcessLookupError:
            pass
    return alive


def test_the_pair_names_its_backup_fails_over_and_leaves_nothing_running(tmp_path: Path):
    started = time.monotonic()
    live = LocalTopology.up(get("artemis-ha"), tmp_path)
    pids = live.pids()
    try:
        print(f"pair up in {time.monotonic() - started:.1f} s")
        assert artemis_ha.failover_list(live.addrs.service("a1", "amqp")) == [live.addrs.link("a2-client")]
        assert not artemis.handshake(live.addrs.service("a2", "amqp"), 0.5)  # a standby backup serves nothing
        killed = time.monotonic()
        live.kill("a1")
        deadline = killed + local.READY_TIMEOUT_S
        while not artemis.handshake(live.addrs.service("a2", "amqp"), 0.5):
            assert time.monotonic() < deadline, "the backup did not take over"
            time.sleep(0.05)
        print(f"backup serving {time.monotonic() - killed:.2f} s after the kill")
        # reset() puts the pair back as it began: the primary live, the backup standing by.
        live.reset()
        assert artemis.in_role(get("artemis-ha").service("a2"), tmp_path)
        assert artemis_ha.failover_list(live.addrs.service("a1", "amqp")) == [live.addrs.link("a2-client")]
        pids |= live.pids()
    finally:
        live.down()
    assert gone(pids) == []


def test_a_backup_that_never_announces_itself_is_one_line_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The backup dials a port where no primary listens, so it never announces itself.
    real = artemis_ha.xml

    def astray(svc, topo, addrs, workdir):
        out = real(svc, topo, addrs, workdir)
        return out.replace(addrs.listen("a1", "core"), f"127.0.0.1:{addrs.sink}") if svc.ha == "backup" else out

    monkeypatch.setattr(artemis_ha, "xml", astray)
    monkeypatch.setattr(local, "READY_TIMEOUT_S", 20)  # it never announces; the primary still has room to start
    spawned: list[dict[str, int]] = []
    real_spawn = LocalTopology._spawn_service

    def spawn(self, name, launch):
        real_spawn(self, name, launch)
        spawned.append(self.pids())

    monkeypatch.setattr(LocalTopology, "_spawn_service", spawn)
    with pytest.raises(EnvironmentFault) as e:
        LocalTopology.up(get("artemis-ha"), tmp_path)
    line = e.value.line()
    print(line)
    assert "\n" not in line
    assert "a2 (artemis backup of a1) to announce itself" in line
    assert spawned and gone({k: v for p in spawned for k, v in p.items()}) == []
