"""The local backend: every server a plain process on this host, on loopback ports.

Bring-up order: claim ports, start Toxiproxy (its stdout becomes the wire log),
create one proxy per link, start the services, wait until each is ready (checked,
never slept for). Teardown stops everything it started and releases the ports,
also on an error or Ctrl-C half way through.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import certs, ports, procs
from harness.clock import now_ns
from harness.errors import EnvironmentFault, Unavailable
from harness.procs import Proc, wait_until
from harness.services import KINDS, Addresses, toxiproxy_server
from harness.topology import Service, Topology
from harness.toxiproxy import ToxiproxyClient
from harness.wire import WireLog

# How long a server may take to be ready. Only waited when it is slow: a broker JVM on a
# loaded 2-core runner (four jobs, Artemis restarting after a kill) took over 30 s. It
# counts the server's served time (procs.ServedTime): beside a CPU hog, wall time is
# mostly the JVM waiting for a core, which says nothing about the broker.
READY_TIMEOUT_S = 60


class LocalTopology:
    backend = "local"
    proxies_on_host = True

    def __init__(self, topology: Topology, workdir: Path, detached: bool = False, name: str | None = None) -> None:
        self.topology = topology
        self.workdir = workdir
        self.detached = detached
        # The name `harness up` keeps a detached topology under (default: the topology's).
        self.name = name or topology.name
        # Where processes started for a detached topology are recorded once it is
        # detached (a service started again by a fault), so `harness down` finds them.
        self.record: Path | None = None
        self.instance = uuid.uuid4().hex[:8]
        self.addrs = Addresses()
        self.toxiproxy = ToxiproxyClient(self.addrs.host, 0)
        self.proxy_proc: Proc | None = None
        self.wire: WireLog | None = None
        self.services: dict[str, Proc] = {}
        self._claimed: list[int] = []
        self._paused: set[str] = set()
        # The throwaway CA and server certificate of a topology with TLS, made
        # once per instance into its workdir (harness/certs.py); None without TLS.
        self.certs: certs.Certs | None = None
        self._down: set[str] = set()  # stopped on purpose (a kill fault): not a death

    # -- bring-up --

    @classmethod
    def up(cls, topology: Topology, workdir: Path, detached: bool = False, name: str | None = None) -> LocalTopology:
        live = cls(topology, workdir, detached, name)
        try:
            live._up()
        except BaseException:
            live.down()
            raise
        return live

    def _up(self) -> None:
        topo = self.topology
        # A server this machine cannot run (no router binary) is known before
        # anything starts: the scenario is skipped at once, with nothing to stop.
        for svc in topo.services:
            check = getattr(KINDS[svc.kind], "available", None)
            if check is not None:
                check()
        self.workdir.mkdir(parents=True, exist_ok=True)
        service_ports = [(s.name, p) for s in topo.services for p in s.ports]
        count = 2 + len(service_ports) + len(topo.links)
        self._claimed = ports.claim(count, f"{topo.name}/{self.instance}")
        it = iter(self._claimed)
        self.addrs.api, self.addrs.sink = next(it), next(it)
        self.addrs.services = {sp: next(it) for sp in service_ports}
        self.addrs.links = {link.name: next(it) for link in topo.links}
        self.toxiproxy = ToxiproxyClient(self.addrs.host, self.addrs.api)
        if topo.tls:
            self.certs = certs.generate(self.workdir, f"{topo.name}/{self.instance}")

        self._start_toxiproxy()
        for link in topo.links:
            upstream = (
                self.addrs.service(link.to, link.port)
                if link.to and link.port
                else f"{self.addrs.host}:{self.addrs.sink}"
            )
            self.toxiproxy.create(link.name, self.addrs.link(link.name), upstream)
        self._wipe_pairs(topo.services)
        # Preparing a service can be slow (a broker instance is made by a JVM run):
        # prepare them side by side, then start them from this thread (children
        # die with the thread that started them).
        with ThreadPoolExecutor(max_workers=len(topo.services) or 1) as pool:
            launches = list(pool.map(self._launch, [svc.name for svc in topo.services]))
        for svc, launch in zip(topo.services, launches, strict=True):
            self._after_primary(svc.name)
            self._spawn_service(svc.name, launch)
        for svc in topo.services:
            self._wait_ready(svc.name)

    def _start_toxiproxy(self) -> None:
        log = self.workdir / "toxiproxy.log"
        argv = toxiproxy_server.argv(self.addrs.host, self.addrs.api)
        if self.detached:
            self.proxy_proc = procs.spawn(
                "toxiproxy-server", argv, log=log, env=toxiproxy_server.env(), outlive_harness=True
            )
        else:
            self.proxy_proc = procs.spawn(
                "toxiproxy-server",
                argv,
                log=self.workdir / "toxiproxy.stderr",
                stdout=subprocess.PIPE,
                env=toxiproxy_server.env(),
            )
            self.wire = WireLog(self.proxy_proc.popen.stdout, log)
        wait_until(self.toxiproxy.answering, READY_TIMEOUT_S, "toxiproxy-server to answer", self.proxy_proc)

    def _service_module(self, name: str):
        return KINDS[self.topology.service(name).kind]

    def _launch(self, name: str) -> tuple[list[str], dict | None]:
        svc = self.topology.service(name)
        return self._service_module(name).launch(svc, self.topology, self.addrs, self.workdir, self.instance)

    def _start_service(self, name: str) -> None:
        self._spawn_service(name, self._launch(name))

    def _spawn_service(self, name: str, launch: tuple[list[str], dict | None]) -> None:
        argv, env = launch
        self.services[name] = procs.spawn(
            name, argv, log=self.workdir / f"{name}.log", env=env, outlive_harness=self.detached, record=self.record
        )

    def _wipe_pairs(self, members: Iterable[Service]) -> None:
        """HA pairs start on an empty shared store (nothing of an earlier run's journal)."""
        for svc in members:
            if svc.ha == "primary":
                self._service_module(svc.name).wipe_store(svc, self.workdir)

    def _after_primary(self, name: str) -> None:
        """A backup starts once its primary is live: on an empty shared store the
        first to start writes the node's id, and a backup that wrote its own (both
        started at once) is the backup of no one, never named by the primary.
        A service that dials a pair member (a router's connector) starts once the
        pair is in place: the primary names its backup only in the Opens it sends
        after the backup announced itself, and a router reads that list only from
        an Open, so one that connected earlier would never learn of the backup."""
        svc = self.topology.service(name)
        if svc.ha == "backup":
            self._wait_ready(svc.cluster[0])
        for backup in self._pairs_dialled(svc):
            self._wait_ready(backup)

    def _pairs_dialled(self, svc: Service) -> list[str]:
        """The backups of the HA pairs whose members `svc` dials (route links)."""
        out: list[str] = []
        for link in self.topology.links:
            if link.role != "route" or link.origin != svc.name or link.to is None:
                continue
            member = self.topology.service(link.to)
            backup = member.cluster[-1] if member.ha else None
            if backup and backup not in out:
                out.append(backup)
        return out

    def _pairs_in_place(self) -> None:
        """Stop every HA pair whose members are not in their parts (the backup took
        over, the primary is down): the pair starts again from the primary, so that
        no entry begins with a failback, which is slow and is a scenario's to measure."""
        topo = self.topology
        for svc in topo.services:
            if svc.ha != "primary":
                continue
            members = [topo.service(n) for n in svc.cluster]
            if all(self._in_place(m) for m in members):
                continue
            # The backup first: a primary stopped while its backup stands by hands over to it.
            for m in reversed(members):
                self._down.add(m.name)
                self.services[m.name].stop()
            self._wipe_pairs([svc])
            # Whatever dials the pair starts again after it (see _after_primary).
            for other in topo.services:
                if svc.cluster[-1] in self._pairs_dialled(other):
                    self._down.add(other.name)
                    self.services[other.name].stop()

    def _in_place(self, svc: Service) -> bool:
        """Running, in the part it was started for, and ready: a backup no longer
        named by its primary makes its pair start afresh too."""
        mod = self._service_module(svc.name)
        alive = self.services[svc.name].alive()
        return alive and mod.in_role(svc, self.workdir) and mod.ready(svc, self.addrs, self.workdir)

    def _wait_ready(self, name: str) -> None:
        svc = self.topology.service(name)
        mod = self._service_module(name)
        what = getattr(mod, "waiting_for", lambda _svc: None)(svc) or f"{name} ({svc.kind}) to be ready"
        # A server that says why it will not serve (a configuration it refuses, an
        # acceptor it could not create) is shown by its own line, as soon as it
        # says it, rather than by the log's tail or a timeout.
        said = getattr(mod, "startup_error", lambda _svc, _workdir: None)

        def refused() -> None:
            if line := said(svc, self.workdir):
                raise EnvironmentFault(f"{name} ({svc.kind}) did not start: {line}", f"see {self.workdir}/{name}.log")

        def ready() -> bool:
            refused()
            return mod.ready(svc, self.addrs, self.workdir)

        try:
            wait_until(ready, READY_TIMEOUT_S, what, self.services[name], served=True)
        except EnvironmentFault:
            # It may have said so just before it exited, after the last poll.
            if not self.services[name].alive():
                refused()
            raise

    # -- what faults and scenarios use --

    def url(self, link: str) -> str:
        target = self.topology.link(link).to
        # The service says which scheme its clients use (tls://, amqps:// with TLS).
        scheme = self._service_module(target).scheme(self.topology.service(target)) if target else "tcp"
        return f"{scheme}://{self.addrs.link(link)}"

    def wire_events(self, since_ns: int, until_ns: int | None = None) -> list[dict]:
        return self.wire.events(since_ns, until_ns) if self.wire else []

    def kill(self, service: str) -> None:
        proc = self.services[service]
        self._down.add(service)
        proc.signal(signal.SIGKILL)
        proc.wait(10)
        procs.forget(proc)

    def pause(self, service: str) -> None:
        proc = self.services[service]
        proc.signal(signal.SIGSTOP)
        self._paused.add(service)
        # The kernel stops each thread only when it next runs: wait until all have,
        # so the fault is in force when pause() returns.
        wait_until(proc.stopped, 5, f"{service} to stop (SIGSTOP)", interval=0.001)

    def resume(self, service: str) -> None:
        self.services[service].signal(signal.SIGCONT)
        self._paused.discard(service)

    def start(self, service: str) -> None:
        """Start a stopped service again on the same ports and wait until it is ready."""
        if self.services[service].alive():
            raise EnvironmentFault(f"{service} is already running")
        self._start_service(service)
        self._wait_ready(service)
        self._down.discard(service)

    def stop(self, service: str) -> None:
        self._down.add(service)
        self.services[service].stop()

    def disconnect(self, service: str) -> None:
        raise Unavailable(
            f"isolating {service} from its network needs a container per service", "use --backend compose"
        )

    def reconnect(self, service: str) -> None:
        raise Unavailable(f"{service} was never isolated: the local backend cannot isolate a service")

    def service_state(self, service: str) -> str:
        proc = self.services[service]
        if not proc.alive():
            return "stopped"
        return "paused" if proc.stopped() else "running"

    def isolated(self, service: str) -> bool:
        return False  # disconnect() is refused here

    def health(self) -> list[str]:
        """What died that no fault stopped: a problem of the harness's environment,
        which must never be judged as something the client library did."""
        out = []
        if self.proxy_proc is None or not self.proxy_proc.alive():
            code = self.proxy_proc.returncode if self.proxy_proc else None
            out.append(
                f"toxiproxy-server died during the scenario (exit code {code}); see {self.workdir}/toxiproxy.stderr"
            )
        for name, proc in self.services.items():
            if name not in self._down and not proc.alive():
                tail = proc.log_tail(2)
                out.append(
                    f"{name} exited by itself during the scenario (exit code {proc.returncode})"
                    + (f": {tail}" if tail else "")
                )
        return out

    def reset(self) -> None:
        """Undo every fault: proxies enabled, no toxics, every service running and ready."""
        if self.proxy_proc is None or not self.proxy_proc.alive():
            raise EnvironmentFault("toxiproxy-server is no longer running", f"see {self.workdir}/toxiproxy.stderr")
        self.toxiproxy.reset()
        for name in list(self._paused):
            self.resume(name)
        self._pairs_in_place()
        for name, proc in self.services.items():
            if not proc.alive():
                self._after_primary(name)
                self._start_service(name)
        for name in self.services:
            self._wait_ready(name)
        self._down.clear()

    def versions(self) -> dict[str, str]:
        out = {"toxiproxy": self.toxiproxy.version()}
        for svc in self.topology.services:
            v = self._service_module(svc.name).version(svc, self.addrs, self.workdir)
            if v:
                out[svc.kind] = v
        return out

    def pids(self) -> dict[str, int]:
        out = {name: p.pid for name, p in self.services.items() if p.alive()}
        if self.proxy_proc:
            out["toxiproxy-server"] = self.proxy_proc.pid
        return out

    def down(self) -> None:
        for proc in self.services.values():
            with contextlib.suppress(Exception):
                proc.stop()
        if self.proxy_proc is not None:
            with contextlib.suppress(Exception):
                self.proxy_proc.stop()
            if self.wire:
                self.wire.join()
        ports.release(self._claimed)
        self._claimed = []

    def detach(self) -> dict:
        """Leave the topology running after this process exits (`harness up`)."""
        assert self.proxy_proc is not None
        info = {
            "name": self.name,
            "topology": self.topology.name,
            "backend": self.backend,
            "instance": self.instance,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "since_ns": now_ns(),
            "workdir": str(self.workdir),
            "addrs": self.addrs.to_json(),
            "ports": self._claimed,
            "urls": {x.name: self.url(x.name) for x in self.topology.links if x.role in ("client", "observer")},
            "certs": self.certs.to_json() if self.certs else None,
        }
        ports.transfer(self._claimed, self.proxy_proc.pid, f"{self.name}/{self.instance} (up)")
        self.record = procs.mark_detached(os.getpid(), info)
        return info

    @classmethod
    def adopt(cls, record: dict) -> LocalTopology:
        """The detached topology of a `harness up` record, to fault, inspect or stop from
        another process: its processes known by pid and start time, its proxies through
        Toxiproxy's API. Nothing is started."""
        from harness.topology import get

        info = record["info"]
        live = cls(get(info["topology"]), Path(info["workdir"]), detached=True, name=info["name"])
        live.instance = info["instance"]
        live.record = procs.detached_path(info["name"])
        live.addrs = Addresses.from_json(info["addrs"])
        live.toxiproxy = ToxiproxyClient(live.addrs.host, live.addrs.api)
        live._claimed = list(info["ports"])
        if info.get("certs"):
            live.certs = certs.at(live.workdir)
        for p in record["procs"]:
            log = live.workdir / ("toxiproxy.log" if p["name"] == "toxiproxy-server" else f"{p['name']}.log")
            adopted = procs.Adopted(p["name"], p["pid"], p["start"], log)
            if p["name"] == "toxiproxy-server":
                live.proxy_proc = adopted
            else:
                live.services[p["name"]] = adopted
        for svc in live.topology.services:  # killed by a fault and not started again
            live.services.setdefault(svc.name, procs.Adopted(svc.name, 0, None, live.workdir / f"{svc.name}.log"))
            if not live.services[svc.name].alive():
                live._down.add(svc.name)
        return live
