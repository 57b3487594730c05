"""The artemis-ha pair as configured and decoded, with no broker running: the
topology's check, each member's broker.xml, the Open frame decoder, and the kill
fault that leaves its server down."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.faults import Fault, FaultLog
from harness.services import Addresses, amqp_open, artemis, artemis_ha
from harness.topology import Topology, check_ha, get
from harness.topology import artemis_ha as ha_topology

NS = {"c": "urn:activemq", "core": "urn:activemq:core"}


def addresses(topo: Topology) -> Addresses:
    ports = iter(range(20000, 20100))
    return Addresses(
        services={(s.name, p): next(ports) for s in topo.services for p in s.ports},
        links={x.name: next(ports) for x in topo.links},
    )


def core(xml: str) -> ET.Element:
    node = ET.fromstring(xml).find("core:core", NS)
    assert node is not None
    return node


def text(node: ET.Element, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None, path
    return found.text or ""


def test_the_pair_is_a_primary_then_its_backup_with_a_client_and_observer_link_each():
    t = get("artemis-ha")
    assert [(s.name, s.ha, s.cluster) for s in t.services] == [
        ("a1", "primary", ("a1", "a2")),
        ("a2", "backup", ("a1", "a2")),
    ]
    assert [x.name for x in t.links] == ["a1-client", "a1-observer", "a2-client", "a2-observer"]


def test_a_pair_in_the_wrong_order_or_alone_is_refused():
    t = ha_topology()
    swapped = replace(t, services=(replace(t.services[0], ha="backup"), replace(t.services[1], ha="primary")))
    with pytest.raises(UsageError, match="a primary then a backup"):
        check_ha(swapped)
    alone = replace(t, services=(replace(t.services[0], cluster=("a1",)), t.services[1]))
    with pytest.raises(UsageError, match="no member of a primary/backup pair"):
        check_ha(alone)


def test_each_member_shares_one_store_and_announces_its_own_client_link(tmp_path: Path):
    t = get("artemis-ha")
    addrs = addresses(t)
    a1, a2 = (core(artemis.broker_xml(s, addrs, tmp_path, t)) for s in t.services)
    for node in (a1, a2):
        assert text(node, "core:persistence-enabled") == "true"
        assert text(node, "core:journal-directory") == str(tmp_path / "a1-a2-store" / "journal")
        assert text(node, "core:cluster-connections/core:cluster-connection/core:connector-ref") == "announced"
    # What the pair announces is each broker's proxy; what they dial is the other's CORE acceptor.
    assert text(a1, "core:connectors/core:connector[@name='announced']") == f"tcp://{addrs.link('a1-client')}"
    assert text(a2, "core:connectors/core:connector[@name='announced']") == f"tcp://{addrs.link('a2-client')}"
    assert text(a1, "core:connectors/core:connector[@name='peer']") == f"tcp://{addrs.service('a2', 'core')}"
    assert text(a2, "core:connectors/core:connector[@name='peer']") == f"tcp://{addrs.service('a1', 'core')}"
    assert a1.find("core:ha-policy/core:shared-store/core:primary", NS) is not None
    assert text(a2, "core:ha-policy/core:shared-store/core:backup/core:allow-failback") == "true"
    assert "protocols=CORE" in text(a2, "core:acceptors/core:acceptor[@name='core']")


def test_a_broker_on_its_own_is_unchanged_no_persistence_no_cluster():
    t = get("artemis-3")
    node = core(artemis.broker_xml(t.services[0], addresses(t)))
    assert text(node, "core:persistence-enabled") == "false"
    assert node.find("core:cluster-connections", NS) is None
    assert node.find("core:ha-policy", NS) is None
    assert [a.get("name") for a in node.findall("core:acceptors/core:acceptor", NS)] == ["amqp"]


def test_a_pair_member_needs_the_topology_and_the_workdir():
    t = get("artemis-ha")
    with pytest.raises(ValueError, match="HA pair"):
        artemis.broker_xml(t.services[0], addresses(t))


# -- the Open frame --


def sym(s: str) -> bytes:
    return bytes([0xA3, len(s)]) + s.encode()


def string(s: str) -> bytes:
    return bytes([0xA1, len(s)]) + s.encode()


def map8(*pairs: bytes) -> bytes:
    body = b"".join(pairs)
    return bytes([0xC1, len(body) + 1, len(pairs)]) + body


def test_an_open_is_decoded_with_the_failover_server_list_artemis_sends():
    # As Artemis 2.56 writes it: a list32 of fields, symbol keys, the port an int.
    server = map8(
        sym("hostname"),
        string("127.0.0.1"),
        sym("scheme"),
        string("amqp"),
        sym("port"),
        b"\x71" + struct.pack(">i", 29610),
        sym("network-host"),
        string("127.0.0.1"),
    )
    listed = bytes([0xD0]) + struct.pack(">II", len(server) + 4, 1) + server
    props = map8(sym("product"), string("apache-activemq-artemis"), sym("failover-server-list"), listed)
    elements = bytes([0xA3, 5]) + b"SHARE" + bytes([3]) + b"DEL"  # array8: one constructor, then each value
    caps = bytes([0xE0, len(elements) + 1, 2]) + elements
    fields = [string("cid"), b"\x40", b"\x70" + struct.pack(">I", 131072), b"\x60\xff\xff", b"\x43", b"\x40", b"\x40"]
    fields += [caps, b"\x40", props]
    body = b"".join(fields)
    frame = b"\x00\x53\x10" + bytes([0xD0]) + struct.pack(">II", len(body) + 4, len(fields)) + body
    got = amqp_open.open_fields(frame)
    assert got["container-id"] == "cid"
    assert got["max-frame-size"] == 131072 and got["channel-max"] == 65535 and got["idle-time-out"] == 0
    assert got["offered-capabilities"] == ["SHARE", "DEL"]
    assert amqp_open.failover_servers(got) == ["127.0.0.1:29610"]


def test_an_open_without_a_list_names_no_server_and_other_frames_are_refused():
    body = string("cid")
    assert (
        amqp_open.failover_servers(amqp_open.open_fields(b"\x00\x53\x10\xc0" + bytes([len(body) + 1, 1]) + body)) == []
    )
    with pytest.raises(ValueError, match="not an open"):
        amqp_open.open_fields(b"\x00\x53\x18\x45")
    with pytest.raises(ValueError, match="not decoded"):
        amqp_open.decode(b"\xee")


def test_a_backup_is_ready_only_once_it_said_so_and_the_primary_names_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(artemis_ha, "failover_list", lambda addr: ["127.0.0.1:2"])
    said = f"... {artemis_ha.ANNOUNCED}: backup announced"
    assert artemis_ha.backup_announced(said, "127.0.0.1:1", "127.0.0.1:2")
    assert not artemis_ha.backup_announced(said, "127.0.0.1:1", "127.0.0.1:3")
    assert not artemis_ha.backup_announced("started", "127.0.0.1:1", "127.0.0.1:2")


# -- kill, left down --


class FakeLive:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.state = "running"

    def kill(self, service: str) -> None:
        self.calls.append(f"kill {service}")
        self.state = "stopped"

    def start(self, service: str) -> None:
        self.calls.append(f"start {service}")
        self.state = "running"

    def service_state(self, service: str) -> str:
        return self.state


@pytest.mark.parametrize(("restart", "healed"), [(True, True), (False, False)])
def test_a_kill_without_restart_leaves_its_server_down_and_the_outage_unhealed(restart: bool, healed: bool):
    live, log = FakeLive(), FaultLog()
    fault = Fault("kill", "a1", {"restart": restart})
    rec = log.begin(fault, live)  # type: ignore[arg-type]
    log.end(fault, rec, live)  # type: ignore[arg-type]
    assert live.calls == (["kill a1", "start a1"] if restart else ["kill a1"])
    assert (rec["end_ns"] is not None) is healed
    assert ("left_in_force_ns" in rec) is not healed
