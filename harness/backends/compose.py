"""The compose backend: a topology's services in containers, through Docker Compose.

Each running topology is its own Compose project (`harness-<instance>`) made from
the committed compose.yaml (plus overrides named in HARNESS_COMPOSE_FILES), with
the published ports this run claimed passed as environment variables, so parallel
runs never collide. Compose brings the project up and down; service faults go
through the Docker SDK (kill, pause/unpause, stop/start, disconnecting a container
from its network). The wire log is the Toxiproxy container's output, attached to
through the Docker API and stamped on arrival: attaching streams it as written
(under 1 ms here), where following the container's log lags by the engine's log
polling (about 150 ms on Podman, up to 250 ms), too coarse for the wire's timings.

Readiness: each service's own health check, run in the container by the backend
(exec) until it passes, rather than the engine's health status: Podman runs health
checks from systemd timers, which a machine without systemd never fires.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from harness import compose_file, paths, ports
from harness.errors import EnvironmentFault, Unavailable, UsageError
from harness.services import Addresses
from harness.topology import Topology
from harness.toxiproxy import ToxiproxyClient
from harness.wire import WireLog

# A pause the engine failed to make is asked for again this often, this far apart.
PAUSE_TRIES = 3
PAUSE_RETRY_S = 0.2

READY_TIMEOUT_S = 120
FILES_ENV = "HARNESS_COMPOSE_FILES"  # extra compose files, colon-separated (compose.local.yaml)
PROJECTS = paths.RUNTIME_STATE / "compose"  # one record per project this host's runs made


def compose_command() -> list[str]:
    """The Compose CLI: the one the set-up built, else `docker compose` on PATH."""
    with contextlib.suppress(EnvironmentFault):
        return [paths.binary("docker-compose")]
    found = shutil.which("docker-compose")
    if found:
        return [found]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    raise EnvironmentFault("Docker Compose is not installed", "run `python3 scripts/setup.py --with-compose`")


def compose_files() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(FILES_ENV, "").split(":") if p]
    files = [paths.ROOT / "compose.yaml", *[p if p.is_absolute() else paths.ROOT / p for p in extra]]
    for f in files:
        if not f.exists():
            raise UsageError(f"compose file {f} does not exist", f"check {FILES_ENV}")
    return files


def compose_argv(project: str | None = None) -> list[str]:
    """The Compose command line with our compose files (and a project name), to
    which a subcommand is added."""
    argv = compose_command()
    for f in compose_files():
        argv += ["-f", str(f)]
    return [*argv, "-p", project] if project else argv


def engine():
    """A Docker SDK client of the engine DOCKER_HOST names (Docker or Podman)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as e:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        raise EnvironmentFault(
            f"no container engine answers at {where} ({type(e).__name__})",
            "start Docker, or Podman's API (`python3 scripts/engine.py start`) and set DOCKER_HOST",
        ) from None
    return client


class _LogPipe:
    """The Toxiproxy container's output, attached to through the Docker API, as a
    stream of lines that WireLog reads."""

    def __init__(self, container) -> None:
        self._r, self._w = os.pipe()
        self._stream = container.attach(stdout=True, stderr=True, stream=True, logs=False)
        self._thread = threading.Thread(target=self._pump, name="compose-wire", daemon=True)
        self._thread.start()
        self.reader = os.fdopen(self._r, "rb")

    def _pump(self) -> None:
        with contextlib.suppress(Exception), os.fdopen(self._w, "wb", buffering=0) as w:
            for chunk in self._stream:
                w.write(chunk)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


class ComposeTopology:
    backend = "compose"
    proxies_on_host = False

    def __init__(self, topology: Topology, workdir: Path) -> None:
        if topology.name not in compose_file.TOPOLOGIES:
            # TLS and authentication need per-run certificates and users mounted in:
            # the local backend's scenarios.
            raise Unavailable(
                f"topology {topology.name} runs on the local backend only",
                f"compose runs {', '.join(compose_file.TOPOLOGIES)}",
            )
        self.topology = topology
        self.workdir = workdir
        self.instance = uuid.uuid4().hex[:8]
        self.project = f"harness-{self.instance}"
        self.at = compose_file.ComposeAddresses(topology)
        self.addrs = Addresses()
        self.toxiproxy = ToxiproxyClient(self.addrs.host, 0)
        self.wire: WireLog | None = None
        self._pipe: _LogPipe | None = None
        self._claimed: list[int] = []
        self._env: dict[str, str] = {}
        self._down: set[str] = set()
        self._cut: set[str] = set()
        self.client = None
        self.images: dict[str, str] = {}

    # -- bring-up --

    @classmethod
    def up(cls, topology: Topology, workdir: Path) -> ComposeTopology:
        live = cls(topology, workdir)
        try:
            live._up()
        except BaseException:
            live.down()
            raise
        return live

    def _names(self) -> list[str]:
        """Every container of the topology, each server's holder before it."""
        t = self.topology
        pairs = [(compose_file.holder_name(t, s.name), compose_file.service_name(t, s.name)) for s in t.services]
        return [self.at.toxiproxy] + [name for pair in pairs for name in pair]

    def _holder(self, service: str):
        """The container whose network namespace the server runs in: what a partition cuts."""
        return self._container(compose_file.holder_name(self.topology, service))

    def _compose(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        argv = [*compose_argv(self.project), *args]
        env = {**os.environ, **self._env}
        try:
            r = subprocess.run(
                argv, cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=timeout, start_new_session=True
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentFault(f"docker compose {args[0]} did not finish within {timeout:.0f} s") from None
        if check and r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise EnvironmentFault(f"docker compose {args[0]} failed for {self.topology.name}: {last}")
        return r

    def _check_available(self) -> None:
        config = json.loads(self._compose("config", "--format", "json").stdout)
        for name in self._names():
            reason = (config["services"].get(name, {}).get("labels") or {}).get(compose_file.UNAVAILABLE)
            if reason:
                raise Unavailable(f"{name} cannot run on this engine: {reason}")

    def _up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client = engine()
        self._check_available()
        published = [x.name for x in self.topology.links if compose_file.published(x.role)]
        self._claimed = ports.claim(1 + len(published), f"{self.topology.name}/{self.project}")
        self.addrs.api = self._claimed[0]
        self.addrs.links = dict(zip(published, self._claimed[1:], strict=True))
        self._env = {compose_file.port_variable(self.topology, "api"): str(self.addrs.api)}
        self._env |= {compose_file.port_variable(self.topology, x): str(p) for x, p in self.addrs.links.items()}
        PROJECTS.mkdir(parents=True, exist_ok=True)
        record = {"project": self.project, "pid": os.getpid(), "start": ports.process_start_time(os.getpid())}
        (PROJECTS / f"{self.project}.json").write_text(json.dumps({**record, "env": self._env}))
        # Create without waiting on the engine's health status (see the module doc).
        r = self._compose("up", "--detach", "--no-deps", "--no-recreate", *self._names(), check=False)
        if r.returncode != 0:
            raise self._up_failure(r.stderr)
        self.toxiproxy = ToxiproxyClient(self.addrs.host, self.addrs.api)
        for name in self._names():
            self._wait_ready(name)
        self._pipe = _LogPipe(self._container(self.at.toxiproxy))
        self.wire = WireLog(self._pipe.reader, self.workdir / "toxiproxy.log")
        self.images = {name: self._container(name).attrs["Config"]["Image"] for name in self._names()}

    def _up_failure(self, stderr: str) -> EnvironmentFault:
        lines = [x for x in stderr.strip().splitlines() if x.strip()]
        text = lines[-1] if lines else "(no output)"
        for name in self._names():
            if name in stderr and ("pull" in stderr.lower() or "image" in stderr.lower()):
                return EnvironmentFault(
                    f"the image of {name} cannot be pulled or found: {text}",
                    "check the engine's registry access, or build local images and use compose.local.yaml",
                )
        return EnvironmentFault(f"docker compose up failed for {self.topology.name}: {text}")

    def _container(self, name: str):
        found = self.client.containers.list(
            all=True,
            filters={"label": [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={name}"]},
        )
        if not found:
            raise EnvironmentFault(f"{name} has no container in project {self.project}")
        return found[0]

    def _healthy(self, name: str) -> bool:
        c = self._container(name)
        c.reload()
        if c.status != "running":
            return False
        state = c.attrs.get("State", {}).get("Health", {}).get("Status")
        if state == "healthy":
            return True
        test = (c.attrs.get("Config", {}).get("Healthcheck") or {}).get("Test") or []
        if not test or test[0] == "NONE":
            return True
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        return c.exec_run(argv).exit_code == 0

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._healthy(name):
            c = self._container(name)
            if c.status in ("exited", "dead"):
                tail = c.logs(tail=2).decode(errors="replace").strip().replace("\n", " | ")
                raise EnvironmentFault(f"{name} exited before it became healthy: {tail or '(no log)'}")
            if time.monotonic() > deadline:
                raise EnvironmentFault(
                    f"{name} did not become healthy within {READY_TIMEOUT_S} s",
                    f"see `docker logs` of project {self.project}",
                )
            time.sleep(0.25)

    # -- what faults and scenarios use --

    def url(self, link: str) -> str:
        target = self.topology.link(link).to
        scheme = "amqp" if target is None else self._scheme(target)
        return f"{scheme}://{self.addrs.link(link)}"

    def _scheme(self, service: str) -> str:
        from harness.services import KINDS

        svc = self.topology.service(service)
        return KINDS[svc.kind].scheme(svc)

    def wire_events(self, since_ns: int, until_ns: int | None = None) -> list[dict]:
        return self.wire.events(since_ns, until_ns) if self.wire else []

    def _svc(self, service: str):
        return self._container(compose_file.service_name(self.topology, service))

    @contextlib.contextmanager
    def _engine(self, what: str, service: str):
        """A service fault the container engine refused is the environment's error, in
        one line (seen: Podman's `runc pause` failing under load, a 500 to the API)."""
        from docker.errors import DockerException

        try:
            yield
        except DockerException as e:
            text = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise EnvironmentFault(f"the container engine could not {what} {service}: {text}") from None

    def kill(self, service: str) -> None:
        self._down.add(service)
        with self._engine("kill", service):
            self._svc(service).kill()

    def pause(self, service: str) -> None:
        """Podman's `runc pause` gives up when the container's processes do not freeze
        in time (an Artemis JVM on a loaded machine: "exit status 1", one entry in a
        `make compose-local` run) and thaws them again; asked once more it freezes. A
        pause refused PAUSE_TRIES times is the environment's error. The fault's instant
        runs until the pause is confirmed, so the retry widens it, never hides it."""
        for tries in range(1, PAUSE_TRIES + 1):
            try:
                with self._engine("pause", service):
                    self._svc(service).pause()
                return
            except EnvironmentFault:
                if self._svc(service).status == "paused":
                    return
                if tries == PAUSE_TRIES:
                    raise
                time.sleep(PAUSE_RETRY_S)

    def resume(self, service: str) -> None:
        with self._engine("unpause", service):
            self._svc(service).unpause()

    def start(self, service: str) -> None:
        with self._engine("start", service):
            self._svc(service).start()
        self._wait_ready(compose_file.service_name(self.topology, service))
        self._down.discard(service)

    def stop(self, service: str) -> None:
        self._down.add(service)
        with self._engine("stop", service):
            self._svc(service).stop(timeout=5)

    def disconnect(self, service: str) -> None:
        """A real partition: the service's network namespace (its holder) leaves its network."""
        with self._engine("disconnect", service):
            net = self.client.networks.get(f"{self.project}_{self.topology.name}")
            net.disconnect(self._holder(service))
        self._cut.add(service)

    def reconnect(self, service: str) -> None:
        with self._engine("reconnect", service):
            net = self.client.networks.get(f"{self.project}_{self.topology.name}")
            net.connect(self._holder(service), aliases=[compose_file.holder_name(self.topology, service)])
        self._cut.discard(service)

    def service_state(self, service: str) -> str:
        c = self._svc(service)
        c.reload()
        return c.status if c.status in ("running", "paused") else "stopped"

    def isolated(self, service: str) -> bool:
        c = self._holder(service)
        c.reload()
        return f"{self.project}_{self.topology.name}" not in c.attrs["NetworkSettings"]["Networks"]

    def health(self) -> list[str]:
        out = []
        for name in self._names():
            service = name.removeprefix(f"{self.topology.name}-")
            if service in self._down:
                continue
            c = self._container(name)
            c.reload()
            if c.status not in ("running", "paused"):
                out.append(f"{name} is {c.status} though no fault stopped it (container {c.short_id})")
        return out

    def reset(self) -> None:
        """Undo every fault: proxies enabled, no toxics, every service running, joined
        to its network and healthy."""
        self.toxiproxy.reset()  # first: a cluster node's readiness needs its routes
        for service in list(self._cut):
            self.reconnect(service)
        for name in self._names():
            c = self._container(name)
            c.reload()
            if c.status == "paused":
                c.unpause()
            elif c.status != "running":
                c.start()
        for name in self._names():
            self._wait_ready(name)
        self._down.clear()

    def versions(self) -> dict[str, str]:
        """The image each service ran, and the Toxiproxy server's own version."""
        out = {"toxiproxy": self.toxiproxy.version()}
        for s in self.topology.services:
            out[s.kind] = self.images.get(compose_file.service_name(self.topology, s.name), "unknown")
        out["toxiproxy-image"] = self.images.get(self.at.toxiproxy, "unknown")
        return out

    def down(self) -> None:
        if self._pipe:
            self._pipe.close()
        with contextlib.suppress(Exception):
            self._compose("down", "--volumes", "--remove-orphans", "--timeout", "2", check=False, timeout=120)
        (PROJECTS / f"{self.project}.json").unlink(missing_ok=True)
        ports.release(self._claimed)
        self._claimed = []


def reap_projects() -> list[str]:
    """Take down the projects of runs that are gone (SIGKILLed): `harness down`."""
    gone = []
    for path in sorted(PROJECTS.glob("harness-*.json")) if PROJECTS.exists() else []:
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(path.read_text())
            if ports.process_start_time(rec["pid"]) == rec["start"]:
                continue  # its run is still going
            env = {**os.environ, **rec.get("env", {})}
            subprocess.run(
                [*compose_argv(rec["project"]), "down", "--volumes", "--remove-orphans", "--timeout", "2"],
                cwd=paths.ROOT,
                env=env,
                capture_output=True,
                timeout=120,
            )
            path.unlink(missing_ok=True)
            gone.append(rec["project"])
    return gone
