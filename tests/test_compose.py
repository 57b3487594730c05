"""compose.yaml is generated from the topologies: the committed files are what the
code makes, every link is a proxy, and no server reaches another around one."""

from __future__ import annotations

import json
import re

import pytest

from harness import compose_file, paths
from harness.topology import get


def test_committed_files_equal_the_generated_ones():
    for rel, text in compose_file.render().items():
        path = paths.ROOT / rel
        assert path.exists(), f"{rel} is missing: run `harness compose --write`"
        assert path.read_text() == text, f"{rel} is stale: run `harness compose --write`"


@pytest.mark.parametrize("name", compose_file.TOPOLOGIES)
def test_every_link_is_a_proxy_of_its_own_toxiproxy(name):
    topo = get(name)
    services, files = compose_file.topology_services(topo)
    proxies = json.loads(files[f"compose/{name}/toxiproxy.json"])
    assert {p["name"] for p in proxies} == {x.name for x in topo.links}
    assert len({p["listen"] for p in proxies}) == len(proxies)
    toxiproxy = compose_file.service_name(topo, "toxiproxy")
    for svc in topo.services:
        # Each server in the network namespace of its holder, which nothing faults.
        holder = compose_file.holder_name(topo, svc.name)
        server = services[compose_file.service_name(topo, svc.name)]
        assert server["network_mode"] == f"service:{holder}" and "networks" not in server
        assert server["depends_on"] == {
            toxiproxy: {"condition": "service_healthy"},
            holder: {"condition": "service_started"},
        }
        assert services[holder]["networks"] == [name]
    # Every upstream is a server's holder in this topology (or the sink), on its fixed port:
    # the holder outlives the server, so its name resolves and its address stays.
    own = {compose_file.holder_name(topo, s.name) for s in topo.services}
    for p in proxies:
        host = p["upstream"].rsplit(":", 1)[0]
        assert host in own or p["upstream"] == "127.0.0.1:1"
    assert all("healthcheck" in s for s in services.values())


def test_nats_routes_go_through_the_proxy_and_clients_learn_published_ports():
    topo = get("nats-3")
    services, files = compose_file.topology_services(topo)
    for svc in topo.services:
        conf = files[f"compose/nats-3/{svc.name}.conf"]
        assert re.findall(r"nats-route://([\w-]+):", conf) == ["nats-3-toxiproxy"] * 2
        assert 'advertise: "nats-3-toxiproxy:' in conf  # the sink, never a peer directly
        cmd = services[f"nats-3-{svc.name}"]["command"]
        assert cmd[-2:] == [
            "--client_advertise",
            f"127.0.0.1:${{HARNESS_NATS_3_{svc.name.upper()}_CLIENT:-" + cmd[-1].split(":-")[1],
        ]


def test_published_ports_are_run_time_variables_with_distinct_defaults():
    defaults: list[int] = []
    for name in compose_file.TOPOLOGIES:
        services, _ = compose_file.topology_services(get(name))
        for port in services[f"{name}-toxiproxy"]["ports"]:
            m = re.fullmatch(r"127\.0\.0\.1:\$\{HARNESS_[A-Z0-9_]+:-(\d+)\}:(\d+)", port)
            assert m, port  # loopback only, and a run can move it
            defaults.append(int(m[1]))
    assert len(defaults) == len(set(defaults))


def test_the_local_override_names_an_image_or_why_there_is_none():
    local = compose_file.local_override()
    every = {n for t in compose_file.TOPOLOGIES for n in compose_file.topology_services(get(t))[0]}
    assert set(local) == every
    for name, block in local.items():
        reason = block.get("labels", {}).get(compose_file.UNAVAILABLE)
        assert block.get("image", "").startswith("localhost/harness/") or reason, name
    assert [n for n, b in local.items() if compose_file.UNAVAILABLE in b.get("labels", {})] == [
        compose_file.service_name(get("router"), s.name) for s in get("router").services if s.kind == "skupper-router"
    ]


def test_a_service_fault_the_engine_refuses_is_an_environment_error():
    """Seen on Podman under load: `runc pause` failed and the API answered 500; that is
    the environment's error in one line, not a harness bug with a traceback."""
    from docker.errors import APIError

    from harness.backends.compose import ComposeTopology
    from harness.errors import EnvironmentFault

    live = ComposeTopology.__new__(ComposeTopology)
    with pytest.raises(EnvironmentFault) as e, live._engine("pause", "n1"):
        raise APIError('500 Server Error: Internal Server Error ("`/usr/bin/runc pause 0a3d` failed: exit status 1")')
    assert e.value.line().startswith("the container engine could not pause n1: 500 Server Error")


@pytest.mark.parametrize(("refusals", "paused"), [(0, True), (2, True), (3, False)])
def test_a_pause_the_engine_failed_to_make_is_asked_for_again(monkeypatch, refusals: int, paused: bool):
    """runc gives up freezing a busy container under load and thaws it: asked again it
    freezes; refused every time, it is the environment's error."""
    from docker.errors import APIError

    from harness.backends import compose
    from harness.errors import EnvironmentFault

    class Container:
        status, asked = "running", 0

        def pause(self) -> None:
            self.asked += 1
            if self.asked <= refusals:
                raise APIError('500 Server Error ("`/usr/bin/runc pause 0a3d` failed: exit status 1")')
            self.status = "paused"

    c = Container()
    live = compose.ComposeTopology.__new__(compose.ComposeTopology)
    monkeypatch.setattr(live, "_svc", lambda _service: c, raising=False)
    monkeypatch.setattr(compose, "PAUSE_RETRY_S", 0.0)
    if paused:
        live.pause("a1")
    else:
        with pytest.raises(EnvironmentFault, match="could not pause a1"):
            live.pause("a1")
    assert (c.status == "paused") is paused and c.asked == min(refusals + 1, compose.PAUSE_TRIES)
