"""compose.yaml is generated from the topology: the committed files are what the code makes."""

from __future__ import annotations

import json

from harness import compose, paths
from harness.topology import get


def test_committed_files_equal_the_generated_ones():
    for rel, text in compose.render().items():
        path = paths.ROOT / rel
        assert path.exists(), f"{rel} is missing: run `harness compose --write`"
        assert path.read_text() == text, f"{rel} is stale: run `harness compose --write`"


def test_every_link_is_a_proxy_and_servers_dial_routes_through_it():
    topo = get(compose.TOPOLOGY)
    files = compose.render()
    proxies = json.loads(files["compose/toxiproxy.json"])
    assert {p["name"] for p in proxies} == {x.name for x in topo.links}
    assert len({p["listen"] for p in proxies}) == len(proxies)
    for svc in topo.services:
        conf = files[f"compose/{svc.name}.conf"]
        assert "nats-route://toxiproxy:" in conf
        assert "nats-route://n" not in conf  # never straight to a peer
        assert 'advertise: "toxiproxy:' in conf
    yaml = files["compose.yaml"]
    assert compose.NATS_IMAGE in yaml and compose.TOXIPROXY_IMAGE in yaml
    assert yaml.count("healthcheck:") == 1 + len(topo.services)
