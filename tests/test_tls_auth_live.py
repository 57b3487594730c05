"""TLS and authentication topologies, live: nats-single-tls, nats-single-auth,
artemis-1-tls and artemis-1-auth, with real servers behind a real toxiproxy-server.

A TLS listener must really require TLS and present a certificate for 127.0.0.1
that the run's own CA verifies; an auth listener must refuse a wrong password (and
Artemis anonymous access) and accept the right one; every listener is on
127.0.0.1; the certificates and keys are written into the topology's workdir and
nowhere else; and teardown leaves nothing running.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from support import topology_fixture
from test_artemis_live import listening_sockets

from harness import certs, paths, ports, topology
from harness.backends.local import LocalTopology
from harness.services import artemis, nats_server

PASSWORD = topology.AUTH_USER[1]
USER = topology.AUTH_USER[0]

nats_tls = topology_fixture("nats-single-tls")
nats_auth = topology_fixture("nats-single-auth")
# In a folder whose name a URI decodes differently (an --out of "jobs-auto+hog"):
# the broker reads its keystore path from its acceptor's URI.
artemis_tls = topology_fixture("artemis-1-tls", "artemis-1-tls jobs+hog%41")
artemis_auth = topology_fixture("artemis-1-auth")


# -- helpers --


def addr_of(hostport: str) -> tuple[str, int]:
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def read_line(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """One protocol line (up to \\r\\n); b"" if the peer closed first."""
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            return buf
        buf += chunk
    return buf


def nats_info(sock: socket.socket) -> dict:
    line = read_line(sock)
    assert line.startswith(b"INFO "), line
    return json.loads(line[5:])


def nats_login(hostport: str, tls: ssl.SSLContext | None, user: str | None, password: str | None) -> bytes:
    """Connect (upgrading to TLS after INFO when `tls` is given), send CONNECT and
    PING: the server's answer line (b"PONG\\r\\n" when logged in, an -ERR otherwise)."""
    host, port = addr_of(hostport)
    with socket.create_connection((host, port), timeout=5) as raw:
        nats_info(raw)
        sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        creds = {"user": user, "pass": password} if user is not None else {}
        connect = {"verbose": False, "pedantic": False, "tls_required": tls is not None, **creds}
        sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        line = read_line(sock)
        while line.startswith(b"INFO "):  # the server may send an INFO update first
            line = read_line(sock)
        return line


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def all_on_loopback(live: LocalTopology) -> None:
    for name, pid in live.pids().items():
        found = listening_sockets(pid)
        assert found, f"{name} listens on nothing"
        assert {ip for ip, _ in found} == {"127.0.0.1"}, f"{name} listens on {found}"


# -- certificates --


def test_certificates_are_made_in_the_workdir_for_127_0_0_1(nats_tls):
    c = nats_tls.certs
    assert c is not None and c.dir == nats_tls.workdir / "certs"
    for p in (c.ca, c.cert, c.key, c.keystore):
        assert p.is_file() and p.parent == c.dir
    # Private material is for the owner only.
    for p in (c.key, c.keystore, c.dir / "keystore-password"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    ca = x509.load_pem_x509_certificate(c.ca.read_bytes())
    leaf = x509.load_pem_x509_certificates(c.cert.read_bytes())[0]
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The keystore opens with its generated password and holds the same key and chain.
    key, cert, chain = pkcs12.load_key_and_certificates(c.keystore.read_bytes(), c.keystore_password.encode())
    assert cert == leaf and chain == [ca] and key is not None
    assert certs.at(nats_tls.workdir) == c


def test_no_certificates_without_tls(nats_auth):
    assert nats_auth.certs is None
    assert not (nats_auth.workdir / "certs").exists()


def test_each_topology_gets_its_own_ca(nats_tls, artemis_tls):
    assert nats_tls.certs.ca.read_bytes() != artemis_tls.certs.ca.read_bytes()


# -- NATS over TLS --


def test_nats_client_port_requires_tls(nats_tls):
    nats_tls.reset()
    for hostport in (nats_tls.addrs.service("n1", "client"), nats_tls.addrs.link("n1-client")):
        host, port = addr_of(hostport)
        with socket.create_connection((host, port), timeout=5) as s:
            info = nats_info(s)
            assert info.get("tls_required") is True, info
            # A client that stays plain gets no further: no PONG, the server drops it.
            s.sendall(b'CONNECT {"verbose":false,"tls_required":false}\r\nPING\r\n')
            s.settimeout(5)
            try:
                rest = s.recv(4096)
            except OSError:
                rest = b""
            assert b"PONG" not in rest, rest


def test_nats_tls_handshake_verifies_with_the_run_ca(nats_tls):
    nats_tls.reset()
    for hostport in (nats_tls.addrs.service("n1", "client"), nats_tls.addrs.link("n1-client")):
        assert nats_login(hostport, trusting(nats_tls.certs.ca), None, None) == b"PONG\r\n"
        # Without the run's CA the certificate does not verify.
        with pytest.raises(ssl.SSLCertVerificationError):
            nats_login(hostport, ssl.create_default_context(), None, None)
    assert nats_tls.url("n1-client") == f"tls://{nats_tls.addrs.link('n1-client')}"


def test_nats_tls_monitor_stays_plain_and_all_listeners_on_loopback(nats_tls):
    nats_tls.reset()
    with urllib.request.urlopen(f"http://{nats_tls.addrs.service('n1', 'monitor')}/healthz", timeout=5) as r:
        assert json.load(r)["status"] == "ok"
    all_on_loopback(nats_tls)


# -- NATS with users --


def test_nats_auth_refuses_a_wrong_password_and_accepts_the_right_one(nats_auth):
    nats_auth.reset()
    for hostport in (nats_auth.addrs.service("n1", "client"), nats_auth.addrs.link("n1-client")):
        assert nats_login(hostport, None, USER, PASSWORD) == b"PONG\r\n"
        assert b"Authorization Violation" in nats_login(hostport, None, USER, "wrong")
        assert b"Authorization Violation" in nats_login(hostport, None, None, None)
    all_on_loopback(nats_auth)


def test_nats_reload_users_takes_effect_and_comes_back(nats_auth):
    nats_auth.reset()
    svc = nats_auth.topology.service("n1")
    hostport = nats_auth.addrs.service("n1", "client")
    args = (svc, nats_auth.topology, nats_auth.addrs, nats_auth.workdir, nats_auth.instance, nats_auth.pids()["n1"])
    try:
        nats_server.reload_users(*args, ((USER, "changed"),))
        assert b"Authorization Violation" in nats_login(hostport, None, USER, PASSWORD)
        assert nats_login(hostport, None, USER, "changed") == b"PONG\r\n"
    finally:
        nats_server.reload_users(*args, svc.users)
    assert nats_login(hostport, None, USER, PASSWORD) == b"PONG\r\n"


# -- Artemis over TLS --


def test_artemis_acceptor_requires_tls(artemis_tls):
    artemis_tls.reset()
    for hostport in (artemis_tls.addrs.service("a1", "amqp"), artemis_tls.addrs.link("a1-client")):
        assert not artemis.handshake(hostport, timeout=3), "a plain AMQP handshake completed on the TLS acceptor"
        host, port = addr_of(hostport)
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"AMQP\x00\x01\x00\x00")
            try:
                back = s.recv(8)
            except OSError:
                back = b""
            assert not back.startswith(b"AMQP"), back


def test_artemis_tls_handshake_verifies_with_the_run_ca(artemis_tls):
    artemis_tls.reset()
    ca = artemis_tls.certs.ca
    for hostport in (artemis_tls.addrs.service("a1", "amqp"), artemis_tls.addrs.link("a1-client")):
        assert artemis.handshake(hostport, timeout=5, tls=artemis.client_tls(ca))
        with artemis.connect(hostport, 5, artemis.client_tls(ca)) as s:
            peer = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
            assert peer == x509.load_pem_x509_certificates(artemis_tls.certs.cert.read_bytes())[0]
        with pytest.raises(ssl.SSLCertVerificationError):
            artemis.connect(hostport, 5, ssl.create_default_context()).close()
    assert artemis_tls.url("a1-client") == f"amqps://{artemis_tls.addrs.link('a1-client')}"
    all_on_loopback(artemis_tls)


# -- Artemis with security --


def anonymous_close(hostport: str) -> bytes:
    """SASL ANONYMOUS (the broker offers it), then an AMQP open: the broker's close frame."""
    with artemis.connect(hostport, 5) as s:
        r = artemis._Reader(s)
        assert artemis.sasl(s, "ANONYMOUS", b"", r) == 0, "SASL ANONYMOUS itself was refused"
        s.sendall(artemis._HEADER + artemis._OPEN)
        assert r.header() == artemis._HEADER
        while not (body := r.frame()).startswith(b"\x00\x53\x18"):
            pass
        return body


def test_artemis_auth_refuses_a_wrong_password_and_anonymous_and_accepts_the_right_one(artemis_auth):
    artemis_auth.reset()
    for hostport in (artemis_auth.addrs.service("a1", "amqp"), artemis_auth.addrs.link("a1-client")):
        with artemis.connect(hostport, 5) as s:
            assert artemis.sasl(s, "PLAIN", artemis.plain(USER, PASSWORD)) == 0
        with artemis.connect(hostport, 5) as s:
            assert artemis.sasl(s, "PLAIN", artemis.plain(USER, "wrong")) == 1  # auth failed
        assert artemis.handshake(hostport, 5, login=(USER, PASSWORD))
        assert not artemis.handshake(hostport, 5, login=(USER, "wrong"))
        # No SASL at all: the broker answers with its SASL header, nothing opens.
        assert not artemis.handshake(hostport, 5)
        # ANONYMOUS passes SASL, but the connection is closed at once (no guest login module).
        close = anonymous_close(hostport)
        assert b"amqp:unauthorized-access" in close and b"Username: null" in close, close
    all_on_loopback(artemis_auth)


def test_artemis_reload_users_takes_effect_and_comes_back(artemis_auth):
    artemis_auth.reset()
    svc = artemis_auth.topology.service("a1")
    hostport = artemis_auth.addrs.service("a1", "amqp")
    pid = artemis_auth.pids()["a1"]
    args = (svc, artemis_auth.topology, artemis_auth.addrs, artemis_auth.workdir, artemis_auth.instance, pid)
    try:
        artemis.reload_users(*args, ((USER, "changed"),))
        assert not artemis.handshake(hostport, 5, login=(USER, PASSWORD))
        assert artemis.handshake(hostport, 5, login=(USER, "changed"))
    finally:
        artemis.reload_users(*args, svc.users)
    assert artemis.handshake(hostport, 5, login=(USER, PASSWORD))


# -- nothing outside the workdir; teardown --


def _files_holding(needles: list[bytes], roots: list[Path], since: float, skip: list[Path]) -> list[Path]:
    """Files under `roots` changed since `since` that contain any of `needles`."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            dirnames[:] = [n for n in dirnames if not any((d / n).is_relative_to(s) for s in skip)]
            for name in filenames:
                p = d / name
                try:
                    st = p.lstat()
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime < since or st.st_size > 4_000_000:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    found.append(p)
    return found


def test_certs_only_in_the_workdir_and_teardown_leaves_nothing(tmp_path):
    since = time.time() - 1
    workdir = tmp_path / "w"
    live = LocalTopology.up(topology.get("artemis-1-tls"), workdir)
    try:
        c = live.certs
        pids = live.pids()
        starts = {name: p.start for name, p in live.services.items()}
        starts["toxiproxy-server"] = live.proxy_proc.start
        all_ports = live.addrs.all_ports()
        key_pem = c.key.read_bytes()
        needles = [
            c.ca.read_bytes(),
            key_pem.split(b"\n")[1],  # the first line of the key's base64
            x509.load_pem_x509_certificate(c.ca.read_bytes()).public_bytes(serialization.Encoding.DER),
            c.keystore.read_bytes(),
            c.keystore_password.encode(),
        ]
    finally:
        live.down()
    roots = [Path(tempfile.gettempdir()), paths.ROOT, Path.home()]
    skip = [paths.ROOT / ".git", paths.ROOT / ".venv", paths.ROOT / ".tools", paths.ROOT / "harness/drivers/rhea"]
    found = _files_holding(needles, roots, since, skip)
    outside = [p for p in found if not p.is_relative_to(workdir)]
    assert not outside, f"certificate material outside the workdir: {outside}"
    # broker.xml names the keystore and its password: inside the workdir too.
    assert any(p.name == "broker.xml" and p.is_relative_to(workdir) for p in found)
    left = [f"{n} (pid {pid})" for n, pid in pids.items() if ports.process_start_time(pid) == starts[n]]
    assert not left, f"still running after down(): {left}"
    busy = [p for p in all_ports if p != live.addrs.sink and not ports.bindable(p)]
    assert not busy, f"ports still bound after down(): {busy}"
