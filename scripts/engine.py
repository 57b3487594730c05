#!/usr/bin/env python3
"""A container engine for the compose backend on a machine without Docker: Podman.

Podman serves the Docker API on a socket in .state/, which the docker CLI, docker
compose and the Docker SDK for Python use unchanged. No image can be pulled, so the
images the compose file needs are built here, FROM scratch, from binaries the set-up
already has. Stdlib only, like setup.py. Every subcommand is idempotent:

    engine.py install   podman, runc, busybox-static (apt-get) and containers.conf
    engine.py start     the API service, and a runner for the containers' healthchecks
                        (podman leaves those to systemd, absent here); prints
                        `export DOCKER_HOST=...` on stdout
    engine.py stop      stops both
    engine.py images    builds the local images (skips those whose inputs did not change)
    engine.py status    one line per part
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    MANIFEST,
    PINS_FILE,
    ROOT,
    ScriptError,
    apt_get_install,
    can_apt_get,
    exit_code,
    go_install,
    read_manifest,
    run,
    teller,
)

IMAGES = ROOT / "compose" / "images"
# The engine's own folder in the checkout (socket, pids, logs, build contexts); not the
# harness's per-user runtime state (harness/paths.py RUNTIME_STATE).
ENGINE_STATE = ROOT / ".state"
SOCK = ENGINE_STATE / "podman.sock"
PIDFILE = ENGINE_STATE / "podman.pid"
LOG = ENGINE_STATE / "podman.log"
DOCKER_HOST = f"unix://{SOCK}"
TICKER_PIDFILE = ENGINE_STATE / "healthchecks.pid"
TICKER_LOG = ENGINE_STATE / "healthchecks.log"
DEFAULT_HEALTH_INTERVAL = 30.0  # Docker's, for a healthcheck that sets none
HEALTH_POLL = 0.5  # how often the runner looks for new containers and due checks

PACKAGES = ("podman", "runc", "busybox-static")
BUSYBOX = Path("/bin/busybox")
# What podman needed to run containers on this workplace's machines (as root, in a sandbox).
CONF_SETTINGS = (
    # The sandbox refuses setrlimit to podman's default ulimits.
    ("containers", "default_ulimits", []),
    # crun refuses the hybrid cgroup layout here; runc copes.
    ("engine", "runtime", "runc"),
    ("engine", "cgroup_manager", "cgroupfs"),
)
INPUTS_LABEL = "harness.inputs"


# stderr, so that stdout of `start` is only the export line (eval "$(engine.py start)").
say = teller("engine", stderr=True)


# --- install -----------------------------------------------------------------


def is_static(path: Path) -> bool:
    """Whether an ELF binary runs without a dynamic loader (it can go FROM scratch)."""
    if shutil.which("file"):
        return "statically linked" in run(["file", "-bL", str(path)]).stdout
    out = subprocess.run(["ldd", str(path)], text=True, capture_output=True)
    return "not a dynamic executable" in out.stdout + out.stderr or "statically linked" in out.stdout


def missing_packages() -> list[str]:
    present = {
        "podman": shutil.which("podman") is not None,
        "runc": shutil.which("runc") is not None or Path("/usr/sbin/runc").exists(),
        "busybox-static": BUSYBOX.exists() and is_static(BUSYBOX),
    }
    return [p for p in PACKAGES if not present[p]]


def apt_install(packages: list[str]) -> None:
    if not can_apt_get():
        raise ScriptError(f"missing {', '.join(packages)}: install them (Debian: apt-get install {' '.join(packages)})")
    say(f"installing {', '.join(packages)} (apt-get)")
    t = time.monotonic()
    apt_get_install(packages)
    say(f"installed in {time.monotonic() - t:.0f}s")


def containers_conf() -> Path:
    if os.geteuid() == 0:
        return Path("/etc/containers/containers.conf")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "containers" / "containers.conf"


def toml_value(value: object) -> str:
    return json.dumps(value)  # a string or an empty list: JSON and TOML spell them alike


def with_setting(text: str, table: str, key: str, value: object) -> str:
    """text with `key = value` added to [table]; keys of a table may come in any order."""
    line = f"{key} = {toml_value(value)}"
    lines = text.splitlines()
    header = re.compile(rf"\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?")
    at = next((i for i, s in enumerate(lines) if header.fullmatch(s)), None)
    if at is not None:
        lines.insert(at + 1, line)
        return "\n".join(lines) + "\n"
    separator = "" if not text else "\n" if text.endswith("\n") else "\n\n"
    return f"{text}{separator}[{table}]\n{line}\n"


def settings_present(text: str) -> bool:
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return all(have.get(table, {}).get(key) == value for table, key, value in CONF_SETTINGS)


def ensure_containers_conf() -> None:
    path = containers_conf()
    text = path.read_text() if path.exists() else ""
    try:
        have = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScriptError(f"{path} is not valid TOML ({e}): fix it and rerun") from e
    changed = False
    for table, key, value in CONF_SETTINGS:
        current = have.get(table, {}).get(key, None)
        if current == value:
            continue
        if current is not None:
            # An explicit choice someone made: not ours to overwrite.
            raise ScriptError(f"{path} sets {table}.{key} = {current!r}; this machine needs {value!r}: edit it")
        text = with_setting(text, table, key, value)
        changed = True
    if not changed:
        say(f"{path}: settings already there")
        return
    if not settings_present(text):  # an edit of a layout this does not understand
        raise ScriptError(f"could not add the settings to {path}: add them by hand ({CONF_SETTINGS})")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    say(f"{path}: written")


def cmd_install(_: argparse.Namespace) -> None:
    missing = missing_packages()
    if missing:
        apt_install(missing)
    else:
        say(f"{', '.join(PACKAGES)}: installed")
    ensure_containers_conf()
    say(f"podman: {run(['podman', '--version']).stdout.strip()}")


# --- the API service ---------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket (http.client has no unix transport)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def api_get(path: str, timeout: float = 3.0) -> str | None:
    """Body of a GET on the engine's API, or None if the socket does not answer."""
    conn = UnixHTTPConnection(SOCK, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.read().decode() if resp.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def api_json(path: str) -> Any:
    body = api_get(path)
    return json.loads(body) if body else None


def running_pid(pidfile: Path, *markers: bytes) -> int | None:
    """Pid in pidfile if that process still runs and is ours (a reused pid is not)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if all(m in cmdline for m in markers) else None


def service_pid() -> int | None:
    return running_pid(PIDFILE, b"service", DOCKER_HOST.encode())


def ticker_pid() -> int | None:
    return running_pid(TICKER_PIDFILE, b"healthchecks", str(Path(__file__).resolve()).encode())


def require_podman() -> None:
    if shutil.which("podman") is None:
        raise ScriptError("podman is not installed: run `python3 scripts/engine.py install` first")


def spawn(cmd: list[str], log: Path, pidfile: Path) -> subprocess.Popen:
    """A background process in its own session: neither a Ctrl-C in this terminal nor the
    end of this shell stops it; `engine.py stop` does, by the pid in pidfile."""
    ENGINE_STATE.mkdir(exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def wait_for_api(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api_get("/_ping") == "OK":
            return
        if proc.poll() is not None:
            tail = " | ".join(LOG.read_text().strip().splitlines()[-3:])
            raise ScriptError(f"podman system service exited ({proc.returncode}): {tail} (log: {LOG})")
        time.sleep(0.2)
    raise ScriptError(f"podman system service did not answer on {SOCK} within {timeout:.0f}s (log: {LOG})")


def start_service() -> None:
    pid = service_pid()
    if pid is not None and api_get("/_ping") == "OK":
        say(f"podman API service already running (pid {pid})")
        return
    if pid is not None:
        raise ScriptError(f"podman service pid {pid} runs but {SOCK} does not answer: run `engine.py stop` first")
    SOCK.unlink(missing_ok=True)  # left by a service that was killed
    proc = spawn(["podman", "system", "service", "--time=0", DOCKER_HOST], LOG, PIDFILE)
    wait_for_api(proc)
    version = api_json("/version") or {}
    say(f"podman API service started (pid {proc.pid}, Docker API {version.get('ApiVersion', '?')})")


def start_ticker() -> None:
    pid = ticker_pid()
    if pid is not None:
        say(f"healthcheck runner already running (pid {pid})")
        return
    proc = spawn([sys.executable, str(Path(__file__).resolve()), "healthchecks"], TICKER_LOG, TICKER_PIDFILE)
    say(f"healthcheck runner started (pid {proc.pid})")


def cmd_start(_: argparse.Namespace) -> None:
    require_podman()
    start_service()
    start_ticker()
    print(f"export DOCKER_HOST={DOCKER_HOST}")


def stop(what: str, pid: int | None, still: Callable[[], int | None]) -> None:
    if pid is None:
        say(f"{what} not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while still() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if still() is not None:
        os.kill(pid, signal.SIGKILL)
    say(f"{what} stopped (pid {pid})")


def cmd_stop(_: argparse.Namespace) -> None:
    stop("healthcheck runner", ticker_pid(), ticker_pid)
    stop("podman API service", service_pid(), service_pid)
    for path in (TICKER_PIDFILE, PIDFILE, SOCK):
        path.unlink(missing_ok=True)


# --- healthchecks ----------------------------------------------------------------
# Podman schedules healthchecks with systemd timers, and there is no systemd here: a
# container's health would stay "starting" for ever, and compose's `depends_on:
# condition: service_healthy` would wait for ever. The runner does what the timers do,
# through the API (libpod's healthcheck endpoint runs the check and records the result).


def healthcheck_interval(cid: str) -> float | None:
    """Seconds between checks of a container, None if it has no healthcheck."""
    check = ((api_json(f"/containers/{cid}/json") or {}).get("Config") or {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    return (check.get("Interval") or 0) / 1e9 or DEFAULT_HEALTH_INTERVAL


class HealthRunner:
    """Runs each running container's healthcheck every interval, one at a time per container."""

    def __init__(self) -> None:
        self.intervals: dict[str, float | None] = {}
        self.due: dict[str, float] = {}
        self.busy: set[str] = set()

    def tick(self, running: set[str], now: float) -> None:
        for gone in set(self.intervals) - running:
            self.intervals.pop(gone)
            self.due.pop(gone, None)
        for cid in running:
            if self.is_due(cid, now):
                self.start_check(cid, now)

    def is_due(self, cid: str, now: float) -> bool:
        if cid not in self.intervals:
            self.intervals[cid] = healthcheck_interval(cid)
            self.due[cid] = now + (self.intervals[cid] or 0)  # as Docker: the first check one interval in
        return bool(self.intervals[cid]) and now >= self.due[cid] and cid not in self.busy

    def start_check(self, cid: str, now: float) -> None:
        self.busy.add(cid)
        self.due[cid] = now + (self.intervals[cid] or 0)
        # A thread: a check lasts up to its timeout, and must not hold up the others.
        threading.Thread(target=self.check, args=(cid,), daemon=True).start()

    def check(self, cid: str) -> None:
        try:
            api_get(f"/v4.0.0/libpod/containers/{cid}/healthcheck", timeout=120)
        finally:
            self.busy.discard(cid)


def cmd_healthchecks(_: argparse.Namespace) -> None:
    """Internal (started by `start`): the runner, until the service stops."""
    runner = HealthRunner()
    while service_pid() is not None:
        runner.tick({c["Id"] for c in api_json("/containers/json") or []}, time.monotonic())
        time.sleep(HEALTH_POLL)


# --- images --------------------------------------------------------------------


def installed_binaries() -> dict:
    """The manifest's binaries (format: the docstring of scripts/setup.py, which writes it)."""
    manifest = read_manifest()
    if manifest is None:
        raise ScriptError(f"{MANIFEST} is missing or unreadable: run `python3 scripts/setup.py --with-compose`")
    return manifest.get("binaries", {})


def go_pin(name: str) -> dict:
    pins = tomllib.loads(PINS_FILE.read_text())
    for section in ("go", "go-compose"):
        if name in pins.get(section, {}):
            return pins[section][name]
    raise ScriptError(f"no pin for {name} in {PINS_FILE}")


def build_static(name: str, dest: Path) -> Path:
    """The pinned Go binary built with cgo off, for a binary that is linked dynamically."""
    pin = go_pin(name)
    say(f"{name}: not statically linked; building v{pin['version']} with CGO_ENABLED=0")
    with tempfile.TemporaryDirectory(dir=ENGINE_STATE) as gobin:
        go_install(pin, {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"})
        (built,) = Path(gobin).iterdir()
        shutil.move(str(built), dest)
    return dest


def static_binary(name: str) -> Path:
    """A set-up binary that can run FROM scratch (rebuilt into .state/static if need be)."""
    entry = installed_binaries().get(name)
    if not entry or not Path(entry["path"]).exists():
        raise ScriptError(f"{name} is not installed: run `python3 scripts/setup.py --with-compose`")
    path = Path(entry["path"])
    if is_static(path):
        return path
    cached = ENGINE_STATE / "static" / name
    if cached.exists() and cached.stat().st_mtime >= path.stat().st_mtime and is_static(cached):
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    return build_static(name, cached)


def busybox() -> Path:
    if not (BUSYBOX.exists() and is_static(BUSYBOX)):
        raise ScriptError(f"{BUSYBOX} (static) not found: run `python3 scripts/engine.py install`")
    return BUSYBOX


def install_busybox(rootfs: Path) -> None:
    """/bin/busybox and a link for every applet, where busybox itself says they go."""
    target = rootfs / "bin" / "busybox"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox(), target)
    # sh and wget (the healthcheck's) also in /bin, whatever this busybox's list says.
    for applet in [*run([str(BUSYBOX), "--list-full"]).stdout.split(), "bin/sh", "bin/wget"]:
        link = rootfs / applet
        if link == target or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (rootfs / "tmp").mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)


# The image's server is toxiproxy-harness (harness/proxy: Toxiproxy's own module, the
# same version, its log lines stamped with CLOCK_MONOTONIC in the proxy). A container
# shares the host's kernel and so its monotonic clock: the compose backend's wire
# stamps are then the proxy's, not taken when the attach stream delivers the line.
def toxiproxy_sources() -> list[Path | str]:
    return [static_binary("toxiproxy-harness"), static_binary("toxiproxy-cli")]


def fill_toxiproxy(ctx: Path) -> None:
    shutil.copy2(static_binary("toxiproxy-harness"), ctx / "toxiproxy")
    shutil.copy2(static_binary("toxiproxy-cli"), ctx / "toxiproxy-cli")


def nats_sources() -> list[Path | str]:
    return [busybox(), static_binary("nats-server")]


def fill_nats(ctx: Path) -> None:
    rootfs = ctx / "rootfs"
    install_busybox(rootfs)
    local_bin = rootfs / "usr" / "local" / "bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    shutil.copy2(static_binary("nats-server"), local_bin / "nats-server")
    shutil.copy2(ctx / "docker-entrypoint.sh", local_bin / "docker-entrypoint.sh")
    (rootfs / "etc" / "nats").mkdir(parents=True)
    shutil.copy2(ctx / "nats-server.conf", rootfs / "etc" / "nats" / "nats-server.conf")


def host_java_home() -> Path:
    java = shutil.which("java")
    if java is None:
        raise ScriptError("no java on PATH: the artemis image copies the host's JVM (install openjdk-17-jre-headless)")
    return Path(java).resolve().parent.parent


def artemis_home() -> Path:
    entry = installed_binaries().get("artemis")
    if not entry or not (Path(entry["path"]) / "bin" / "artemis").exists():
        raise ScriptError("Artemis is not installed: run `python3 scripts/setup.py`")
    return Path(entry["path"])


# Parts of a JDK a broker never uses: module files for jlink, headers, javac's symbol
# table, manuals and sources. Leaving them out keeps the image about 100 MB smaller.
JDK_SKIP = {"jmods", "include", "man", "docs", "demo", "src.zip", "ct.sym"}


def walk_resolved(src: Path, skip: set[str]) -> Iterable[tuple[Path, Path]]:
    """(file, path relative to src) for a tree, symlinks followed (Debian's JDK links
    into /etc, which the image does not have); dangling links are left out."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name not in skip and path.exists():
                yield path, path.relative_to(src)


def tree_stamp(tree: Path, skip: set[str]) -> str:
    """Names, sizes and times of a large tree: a package upgrade changes them, and hashing
    the contents of a JDK on every run would cost seconds."""
    lines = [f"{tree}"]
    for path, rel in walk_resolved(tree, skip):
        st = path.stat()
        lines.append(f"{rel} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(lines)


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_libraries(trees: Iterable[tuple[Path, set[str]]]) -> list[Path]:
    """Every library ldd resolves for the ELF files of the trees, and the dynamic loader.
    What ldd cannot find (the JDK's optional GUI libraries) the host lacks as well."""
    libs: set[Path] = set()
    for tree, skip in trees:
        for path, _ in walk_resolved(tree, skip):
            if path.suffix not in (".so", "") or not is_elf(path):
                continue
            out = subprocess.run(["ldd", str(path)], text=True, capture_output=True).stdout
            for line in out.splitlines():
                parts = line.split()
                lib = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
                if lib.startswith("/"):
                    libs.add(Path(lib))
    return sorted(libs)


def artemis_trees() -> list[tuple[Path, set[str]]]:
    return [(host_java_home(), JDK_SKIP), (artemis_home(), set())]


def artemis_sources() -> list[Path | str]:
    stamps = [tree_stamp(tree, skip) for tree, skip in artemis_trees()]
    return [busybox(), *shared_libraries(artemis_trees()), *stamps]


def copy_tree(src: Path, dest: Path, skip: set[str]) -> None:
    for path, rel in walk_resolved(src, skip):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / rel)


def fill_artemis(ctx: Path) -> None:
    rootfs = ctx / "rootfs"
    install_busybox(rootfs)
    copy_tree(host_java_home(), rootfs / "opt" / "java" / "openjdk", JDK_SKIP)
    copy_tree(artemis_home(), rootfs / "opt" / "activemq-artemis", set())
    # At the paths ldd printed (/lib/x86_64-linux-gnu/..., /lib64/ld-linux-x86-64.so.2):
    # the loader's built-in search path, and the interpreter path written in the binaries.
    for lib in shared_libraries(artemis_trees()):
        dest = rootfs / lib.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), dest)
    shutil.copy2(ctx / "docker-run.sh", rootfs / "docker-run.sh")
    (rootfs / "etc").mkdir(exist_ok=True)
    for name in ("passwd", "group", "nsswitch.conf"):
        shutil.copy2(ctx / name, rootfs / "etc" / name)
    # /var/lib from rootfs/ (owned by root); only the instance folder is the artemis user's.
    (rootfs / "var" / "lib").mkdir(parents=True)
    (ctx / "instance").mkdir()


@dataclass
class Image:
    tag: str
    folder: str  # under compose/images: the Containerfile and the files it copies
    sources: Callable[[], list[Path | str]]  # what the image is made of: files, or stamps
    fill: Callable[[Path], None]  # assembles the build context from them


IMAGE_LIST = (
    Image("localhost/harness/toxiproxy:2.12.0", "toxiproxy", toxiproxy_sources, fill_toxiproxy),
    Image("localhost/harness/nats:2.15.2-alpine", "nats", nats_sources, fill_nats),
    Image("localhost/harness/artemis:2.56.0", "artemis", artemis_sources, fill_artemis),
)


def inputs_digest(image: Image) -> str:
    """A digest of the image's definition files and its sources, before anything is copied."""
    h = hashlib.sha256(image.tag.encode())
    # This script too: it assembles the contexts, so a change to it is a change of input.
    definition = [*sorted(p for p in (IMAGES / image.folder).rglob("*") if p.is_file()), Path(__file__).resolve()]
    for item in [*definition, *image.sources()]:
        if isinstance(item, str):
            h.update(item.encode())
            continue
        h.update(f"\n{item}\n".encode())
        with open(item, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def image_info(tag: str) -> dict | None:
    """Labels, size and id of a local image, or None if there is none with that tag."""
    out = subprocess.run(["podman", "image", "inspect", tag], text=True, capture_output=True)
    if out.returncode != 0:
        return None
    info = json.loads(out.stdout)[0]
    return {"labels": info.get("Labels") or {}, "size": info.get("Size", 0), "id": info.get("Id", "")[:12]}


def build(image: Image, force: bool) -> None:
    t = time.monotonic()
    digest = inputs_digest(image)
    info = image_info(image.tag)
    if info and info["labels"].get(INPUTS_LABEL) == digest and not force:
        say(f"{image.tag}: up to date ({info['size'] / 1e6:.0f} MB, inputs {digest})")
        return
    say(f"{image.tag}: building (inputs {digest})")
    ENGINE_STATE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ENGINE_STATE, prefix="build-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(IMAGES / image.folder, ctx, dirs_exist_ok=True)
        image.fill(ctx)
        run(
            [
                "podman",
                "build",
                "--pull=never",  # there is no registry: FROM scratch only
                "--format=docker",  # the format of the images these mimic
                "--layers=false",  # one image per build: no intermediate images left behind
                "--label",
                f"{INPUTS_LABEL}={digest}",
                "-t",
                image.tag,
                "-f",
                str(ctx / "Containerfile"),
                str(ctx),
            ]
        )
    old, info = info, image_info(image.tag) or {"size": 0, "id": "?"}
    if old and old["id"] != info["id"]:
        # The image this one replaced, now untagged; kept if a container still uses it.
        subprocess.run(["podman", "rmi", old["id"]], capture_output=True)
    say(f"{image.tag}: built in {time.monotonic() - t:.1f}s ({info['size'] / 1e6:.0f} MB, id {info['id']})")


def cmd_images(args: argparse.Namespace) -> None:
    require_podman()
    known = [i.folder for i in IMAGE_LIST]
    unknown = [name for name in args.only if name not in known]
    if unknown:
        raise ScriptError(f"no image called {', '.join(unknown)}: choose from {', '.join(known)}")
    for image in IMAGE_LIST:
        if not args.only or image.folder in args.only:
            build(image, args.force)


# --- status --------------------------------------------------------------------


def image_state(tag: str) -> str:
    info = image_info(tag)
    return f"{tag} present, {info['size'] / 1e6:.0f} MB, id {info['id']}" if info else f"{tag} missing"


def status_lines() -> list[str]:
    podman = shutil.which("podman")
    service, ticker = service_pid(), ticker_pid()
    answers = "answers" if api_get("/_ping") == "OK" else "does not answer"
    current = os.environ.get("DOCKER_HOST")
    note = "set" if current == DOCKER_HOST else f"not set to it (is {current!r})" if current else "not set"
    parts = [
        ("podman", run(["podman", "--version"]).stdout.strip() if podman else "not installed"),
        ("service", f"{f'running (pid {service})' if service else 'not running'}, {SOCK} {answers}"),
        ("healthchecks", f"runner running (pid {ticker})" if ticker else "runner not running"),
        ("DOCKER_HOST", f"{DOCKER_HOST} ({note} in this shell)"),
    ]
    parts += [("image", image_state(image.tag) if podman else f"{image.tag} missing") for image in IMAGE_LIST]
    return [f"{name + ':':<13} {text}" for name, text in parts]


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One engine.py at a time changes things (parallel test workers may all call start)."""
    ENGINE_STATE.mkdir(exist_ok=True)
    with open(ENGINE_STATE / "engine.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cmd_status(_: argparse.Namespace) -> None:
    print("\n".join(status_lines()))


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, like every other error here (argparse would print the usage too).
        print(f"engine: {message} (see engine.py --help)", file=sys.stderr)
        sys.exit(2)


def main() -> int:
    parser = Parser(prog="engine.py", description=__doc__.split("\n\n")[0])
    # The metavar lists the commands for people; `healthchecks` is for `start` only.
    sub = parser.add_subparsers(dest="command", required=True, metavar="{install,start,stop,images,status}")
    sub.add_parser("install", help="podman, runc, busybox-static and containers.conf")
    sub.add_parser("start", help="start the Docker API service (and healthcheck runner); prints export DOCKER_HOST=")
    sub.add_parser("stop", help="stop the API service and the healthcheck runner")
    images = sub.add_parser("images", help="build the local images")
    images.add_argument("only", nargs="*", metavar="IMAGE", help="toxiproxy, nats or artemis (default: all)")
    images.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    sub.add_parser("status", help="one line per part")
    sub.add_parser("healthchecks")  # internal: the runner `start` leaves in the background
    args = parser.parse_args()
    handlers = {
        "install": cmd_install,
        "start": cmd_start,
        "stop": cmd_stop,
        "images": cmd_images,
        "status": cmd_status,
        "healthchecks": cmd_healthchecks,
    }

    def body() -> None:
        if args.command in ("status", "healthchecks"):
            handlers[args.command](args)
        else:
            with locked():
                handlers[args.command](args)

    # OSError too: a folder or file this cannot write, say, is still one line.
    return exit_code("engine", body, one_line=(ScriptError, OSError))


if __name__ == "__main__":
    sys.exit(main())
