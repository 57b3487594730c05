"""Topologies as declared."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.topology import get, nats_nodes


def test_cluster_has_a_link_per_ordered_pair_and_per_client_path():
    t = nats_nodes(3)
    routes = [x for x in t.links if x.role == "route"]
    assert {(x.origin, x.to) for x in routes} == {
        (a, b) for a in ("n1", "n2", "n3") for b in ("n1", "n2", "n3") if a != b
    }
    assert [x.name for x in t.links_to("n2") if x.port == "client"] == ["n2-client", "n2-observer"]
    assert {x.name for x in t.routes_of("n1")} == {"route-n1-n2", "route-n1-n3", "route-n2-n1", "route-n3-n1"}
    assert any(x.role == "sink" for x in t.links)


def test_single_node_has_no_routes():
    t = get("nats-single")
    assert [x.role for x in t.links] == ["client", "observer"]
    assert t.services[0].cluster == ()


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match="unknown topology"):
        get("nats-7")
    with pytest.raises(UsageError, match="no link"):
        get("nats-3").link("n9-client")
    with pytest.raises(UsageError, match="no service"):
        get("nats-3").service("n9")
