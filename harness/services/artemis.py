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
import struct
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from harness import paths
from harness.errors import EnvironmentFault

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

# amqpDuplicateDetection off: the broker must not hide a client's resends.
ACCEPTOR_PARAMS = "protocols=AMQP;amqpCredits=1000;amqpLowCredits=300;amqpDuplicateDetection=false"

BROKER_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by harness/services/artemis.py on every start; edits here are lost. -->
<configuration xmlns="urn:activemq" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
               xsi:schemaLocation="urn:activemq /schema/artemis-configuration.xsd">
   <core xmlns="urn:activemq:core">
      <name>{name}</name>
      <persistence-enabled>false</persistence-enabled>
      <security-enabled>false</security-enabled>
      <!-- Unused without persistence; set so that the broker does not warn about them. -->
      <journal-type>NIO</journal-type>
      <journal-pool-files>10</journal-pool-files>
      <jmx-management-enabled>false</jmx-management-enabled>
      <!-- A paused (SIGSTOP) broker must not halt itself when it is resumed. -->
      <critical-analyzer>false</critical-analyzer>
      <!-- A nearly full disk must not block producers in the middle of a scenario. -->
      <max-disk-usage>100</max-disk-usage>
      <acceptors>
         <acceptor name="amqp">tcp://{listen}?{params}</acceptor>
      </acceptors>
      <address-settings>
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


def home() -> Path:
    """ARTEMIS_HOME: the distribution `make setup` installed."""
    entry = paths.manifest().get("binaries", {}).get("artemis")
    if not entry or not (Path(entry["path"]) / "bin" / "artemis").exists():
        raise EnvironmentFault("ActiveMQ Artemis is not installed", "run `make setup`")
    return Path(entry["path"])


def instance_dir(svc: Service, workdir: Path) -> Path:
    return workdir / svc.name


def broker_xml(svc: Service, addrs: Addresses) -> str:
    listen = escape(addrs.listen(svc.name, "amqp"))
    return BROKER_XML.format(name=escape(svc.name), listen=listen, params=escape(ACCEPTOR_PARAMS))


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
    (inst / "etc" / "broker.xml").write_text(broker_xml(svc, addrs))
    # Without persistence a broker starts empty, a restarted one too: drop page files.
    shutil.rmtree(inst / "data", ignore_errors=True)
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


def _frame(body: bytes) -> bytes:
    return struct.pack(">IBBH", 8 + len(body), 2, 0, 0) + body  # size, doff, AMQP frame, channel 0


# An AMQP 1.0 protocol header, an open (container-id "harness-ready") and a close:
# the smallest conversation the broker answers in kind and logs nothing about.
_CID = b"harness-ready"
_OPEN = _frame(b"\x00\x53\x10\xc0" + bytes([len(_CID) + 3, 1, 0xA1, len(_CID)]) + _CID)
_CLOSE = _frame(b"\x00\x53\x18\x45")
_HEADER = b"AMQP\x00\x01\x00\x00"


def handshake(addr: str, timeout: float = 1.0) -> bool:
    """An AMQP open and close completes at `addr` (a paused broker accepts the TCP
    connection in the kernel, but never answers)."""
    host, port = addr.rsplit(":", 1)
    got = b""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(_HEADER + _OPEN + _CLOSE)
            while b"\x00\x53\x18" not in got[8:]:  # until the broker's close
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError:
        return False
    return got.startswith(_HEADER) and b"\x00\x53\x10" in got


def ready(svc: Service, addrs: Addresses, workdir: Path) -> bool:
    """The broker says it is active, and its AMQP acceptor completes a handshake."""
    return LIVE in console(svc, workdir) and handshake(addrs.service(svc.name, "amqp"))


def version(svc: Service, addrs: Addresses, workdir: Path) -> str | None:
    m = STARTED.search(console(svc, workdir))
    return m[1] if m else None
