"""The Artemis service module's own logic: its acceptor's parameters and what its
console says, on recorded lines (tests/test_artemis_live.py runs a real broker)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from harness import certs
from harness.services import artemis
from harness.topology import get

# Recorded from a TLS broker given a keystore path it could not find (the stack
# frames cut): it logs the failure, then that it is active, with nothing listening.
REFUSED = """\
2026-12-07 03:29:38,646 WARN  [org.apache.activemq.artemis.core.server] AMQ222080: Error creating acceptor: amqp
java.lang.IllegalStateException: Unable to create NettyAcceptor for 127.0.0.1:25926
\tat org.apache.activemq.artemis.core.remoting.impl.netty.NettyAcceptor.loadSSLContext(NettyAcceptor.java:452)
Caused by: java.lang.Exception: Failed to find a store at /w/jobs-auto hog/certs/server.p12
\tat org.apache.activemq.artemis.core.remoting.impl.ssl.SSLSupport.validateStoreURL(SSLSupport.java:546)
\t... 18 more
2026-12-07 03:29:38,673 INFO  [org.apache.activemq.artemis.core.server] AMQ221007: Server is now active
"""


def test_a_keystore_path_with_url_characters_reaches_the_broker_as_it_is(tmp_path):
    # The broker URL-decodes the acceptor's parameters twice (a '+' reads as a space).
    workdir = tmp_path / "jobs-auto+hog 100%"
    certs.generate(workdir)
    svc = get("artemis-1-tls").service("a1")
    params = dict(p.split("=", 1) for p in artemis.acceptor_params(svc, workdir).split(";") if "=" in p)
    assert unquote_plus(unquote_plus(params["keyStorePath"])) == str(certs.at(workdir).keystore)


def test_an_acceptor_the_broker_could_not_create_is_said_with_its_cause():
    assert artemis.acceptor_error(REFUSED) == (
        "its amqp acceptor could not be created: Failed to find a store at /w/jobs-auto hog/certs/server.p12"
    )
    assert artemis.acceptor_error(REFUSED.split("Caused by")[0]) == "its amqp acceptor could not be created"
    assert artemis.acceptor_error("AMQ221007: Server is now active\n") is None


def test_a_broker_running_without_its_acceptor_says_why_it_will_not_serve(tmp_path, monkeypatch):
    svc = get("artemis-1-tls").service("a1")
    monkeypatch.setattr(artemis, "console", lambda _svc, _workdir: REFUSED)
    assert artemis.startup_error(svc, tmp_path) == (
        "its amqp acceptor could not be created: Failed to find a store at /w/jobs-auto hog/certs/server.p12"
    )
