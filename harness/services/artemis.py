"""ActiveMQ Artemis: an AMQP broker, one instance folder per service, one AMQP acceptor.

The instance is made once per workdir with the distribution's `artemis create`
(half a second on an idle host); every start after that, a restart after a kill
included, only rewrites etc/broker.xml and runs the instance's `bin/artemis run`,
which execs the JVM (SIGTERM: a clean exit, code 143, in about 0.15 s). The broker
logs to its console (the backend's workdir/<name>.log, appended over restarts)
and to <instance>/log/artemis.log.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.sax.saxutils import escape

from harness import certs, paths
from harness.errors import EnvironmentFault
from harness.services import artemis_ha

if TYPE_CHECKING:
    from harness.services import Addresses
    from harness.topology import Service, Topology

KIND = "artemis"
SCHEME = "amqp"

# The JVM of one broker: small heap, serial GC and C1 only, for a fast start and a
# small footprint (12 brokers under `pytest -n 4`). The last two options are the
# ones the instance's default profile has that the broker needs.
JAVA_ARGS = (
    "-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError "
    "-Dlog4j2.disableJmx=true --add-opens java.base/jdk.internal.misc=ALL-UNNAMED"
)

LIVE = "AMQ221007"  # "Server is now active"
# "AMQ101000: Starting Apache Artemis Server version 2.56.0" comes first, then
# "AMQ221001: Apache Artemis Message Broker version 2.56.0 [a1, nodeID=...]" after LIVE.
STARTED = re.compile(r"AMQ(?:101000|221001): [^\n]*? version (\d\S*)")
# "AMQ222080: Error creating acceptor: amqp", a stack trace, then "Caused by: ...":
# the broker goes on to say it is active, with nothing listening.
ACCEPTOR_FAILED = re.compile(r"AMQ222080: Error creating acceptor: (\S+)")
CAUSE = re.compile(r"^Caused by: (?:[\w.$]+: )?(.*)$", re.MULTILINE)

# amqpDuplicateDetection off: the broker must not hide a client's resends.
ACCEPTOR_PARAMS = "protocols=AMQP;amqpCredits=1000;amqpLowCredits=300;amqpDuplicateDetection=false"

BROKER_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by harness/services/artemis.py on every start; edits here are lost. -->
<configuration xmlns="urn:activemq" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
               xsi:schemaLocation="urn:activemq /schema/artemis-configuration.xsd">
   <core xmlns="urn:activemq:core">
      <name>{name}</name>
      <persistence-enabled>{persistence}</persistence-enabled>
      <security-enabled>{security}</security-enabled>
{security_cache}      <!-- Unused without persistence; set so that the broker does not warn about them. -->
      <journal-type>NIO</journal-type>
      <journal-pool-files>10</journal-pool-files>
      <jmx-management-enabled>false</jmx-management-enabled>
      <!-- A paused (SIGSTOP) broker must not halt itself when it is resumed. -->
      <critical-analyzer>false</critical-analyzer>
      <!-- A nearly full disk must not block producers in the middle of a scenario. -->
      <max-disk-usage>100</max-disk-usage>
      <acceptors>
         <acceptor name="amqp">tcp://{listen}?{params}</acceptor>
{core_acceptor}      </acceptors>
{ha}{security_settings}      <address-settings>
         <address-setting match="#">
            <auto-create-addresses>true</auto-create-addresses>
            <auto-create-queues>true</auto-create-queues>
            <auto-delete-addresses>false</auto-delete-addresses>
            <auto-delete-queues>false</auto-delete-queues>
            <default-address-routing-type>ANYCAST</default-address-routing-type>
            <default-queue-routing-type>ANYCAST</default-queue-routing-type>
         </address-setting>
      </address-settings>
   </core>
</configuration>
"""


def scheme(svc: Service) -> str:
    """The URL scheme clients use for this broker: amqps:// on a TLS acceptor."""
    return "amqps" if svc.tls else SCHEME


def home() -> Path:
    """ARTEMIS_HOME: the distribution the set-up installed."""
    entry = paths.installed("artemis")
    if not entry or not (Path(entry["path"]) / "bin" / "artemis").exists():
        raise EnvironmentFault("ActiveMQ Artemis is not installed", f"run `{paths.SETUP_COMMAND}`")
    return Path(entry["path"])


def instance_dir(svc: Service, workdir: Path) -> Path:
    return workdir / svc.name


# With security on, the one role every user of the service has may do everything
# a client of the scenarios does (auto-create included); nobody else may do anything.
ROLE = "harness"
SECURITY_SETTINGS = """\
      <security-settings>
         <security-setting match="#">
            <permission type="createNonDurableQueue" roles="{role}"/>
            <permission type="deleteNonDurableQueue" roles="{role}"/>
            <permission type="createDurableQueue" roles="{role}"/>
            <permission type="deleteDurableQueue" roles="{role}"/>
            <permission type="createAddress" roles="{role}"/>
            <permission type="deleteAddress" roles="{role}"/>
            <permission type="consume" roles="{role}"/>
            <permission type="browse" roles="{role}"/>
            <permission type="send" roles="{role}"/>
         </security-setting>
      </security-settings>
"""

# No authentication cache: by default the broker keeps a successful login for 10 s
# (security-invalidation-interval) and would let a client back in with a password
# that has just been changed; every login is checked against the users file.
SECURITY_CACHE = """\
      <authentication-cache-size>0</authentication-cache-size>
      <authorization-cache-size>0</authorization-cache-size>
"""

# The JAAS domain bootstrap.xml names ("activemq"): users from the properties files
# only. `artemis create --allow-anonymous` also lists the GuestLoginModule, which
# logs in anyone without (or with wrong) credentials as a guest; it is left out, so
# anonymous access is refused. reload=true re-reads the files when they change.
LOGIN_CONFIG = """\
/* Written by harness/services/artemis.py on every start; edits here are lost. */
activemq {
   org.apache.activemq.artemis.spi.core.security.jaas.PropertiesLoginModule required
       debug=false
       reload=true
       org.apache.activemq.jaas.properties.user="artemis-users.properties"
       org.apache.activemq.jaas.properties.role="artemis-roles.properties";
};
"""


def acceptor_params(svc: Service, workdir: Path) -> str:
    params = ACCEPTOR_PARAMS
    if svc.tls:
        tls = certs.at(workdir)
        # The acceptor's parameters are a URI query, and the broker URL-decodes each
        # value twice (Artemis 2.56: encoded once, "%2B" still arrived as a space): a
        # '+' in the path (an --out of "jobs-auto+hog") named no store, and the broker
        # ran without its acceptor. tests/test_tls_auth_live.py runs in such a path.
        store = quote(quote(str(tls.keystore), safe="/"), safe="/")
        params += f";sslEnabled=true;keyStoreType=PKCS12;keyStorePath={store};keyStorePassword={tls.keystore_password}"
    return params


def broker_xml(svc: Service, addrs: Addresses, workdir: Path | None = None, topo: Topology | None = None) -> str:
    listen = escape(addrs.listen(svc.name, "amqp"))
    params = acceptor_params(svc, workdir) if workdir is not None else ACCEPTOR_PARAMS
    if svc.tls and workdir is None:
        raise ValueError(f"{svc.name} has TLS: its certificates are in the workdir, which is needed")
    if svc.ha and (workdir is None or topo is None):
        raise ValueError(f"{svc.name} is in an HA pair: its store is in the workdir and its peer in the topology")
    # A pair member persists (its journal is what the backup takes over); a broker on
    # its own starts empty every time.
    ha = artemis_ha.xml(svc, topo, addrs, workdir) if svc.ha and topo and workdir else ""
    return BROKER_XML.format(
        persistence="true" if svc.ha else "false",
        core_acceptor=artemis_ha.core_acceptor(svc, addrs) if svc.ha else "",
        ha=ha,
        name=escape(svc.name),
        listen=listen,
        params=escape(params),
        security="true" if svc.users else "false",
        security_settings=SECURITY_SETTINGS.format(role=ROLE) if svc.users else "",
        security_cache=SECURITY_CACHE if svc.users else "",
    )


def _properties_escape(text: str) -> str:
    """A key or value for a java.util.Properties file (the users and roles files)."""
    out = []
    for ch in text:
        if ch in "\\=:#! " or not ch.isprintable() or ord(ch) > 126:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def write_security(svc: Service, inst: Path) -> None:
    """The instance's login.config, users and roles for `svc.users` (security on)."""
    etc = inst / "etc"
    (etc / "login.config").write_text(LOGIN_CONFIG)
    header = "# Written by harness/services/artemis.py on every start; edits here are lost.\n"
    users = "".join(f"{_properties_escape(u)} = {_properties_escape(p)}\n" for u, p in svc.users)
    (etc / "artemis-users.properties").write_text(header + users)
    members = ",".join(_properties_escape(u) for u, _ in svc.users)
    (etc / "artemis-roles.properties").write_text(header + f"{ROLE} = {members}\n")


def _create(artemis_home: Path, instance: Path, name: str) -> None:
    argv = [
        str(artemis_home / "bin" / "artemis"),
        "create",
        "--silent",
        "--force",
        "--no-autotune",
        "--no-web",
        "--allow-anonymous",
        "--user=harness",
        "--password=harness",
        f"--name={name}",
        "--host=127.0.0.1",
        "--disable-persistence",
        str(instance),
    ]
    # The utility JVM `create` runs in, kept small as well.
    env = {**os.environ, "JAVA_ARGS": "-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"}
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentFault(f"could not create the Artemis instance {instance}: {e}") from e
    if out.returncode != 0 or not (instance / "bin" / "artemis").exists():
        tail = " | ".join((out.stdout + out.stderr).strip().splitlines()[-3:])
        raise EnvironmentFault(
            f"`artemis create` failed for {name} with code {out.returncode} ({tail})", "check Java with `java -version`"
        )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _marker(workdir: Path, svc: Service) -> Path:
    return instance_dir(svc, workdir) / "harness-log-offset"


def launch(
    svc: Service, topo: Topology, addrs: Addresses, workdir: Path, instance: str
) -> tuple[list[str], dict | None]:
    """Create the broker instance if it is not there yet, write its broker.xml; the
    command that runs it (and its env)."""
    artemis_home = home()
    inst = instance_dir(svc, workdir)
    profile = inst / "etc" / "artemis.profile"
    # A workdir that is kept (`harness up`) may hold an instance of another install.
    if not (inst / "bin" / "artemis").exists() or f"ARTEMIS_HOME='{artemis_home}'" not in _read(profile):
        _create(artemis_home, inst, svc.name)
    (inst / "etc" / "broker.xml").write_text(broker_xml(svc, addrs, workdir, topo))
    if svc.users:
        write_security(svc, inst)
    # Without persistence a broker starts empty, a restarted one too: drop page files.
    # A pair member's store is elsewhere (artemis_ha.store) and outlives its restarts.
    shutil.rmtree(inst / "data", ignore_errors=True)
    if svc.ha:
        artemis_ha.remember_announced(svc, topo, addrs, inst)
    # The backend appends every run's console to one log: ready() and version()
    # read only what this run writes, from the size the log has now.
    log = workdir / f"{svc.name}.log"
    _marker(workdir, svc).write_text(str(log.stat().st_size if log.exists() else 0))
    env = {**os.environ, "JAVA_ARGS": JAVA_ARGS}
    return [str(inst / "bin" / "artemis"), "run"], env


def console(svc: Service, workdir: Path) -> str:
    """What the broker's current run has logged to its console so far."""
    try:
        offset = int(_marker(workdir, svc).read_text())
        with open(workdir / f"{svc.name}.log", "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""


def _frame(body: bytes, kind: int = 0) -> bytes:
    # size, doff, frame type (0 AMQP, 1 SASL), channel 0
    return struct.pack(">IBBH", 8 + len(body), 2, kind, 0) + body


# An AMQP 1.0 protocol header, an open (container-id "harness-ready") and a close:
# the smallest conversation the broker answers in kind and logs nothing about.
_CID = b"harness-ready"
_OPEN = _frame(b"\x00\x53\x10\xc0" + bytes([len(_CID) + 3, 1, 0xA1, len(_CID)]) + _CID)
_CLOSE = _frame(b"\x00\x53\x18\x45")
_HEADER = b"AMQP\x00\x01\x00\x00"
_SASL_HEADER = b"AMQP\x03\x01\x00\x00"
_SASL_MECHANISMS, _SASL_OUTCOME = b"\x00\x53\x40", b"\x00\x53\x44"


def _sasl_init(mechanism: bytes, response: bytes | None) -> bytes:
    """A sasl-init frame: the mechanism (sym8) and, if given, its initial response (vbin8)."""
    fields = bytes([0xA3, len(mechanism)]) + mechanism
    count = 1
    if response is not None:
        fields += bytes([0xA0, len(response)]) + response
        count = 2
    return _frame(b"\x00\x53\x41\xc0" + bytes([len(fields) + 1, count]) + fields, kind=1)


class _Reader:
    """Reads the broker's protocol header and frames off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed by the broker")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def header(self) -> bytes:
        return self._need(8)

    def frame(self) -> bytes:
        """The next frame's body (performative and payload); empty frames skipped."""
        while True:
            size, doff = struct.unpack(">IB", self._need(5))
            self._need(3)
            body = self._need(size - 8)[doff * 4 - 8 :]
            if body:
                return body


def sasl_outcome(body: bytes) -> int | None:
    """The code of a sasl-outcome frame body (0 ok, 1 auth failed, ...), None if it is not one."""
    if not body.startswith(_SASL_OUTCOME):
        return None
    rest = body[3:]
    # list8 (0xc0 size count) or list32 (0xd0 size4 count4), then the code as a ubyte (0x50)
    first = rest[3:] if rest[:1] == b"\xc0" else rest[9:] if rest[:1] == b"\xd0" else b""
    return first[1] if first[:1] == b"\x50" and len(first) > 1 else None


def sasl(sock: socket.socket, mechanism: str, response: bytes | None, reader: _Reader | None = None) -> int | None:
    """A SASL exchange on a fresh connection: the outcome's code (None if the broker
    answered something else or closed). The broker's mechanisms are not checked: it
    answers a mechanism it does not offer with a failed outcome, which is the answer.
    Pass the `reader` that goes on reading the connection: the broker may send its
    AMQP header right behind the outcome, in the same read."""
    r = reader or _Reader(sock)
    sock.sendall(_SASL_HEADER)
    if r.header() != _SASL_HEADER:
        return None
    while not (body := r.frame()).startswith(_SASL_MECHANISMS):
        pass
    sock.sendall(_sasl_init(mechanism.encode(), response))
    while True:
        body = r.frame()
        if body.startswith(_SASL_OUTCOME):
            return sasl_outcome(body)


def plain(user: str, password: str) -> bytes:
    """SASL PLAIN's initial response: no authorization id, the user, the password."""
    return b"\x00" + user.encode() + b"\x00" + password.encode()


def client_tls(ca: Path) -> ssl.SSLContext:
    """How the probe (and the tests) trust a TLS acceptor: the run's CA, the name checked."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def connect(addr: str, timeout: float = 1.0, tls: ssl.SSLContext | None = None) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def handshake(
    addr: str, timeout: float = 1.0, *, tls: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
) -> bool:
    """An AMQP open and close completes at `addr` (a paused broker accepts the TCP
    connection in the kernel, but never answers). `tls`: over TLS, checking the
    broker's certificate; `login`: after a SASL PLAIN login, which must succeed."""
    try:
        with connect(addr, timeout, tls) as s:
            r = _Reader(s)
            if login is not None and sasl(s, "PLAIN", plain(*login), r) != 0:
                return False
            s.sendall(_HEADER + _OPEN + _CLOSE)
            if r.header() != _HEADER:
                return False
            opened = False
            while True:  # until the broker's close
                body = r.frame()
                opened |= body.startswith(b"\x00\x53\x10")
                if body.startswith(b"\x00\x53\x18"):
                    return opened
    except (OSError, ValueError, struct.error):
        return False


def probe(svc: Service, addrs: Addresses, workdir: Path, timeout: float = 1.0) -> bool:
    """The service's own acceptor completes a handshake the way it is configured:
    over TLS with the run's CA, and logged in as its first user."""
    tls = client_tls(certs.at(workdir).ca) if svc.tls else None
    login = svc.users[0] if svc.users else None
    return handshake(addrs.service(svc.name, "amqp"), timeout, tls=tls, login=login)


def acceptor_error(said: str) -> str | None:
    """The broker's own words, in its console `said`, for an acceptor it could not
    create (the deepest cause it logged); None when it logged none."""
    m = ACCEPTOR_FAILED.search(said)
    if not m:
        return None
    causes = CAUSE.findall(said, m.end())
    return f"its {m[1]} acceptor could not be created" + (f": {causes[-1].strip()}" if causes else "")


def startup_error(svc: Service, workdir: Path) -> str | None:
    """Why the broker's current run will not serve, in its own words: one that could
    not create its acceptor runs on without one, so waiting would only time out."""
    return acceptor_error(console(svc, workdir))


def ready(svc: Service, addrs: Addresses, workdir: Path) -> bool:
    """The broker says it is active, and its AMQP acceptor completes a handshake. A
    standby backup serves nothing: it is ready once its primary names it to clients."""
    said = console(svc, workdir)
    if svc.ha == "backup" and artemis_ha.BACKUP_ACTIVE not in said:
        primary = addrs.service(svc.cluster[0], "amqp")
        return artemis_ha.backup_announced(said, primary, artemis_ha.announced_address(instance_dir(svc, workdir)))
    live = LIVE in said or artemis_ha.BACKUP_ACTIVE in said
    return live and probe(svc, addrs, workdir)


def waiting_for(svc: Service) -> str | None:
    """What ready() waits for, when it is more than being up (a pair member)."""
    return artemis_ha.waiting_for(svc) if svc.ha else None


def in_role(svc: Service, workdir: Path) -> bool:
    """A pair member's current run is in the part it was started for: the primary
    live, the backup standing by (it never took over, nor gave back)."""
    said = console(svc, workdir)
    if svc.ha == "primary":
        return LIVE in said
    return artemis_ha.BACKUP_ACTIVE not in said and artemis_ha.FAILBACK not in said


def wipe_store(svc: Service, workdir: Path) -> None:
    artemis_ha.wipe(svc, workdir)


def reload_users(
    svc: Service, topo: Topology, addrs: Addresses, workdir: Path, instance: str, pid: int, users: tuple
) -> None:
    """Give the running broker other users (passwords): its users file is rewritten,
    and the login module (reload=true) reads it again at the next login. Returns once
    a login with the first new user succeeds. Open connections are left alone.
    `launch` renders `svc.users` again on a restart."""
    changed = replace(svc, users=tuple(users))
    write_security(changed, instance_dir(svc, workdir))
    gone = [u for u in svc.users if u not in changed.users]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # In force: the new login works and a login that was dropped no longer does.
        if probe(changed, addrs, workdir) and not any(probe(replace(svc, users=(u,)), addrs, workdir) for u in gone):
            return
        time.sleep(0.05)
    raise EnvironmentFault(f"{svc.name} did not take its new users within 10 s", f"see {workdir}/{svc.name}.log")


def version(svc: Service, addrs: Addresses, workdir: Path) -> str | None:
    m = STARTED.search(console(svc, workdir))
    return m[1] if m else None
