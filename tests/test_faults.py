"""The fault kinds' registry and schemas, and the Toxiproxy client refusing every
answer of the API outside 2xx (no server needed: a stand-in answers on loopback)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import FAULT_PARAMS, GOOD_PARAMS, KINDS, SETTINGS, TEXT, Counter, one_line

from harness.errors import EnvironmentFault, UsageError
from harness.faults import LINK_KINDS, SERVICE_KINDS, Fault, confirm, registry
from harness.faults.base import STREAM, Kind, LinkKind, Param, ServiceKind, ToxicKind
from harness.toxiproxy import ToxiproxyClient


def test_every_registered_kind_has_a_schema_and_its_actions():
    assert set(registry.KINDS) == set(LINK_KINDS + SERVICE_KINDS)
    assert registry.names("link") == LINK_KINDS and registry.names("service") == SERVICE_KINDS
    assert not set(LINK_KINDS) & set(SERVICE_KINDS)
    for name, cls in registry.KINDS.items():
        assert cls.name == name and cls.__doc__ and cls.__doc__.startswith(f"{name}:"), cls
        assert issubclass(cls, LinkKind if name in LINK_KINDS else ServiceKind)
        schema = cls.schema()
        assert schema[0] is STREAM and all(isinstance(p, Param) for p in schema)
        assert len({p.name for p in schema}) == len(schema), f"{name} declares a parameter twice"
        for method in ("apply", "revert", "confirm_applied", "confirm_reverted"):
            assert getattr(cls, method) is not getattr(Kind, method), f"{name} lacks {method}"
        if issubclass(cls, ToxicKind):
            assert cls.toxic and cls.attributes is not ToxicKind.attributes
        # Defaults alone make a valid fault once the required parameters are given.
        Fault(name, "t", {p.name: 1 for p in schema if p.required})


def test_required_parameters_and_types_come_from_the_schema():
    required = {name: [p.name for p in cls.schema() if p.required] for name, cls in registry.KINDS.items()}
    assert {k: v for k, v in required.items() if v} == {
        "latency": ["latency_ms"],
        "bandwidth": ["rate_kbps"],
        "limit_data": ["bytes"],
    }
    with pytest.raises(UsageError, match="needs the parameter latency_ms"):
        Fault("latency", "t", {})
    with pytest.raises(UsageError, match="latency_ms must be a whole number"):
        Fault("latency", "t", {"latency_ms": True})
    with pytest.raises(UsageError, match="drop_existing must be true or false"):
        Fault("blackhole", "t", {"drop_existing": 1})
    with pytest.raises(UsageError, match="params must be a table"):
        Fault("refuse", "t", [])  # type: ignore[arg-type]


def test_toxic_attributes_are_the_ones_toxiproxy_gets():
    def attrs(kind: str, **params) -> tuple[str, dict]:
        action = Fault(kind, "t", params).action
        assert isinstance(action, ToxicKind)
        return action.toxic, action.attributes()

    assert attrs("reset") == ("reset_peer", {"timeout": 0})
    assert attrs("blackhole") == ("timeout", {"timeout": 0})
    assert attrs("latency", latency_ms=5) == ("latency", {"latency": 5, "jitter": 0})
    assert attrs("bandwidth", rate_kbps=7) == ("bandwidth", {"rate": 7})
    assert attrs("slicer") == ("slicer", {"average_size": 1, "size_variation": 0, "delay": 1000})
    assert attrs("limit_data", bytes=10) == ("limit_data", {"bytes": 10})
    assert Fault("reset", "t").action.param("drop_existing") is True
    assert Fault("latency", "t", {"latency_ms": 1}).action.param("drop_existing") is False


@contextlib.contextmanager
def answering(status: int, body: bytes) -> Iterator[ToxiproxyClient]:
    """A stand-in for the Toxiproxy API on loopback that answers every request alike."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PATCH = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ToxiproxyClient("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


BIND_FAILED = b'{"error":"listen tcp 127.0.0.1:41000: bind: address already in use","status":500}'


def test_a_500_from_the_api_raises_on_every_call():
    with answering(500, BIND_FAILED) as tp:
        calls = {
            "enable proxy p": lambda: tp.set_enabled("p", True),
            "disable proxy p": lambda: tp.set_enabled("p", False),
            "add latency toxic to p": lambda: tp.add_toxic("p", "x", "latency", "upstream", {"latency": 1}),
            "remove toxic x from p": lambda: tp.remove_toxic("p", "x"),
            "update toxic x on p": lambda: tp.update_toxic("p", "x", {"latency": 2}),
            "delete proxy p": lambda: tp.delete("p"),
            "list toxics of p": lambda: tp.toxics("p"),
            "list proxies": tp.proxies,
            "reset": tp.reset,
            "read its version": tp.version,
        }
        for what, call in calls.items():
            with pytest.raises(EnvironmentFault) as e:
                call()
            line = e.value.line()
            assert (
                line
                == f"toxiproxy refused to {what}: HTTP 500: listen tcp 127.0.0.1:41000: bind: address already in use"
            )


def test_an_answer_that_is_not_json_is_shown_as_text():
    with answering(503, b"upstream\nunavailable") as tp, pytest.raises(EnvironmentFault) as e:
        tp.set_enabled("p", True)
    assert e.value.line() == "toxiproxy refused to enable proxy p: HTTP 503: upstream unavailable"


class _Proxies:
    """A live topology whose one proxy reads enabled: only its listener is in question."""

    proxies_on_host = True

    def __init__(self, listen: str) -> None:
        self.toxiproxy = self
        self.listen = listen

    def proxy(self, name: str) -> dict:
        return {"enabled": True, "listen": self.listen}


def test_an_enabled_proxy_must_also_listen():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        live = _Proxies(address)
        assert confirm.proxy_open(live, "p") == f"proxy p is enabled but nothing listens on {address}"
        s.listen()
        assert confirm.listening(address)
        assert confirm.proxy_open(live, "p") is None


# -- property: any fault ------------------------------------------------------


def test_faults_construct_or_refuse(record_property):
    count = Counter(record_property, "faults")

    @settings(max_examples=1000, **SETTINGS)
    @given(KINDS, TEXT, GOOD_PARAMS | FAULT_PARAMS | st.sampled_from([None, [], "x", 1]))
    def prop(kind, target, params):
        count()
        try:
            f = Fault(kind, target, params)
        except UsageError as e:
            assert one_line(e.line()), e.line()
            count.saw("refused")
            return
        count.saw("fault")
        assert f.kind in LINK_KINDS + SERVICE_KINDS and f._streams()
        assert f.describe() == {"kind": kind, "target": target, "params": params}

    prop()
    count.done()
