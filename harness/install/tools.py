"""Install the servers and drivers the harness runs: `make setup` (scripts/setup.py,
which also makes the checkout's .venv) and `harness setup` (pip-installed) run this.

They go into harness.paths.TOOLS: the checkout's .tools/, or for a pip-installed
harness $HARNESS_HOME, else $XDG_CACHE_HOME/fault-harness, else ~/.cache/fault-harness.

Stdlib only: it runs before the virtualenv exists. Idempotent: every step
compares a stamp (versions, source hashes) and skips work already done, so a
second run takes seconds. Results go to TOOLS/manifest.json, which the harness
reads to find its binaries (harness/paths.py), as does scripts/engine.py.

The manifest, written after every step (so an interrupted set-up keeps its progress):

    {"binaries": {NAME: {"path": str, "version": str, "source": str, "pin": str, ...}}}

NAME is a pin's name in harness/pins.toml (toxiproxy-server, nats-server, artemis,
driver-nats-go, ...), or "driver-" and the name of an npm, Maven or cargo driver found
by its pom.xml or lock file. `path` is the binary (for a distribution: its home folder;
for an npm driver: its driver.js; for a Maven driver: the folder of its jars); `version`
the version installed (for a driver: a digest of its sources, for a Rust driver
Cargo.toml, Cargo.lock, build.rs and src/; but toxiproxy-harness, built from
harness/proxy like a driver, records the Toxiproxy version it prints); `source` where it
came from: "built" (Go and Rust), "PATH", "maven-central", "npm" or "maven"; `pin` what
it was installed for (the pinned version, or the sources' digest), which a second run
compares to skip the step. A distribution and a Maven driver also record the `java`
major version they were checked with. A client driver whose toolchain is missing is
recorded as {"unavailable": LINE} instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

from harness.errors import EnvironmentFault
from harness.install.common import (
    BIN,
    MANIFEST,
    PINS_FILE,
    ROOT,
    SETUP_COMMAND,
    TOOLS,
    ScriptError,
    apt_get_install,
    can_apt_get,
    exit_code,
    go_install,
    read_manifest,
    run,
    teller,
)
from harness.paths import maven_build, node_modules

VENV = ROOT / ".venv"
PINS = tomllib.loads(PINS_FILE.read_text())
say = teller("setup")


def version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else None


def digest(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def check_toolchains() -> None:
    go = shutil.which("go")
    if go is None:
        raise ScriptError(
            f"Go is not installed: install Go 1.26 or newer (https://go.dev/dl/) and rerun {SETUP_COMMAND}"
        )
    out = run(["go", "version"]).stdout
    v = version_tuple(out.replace("go1.", "1.", 1) + " 0.0.0")
    # GOTOOLCHAIN=auto lets go >= 1.21 fetch the toolchain a module asks for
    # through the module proxy, so only older releases are refused here.
    if v is None or v < (1, 21, 0):
        raise ScriptError(f"{out.strip()} is too old: install Go 1.21 or newer (1.26 preferred)")


def ensure_venv() -> None:
    py = VENV / "bin" / "python"
    if not py.exists():
        say("creating .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
    stamp = VENV / ".harness-stamp"
    want = digest([ROOT / "pyproject.toml", ROOT / "constraints.txt"])
    if stamp.exists() and stamp.read_text() == want:
        say("python packages: up to date")
        return
    say("installing python packages into .venv (pip)")
    t = time.monotonic()
    run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            "-e",
            f"{ROOT}[dev]",
        ]
    )
    stamp.write_text(want)
    say(f"python packages installed in {time.monotonic() - t:.0f}s")


def binary_version(path: str, args: list[str]) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([path, *args], text=True, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version_tuple(out.stdout + out.stderr)


def ensure_go_server(name: str, pin: dict, manifest: dict) -> dict:
    want = pin["version"]
    entry = manifest.get("binaries", {}).get(name)
    if entry and Path(entry["path"]).exists() and entry.get("pin") == want:
        say(f"{name}: {entry['version']} ({entry['source']}) up to date")
        return entry
    on_path = shutil.which(name)
    if on_path and not on_path.startswith((str(ROOT), str(TOOLS))):  # not one of ours
        v = binary_version(on_path, pin["version_args"])
        if v is not None and v >= version_tuple(pin["minimum"]):
            say(f"{name}: using {on_path} ({'.'.join(map(str, v))}) found on PATH")
            return {"path": on_path, "version": ".".join(map(str, v)), "source": "PATH", "pin": want}
    say(f"{name}: building v{want} from {pin['module']} (go install)")
    t = time.monotonic()
    BIN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS) as gobin:
        go_install(pin, {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"})
        built = list(Path(gobin).iterdir())
        if len(built) != 1:
            raise ScriptError(f"go install of {pin['package']} produced {len(built)} files, expected 1")
        shutil.move(str(built[0]), BIN / name)
    say(f"{name}: built in {time.monotonic() - t:.0f}s")
    return {"path": str(BIN / name), "version": want, "source": "built", "pin": want}


def ensure_go_driver(name: str, spec: dict, manifest: dict) -> dict:
    src = ROOT / spec["dir"]
    files = [p for p in src.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum")]
    want = digest(files)
    entry = manifest.get("binaries", {}).get(name)
    if entry and Path(entry["path"]).exists() and entry.get("pin") == want:
        say(f"{name}: up to date")
        return entry
    say(f"{name}: building from {spec['dir']}")
    t = time.monotonic()
    BIN.mkdir(parents=True, exist_ok=True)
    run(["go", "build", "-o", str(BIN / name), "."], cwd=src, env={**os.environ, "CGO_ENABLED": "0"})
    say(f"{name}: built in {time.monotonic() - t:.0f}s")
    version = want
    if "version_args" in spec:  # a server of ours reports the version of what it wraps
        v = binary_version(str(BIN / name), spec["version_args"])
        if v is None:
            raise ScriptError(f"{BIN / name} {' '.join(spec['version_args'])} did not print a version")
        version = ".".join(map(str, v))
    return {"path": str(BIN / name), "version": version, "source": "built", "pin": want}


def java_major() -> int | None:
    try:
        out = subprocess.run(["java", "-version"], text=True, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" is Java 8


def ensure_dist(name: str, pin: dict, manifest: dict) -> dict:
    """A server distribution: downloaded, checked against its pinned sha512, unpacked."""
    java = java_major()
    if java is None or java < pin["java_minimum"]:
        found = f"Java {java}" if java else "no java on PATH"
        raise ScriptError(
            f"{name} needs Java {pin['java_minimum']} or newer ({found}): "
            f"install a JDK, e.g. apt install openjdk-{pin['java_minimum']}-jre-headless"
        )
    home = TOOLS / pin["dir"]
    entry = manifest.get("binaries", {}).get(name)
    if entry and (home / "bin" / "artemis").exists() and entry.get("pin") == pin["version"]:
        say(f"{name}: {pin['version']} up to date")
        return entry
    say(f"{name}: downloading {pin['version']} from Maven Central")
    t = time.monotonic()
    with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
        archive = Path(tmp) / pin["url"].rsplit("/", 1)[1]
        try:
            with urllib.request.urlopen(pin["url"], timeout=120) as r, open(archive, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise ScriptError(f"could not download {pin['url']}: {e}") from e
        got = hashlib.sha512(archive.read_bytes()).hexdigest()
        if got != pin["sha512"]:
            raise ScriptError(f"{archive.name} does not match its pinned sha512 (got {got[:16]}...)")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        shutil.rmtree(home, ignore_errors=True)
        shutil.move(str(Path(tmp) / pin["dir"]), home)
    say(f"{name}: installed in {time.monotonic() - t:.0f}s")
    return {
        "path": str(home),
        "version": pin["version"],
        "source": "maven-central",
        "pin": pin["version"],
        "java": java,
    }


def drivers_by(*files: str) -> dict[str, dict]:
    """Every driver folder holding all of `files` (a Node driver its package-lock.json,
    a Java one its pom.xml, a Rust one Cargo.toml and Cargo.lock): NAME -> {"dir": ...},
    NAME being "driver-" and the name in its driver.toml (as the manifest calls it)."""
    out = {}
    for folder in sorted((ROOT / "harness" / "drivers").iterdir()):
        if all((folder / f).is_file() for f in files):
            name = tomllib.loads((folder / "driver.toml").read_text())["name"]
            out[f"driver-{name}"] = {"dir": str(folder.relative_to(ROOT))}
    return out


NPM_DRIVER, MAVEN_DRIVER, CARGO_DRIVER = ("package-lock.json",), ("pom.xml",), ("Cargo.toml", "Cargo.lock")


def ensure_npm_driver(name: str, spec: dict, manifest: dict) -> dict:
    src = ROOT / spec["dir"]
    files = [src / "package.json", src / "package-lock.json"]
    modules = node_modules(src)
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise ScriptError(f"Node.js is not installed: install Node.js 18 or newer (with npm) and rerun {SETUP_COMMAND}")
    want = digest(files)
    entry = manifest.get("binaries", {}).get(name)
    if entry and modules.is_dir() and entry.get("pin") == want:
        say(f"{name}: node packages up to date")
        return entry
    say(f"{name}: installing node packages (npm ci)")
    t = time.monotonic()
    if modules.parent != src:  # pip-installed: npm ci beside copies of the package files
        modules.parent.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, modules.parent / f.name)
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=modules.parent)
    say(f"{name}: installed in {time.monotonic() - t:.0f}s")
    return {"path": str(src / "driver.js"), "version": want, "source": "npm", "pin": want}


class ToolchainMissing(ScriptError):
    """A client driver's language toolchain is missing: that client is left out (marked
    unavailable in the manifest, with this line), and the set-up goes on."""


def maven_missing(who: str) -> str | None:
    """Why `who` cannot be built with Maven here, as one line saying what to install, or None."""
    java = java_major()
    if java is not None and java >= 17 and shutil.which("mvn"):
        return None
    found = f"Java {java}" if java else "no java on PATH"
    found += "" if shutil.which("mvn") else ", no mvn on PATH"
    install = "install them, e.g. apt install openjdk-17-jdk-headless maven"
    return f"{who} needs Java 17 or newer and Maven ({found}): {install}"


def maven_package(pom: Path, out: Path, build: Path, sources: bool = True) -> None:
    """`mvn package` of the driver whose pom.xml is `pom`, building in `build`: driver.jar and
    its runtime jars into `out`, with sources=True the sources jars of its direct dependencies
    into `out`/sources. CommandFailed if Maven fails."""
    # Quiet and colourless, so that a failure's last lines are Maven's [ERROR] text.
    mvn = ["mvn", "-B", "-q", "-Dstyle.color=never", "-f", str(pom), f"-Dharness.build={build}"]
    copy = ["dependency:copy-dependencies", "-DincludeScope=runtime"]
    run([*mvn, "package", *copy, f"-DoutputDirectory={out}"])
    if sources:
        run([*mvn, *copy, "-DexcludeTransitive=true", "-Dclassifier=sources", f"-DoutputDirectory={out}/sources"])
    shutil.move(str(build / "driver.jar"), out / "driver.jar")


def ensure_maven_driver(name: str, spec: dict, manifest: dict) -> dict:
    """`mvn package` of the driver, its runtime jars copied beside driver.jar and the sources
    jars of its direct dependencies into sources/ (the expectations quote them), all into
    TOOLS/drivers/FOLDER, which the driver's command puts on its classpath."""
    src = ROOT / spec["dir"]
    files = [src / "pom.xml", *src.glob("*.java")]
    dest = maven_build(src)
    missing = maven_missing(name)
    if missing:
        raise ToolchainMissing(f"{missing}, and rerun {SETUP_COMMAND}")
    want = digest(files)
    entry = manifest.get("binaries", {}).get(name)
    if entry and (dest / "driver.jar").is_file() and entry.get("pin") == want:
        say(f"{name}: up to date")
        return entry
    say(f"{name}: building from {spec['dir']} (mvn package)")
    t = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        out = Path(tmp) / "out"
        maven_package(src / "pom.xml", out, Path(tmp) / "build")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(out), dest)
    say(f"{name}: built in {time.monotonic() - t:.0f}s")
    return {"path": str(dest), "version": want, "source": "maven", "pin": want, "java": java_major()}


def cargo_missing() -> str | None:
    """Why a Rust driver cannot be built here, as one line saying what to install, or None."""
    return None if shutil.which("cargo") else "Rust is not installed: install cargo (https://rustup.rs)"


def cargo_target(driver_folder: Path) -> Path:
    """A Rust driver's cargo target folder. It stays in the tools folder: the checkout (or the
    installed package) is only read. One per driver keeps their builds apart; a build of the
    driver at another library version shares it, reusing the dependencies built already."""
    return TOOLS / "cargo-target" / driver_folder.name


def cargo_build(crate: Path, target: Path) -> Path:
    """`cargo build --release --locked` of the crate in folder `crate`: its binary in `target`.
    CommandFailed if cargo fails."""
    run(["cargo", "build", "--release", "--locked", "--quiet", "--target-dir", str(target)], cwd=crate)
    return target / "release" / tomllib.loads((crate / "Cargo.toml").read_text())["package"]["name"]


def ensure_cargo_driver(name: str, spec: dict, manifest: dict) -> dict:
    src = ROOT / spec["dir"]
    files = [src / "Cargo.toml", src / "Cargo.lock", *src.glob("build.rs"), *src.glob("src/**/*.rs")]
    missing = cargo_missing()
    if missing:
        raise ToolchainMissing(f"{missing} and rerun {SETUP_COMMAND}")
    want = digest(files)
    entry = manifest.get("binaries", {}).get(name)
    if entry and Path(entry["path"]).exists() and entry.get("pin") == want:
        say(f"{name}: up to date")
        return entry
    say(f"{name}: building from {spec['dir']} (cargo build --release --locked)")
    t = time.monotonic()
    built = cargo_build(src, cargo_target(src))
    BIN.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, BIN / name)
    say(f"{name}: built in {time.monotonic() - t:.0f}s")
    return {"path": str(BIN / name), "version": want, "source": "built", "pin": want}


def ensure_browser() -> None:
    """Chromium for the report's browser test (make test): Debian's package."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        say(f"browser: {found}")
        return
    if not can_apt_get():
        raise ScriptError("the report test needs Chromium: install it (Debian: apt install chromium) and rerun")
    say("browser: installing Debian's chromium (apt-get)")
    t = time.monotonic()
    apt_get_install(["chromium"], "--no-install-recommends")
    say(f"browser: installed in {time.monotonic() - t:.0f}s")


def plugin_dir() -> Path:
    # The docker CLI looks for plugins in $DOCKER_CONFIG/cli-plugins (default ~/.docker).
    config = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(config) / "cli-plugins"


def link_cli_plugin(binary: Path) -> bool:
    """Make `docker compose` run our docker-compose (the same binary serves both ways).
    False if a plugin someone else installed is in the way."""
    link = plugin_dir() / "docker-compose"
    if link.is_symlink() and Path(os.readlink(link)) == binary:
        return True
    # Replace only what a set-up left (a link into some .tools/bin, or a dangling one):
    # a docker-compose plugin the user installed is theirs to keep.
    if link.is_symlink() and (not link.exists() or os.readlink(link).endswith("/.tools/bin/docker-compose")):
        link.unlink()
    if link.exists() or link.is_symlink():
        say(f"docker-compose: leaving {link} as it is (not ours); `docker compose` runs that one")
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(binary)
    say(f"docker-compose: linked as docker CLI plugin {link}")
    return True


def check_compose(entry: dict) -> None:
    """Both ways of running compose answer with the pinned version."""
    binary = Path(entry["path"])
    out = run([str(binary), "version"]).stdout.strip()
    if entry["version"] not in out:
        raise ScriptError(f"`{binary} version` says {out!r}, expected {entry['version']}")
    if not link_cli_plugin(binary):
        return
    if shutil.which("docker") is None:
        say("docker-compose: no docker CLI on PATH, so only standalone `docker-compose` is available")
        return
    # The plugin is a convenience (the harness runs the binary itself): a warning, not a failure.
    out = subprocess.run(["docker", "compose", "version"], text=True, capture_output=True)
    if entry["version"] not in out.stdout:
        say(f"docker-compose: `docker compose version` does not say {entry['version']}: {out.stdout or out.stderr!r}")
        return
    say(f"docker-compose: `docker-compose version` and `docker compose version` both say {out.stdout.split()[-1]}")


def set_up(with_venv: bool = False, with_compose: bool = False, with_browser: bool = False) -> None:
    """with_venv: the checkout's .venv too (make setup); with_compose: the Compose CLI (a
    large Go build) and toxiproxy-cli, for the compose backend; with_browser: Chromium for
    the report's test."""
    started = time.monotonic()
    check_toolchains()
    TOOLS.mkdir(parents=True, exist_ok=True)
    say(f"installing into {TOOLS}")
    if with_venv:
        ensure_venv()
    manifest = read_manifest() or {}
    binaries = dict(manifest.get("binaries", {}))
    steps = [(n, ensure_go_server, p) for n, p in PINS["go"].items()]
    steps += [(n, ensure_go_driver, s) for n, s in PINS["go-driver"].items()]
    steps += [(n, ensure_dist, p) for n, p in PINS["dist"].items()]
    steps += [(n, ensure_npm_driver, s) for n, s in drivers_by(*NPM_DRIVER).items()]
    steps += [(n, ensure_maven_driver, s) for n, s in drivers_by(*MAVEN_DRIVER).items()]
    steps += [(n, ensure_cargo_driver, s) for n, s in drivers_by(*CARGO_DRIVER).items()]
    if with_compose:
        steps += [(n, ensure_go_server, p) for n, p in PINS["go-compose"].items()]
    for name, step, spec in steps:
        try:
            binaries[name] = step(name, spec, manifest)
        except ToolchainMissing as e:
            # One client's language missing leaves that client out, not the others.
            say(f"{name}: left out, every other client installed: {e}")
            binaries[name] = {"unavailable": str(e)}
        # Written after every step so an interrupted set-up keeps its progress.
        MANIFEST.write_text(json.dumps({**manifest, "binaries": binaries}, indent=2) + "\n")
    if with_compose:
        check_compose(binaries["docker-compose"])
    if with_browser:
        ensure_browser()
    say(f"done in {time.monotonic() - started:.0f}s")


def main(args: list[str], with_venv: bool = False) -> int:
    """The set-up as a command: its flags (--with-compose, --with-browser) in args; 0, or 1
    with one line on stderr, or 130 on Ctrl-C."""
    return exit_code(
        "setup",
        lambda: set_up(with_venv, "--with-compose" in args, "--with-browser" in args),
        interrupted=f"interrupted; run {SETUP_COMMAND} again to finish",
    )


def command(with_compose: bool = False) -> int:
    """`harness setup`: a failure is the harness's one-line environment error (exit 3)."""
    try:
        set_up(with_compose=with_compose)
    except ScriptError as e:
        raise EnvironmentFault(str(e), f"then run `{SETUP_COMMAND}` again") from None
    return 0
