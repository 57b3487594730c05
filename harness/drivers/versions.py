"""A client at another version of its library: `--client NAME@VERSION`.

The driver stays the same program; only the library under it changes. Each version
is installed once, into a folder of its own (TOOLS/versions/NAME/VERSION), by the
package manager of the driver's language, and the driver runs against it there:

- Python: `pip install --target` of the library at that version; the folder goes first
  on the driver's PYTHONPATH.
- Node.js: the driver's package.json with the library pinned to that version, `npm
  install`, and a copy of driver.js beside that node_modules (Node looks beside the
  script before NODE_PATH, so the checkout's own node_modules would win otherwise).
- Go: the driver's sources copied, the module required at that version (`go get`),
  built into the folder.
- Java: the driver's pom.xml (that dependency's <version> changed) and *.java copied
  into src/, built as the set-up builds it (harness/install/tools.py, maven_package):
  driver.jar beside the library's jars in the folder, which the classpath then names.
- Rust: the driver's crate copied into src/, Cargo.toml requiring `=VERSION` and its
  Cargo.lock moved to that version alone (`cargo update --precise`: every other
  dependency stays as locked), built in the set-up's target folder of that driver (its
  dependencies are built already), the binary copied into the folder.

Which package is the library is `library` in the driver's driver.toml ("pypi:NAME",
"npm:NAME", "go:MODULE", "crate:NAME" or "maven:GROUP:ARTIFACT"). A version the
registry does not offer is refused in one line that names the versions it does; one
the driver does not compile against, in one line: the compiler's first error."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness import paths
from harness.errors import EnvironmentFault, UsageError
from harness.install import tools
from harness.install.common import CommandFailed, ScriptError

SEP = "@"
# Package kinds a driver.toml may name; each has an installer (INSTALLERS, tested).
KINDS = ("pypi", "npm", "go", "crate", "maven")
REGISTRY = {
    "pypi": "PyPI",
    "npm": "the npm registry",
    "go": "the Go module proxy",
    "crate": "crates.io",
    "maven": "Maven Central",
}
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
CRATES_INDEX = "https://index.crates.io"  # the sparse index: one file per crate, one line per version
MARKER = "installed.json"
T = TypeVar("T")


def split(client: str) -> tuple[str, str | None]:
    """`nats-py@2.15.0` -> ("nats-py", "2.15.0"); a plain name has no version."""
    name, sep, version = client.partition(SEP)
    return name, (version if sep else None)


def base(client: str) -> str:
    """The client a (possibly versioned) client name runs: its driver, expectations and
    per-client facts are the base client's."""
    return split(client)[0]


def folder(name: str, version: str) -> Path:
    return paths.TOOLS / "versions" / name / version


def package(library: str | None, name: str) -> tuple[str, str]:
    """driver.toml's `library` as (kind, package); UsageError if a version cannot be chosen."""
    kind, sep, pkg = (library or "").partition(":")
    if not sep or kind not in KINDS or not pkg:
        raise UsageError(f"{name} cannot run at another version: its driver.toml names no library package")
    return kind, pkg


def same(a: str, b: str) -> bool:
    """Go reports v1.2.3, the others 1.2.3."""
    return a.removeprefix("v") == b.removeprefix("v")


def _ask(cmd: list[str], what: str, timeout: float = 120, **kw) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentFault(f"could not ask {what}: {e}") from e
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        raise EnvironmentFault(f"could not ask {what}: {tail[0]}")
    return out.stdout


def _fetch(url: str, what: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.read().decode()
    except (OSError, http.client.HTTPException) as e:  # URLError and HTTPError are OSErrors
        raise EnvironmentFault(f"could not ask {what}: {e}") from e


def _newest_first(found: list[str]) -> list[str]:
    """By their numbers, a release before its pre-releases (1.2.0 before 1.2.0-rc.1)."""

    def key(v: str) -> tuple:
        release = re.split(r"[-+]", v, maxsplit=1)[0]
        return tuple(int(n) for n in re.findall(r"\d+", release)), release == v, v

    return sorted(found, key=key, reverse=True)


def maven_metadata_url(pkg: str) -> str:
    group, _, artifact = pkg.partition(":")
    return f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/maven-metadata.xml"


def maven_versions(text: str, what: str) -> list[str]:
    """The versions a maven-metadata.xml lists (<versioning><versions>), newest first."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise EnvironmentFault(f"{what}: unreadable maven-metadata.xml ({e})") from e
    return _newest_first([v.text.strip() for v in root.iterfind("versioning/versions/version") if v.text])


def crate_index_url(name: str) -> str:
    """The crate's file in the sparse index: 1/NAME, 2/NAME, 3/N/NAME, else NA/ME/NAME."""
    n = name.lower()
    folder = f"{len(n)}" if len(n) <= 2 else f"3/{n[0]}" if len(n) == 3 else f"{n[:2]}/{n[2:4]}"
    return f"{CRATES_INDEX}/{folder}/{n}"


def crate_versions(text: str, what: str) -> list[str]:
    """The versions a sparse-index file lists (one JSON object a line), newest first. A yanked
    one is left out: cargo will not choose it for a fresh lock."""
    try:
        found = [json.loads(line) for line in text.splitlines() if line.strip()]
        return _newest_first([v["vers"] for v in found if not v.get("yanked")])
    except (ValueError, TypeError, KeyError) as e:
        raise EnvironmentFault(f"{what}: unreadable index entry ({e})") from e


def offered(kind: str, pkg: str) -> list[str]:
    """The versions the registry offers, newest first."""
    what = f"{REGISTRY[kind]} for the versions of {pkg}"
    if kind == "pypi":
        text = _ask([paths.python(), "-m", "pip", "index", "versions", pkg], what)
        line = next((x for x in text.splitlines() if x.startswith("Available versions:")), "")
        return [v.strip() for v in line.partition(":")[2].split(",") if v.strip()]
    if kind == "npm":
        found = json.loads(_ask(["npm", "view", pkg, "versions", "--json"], what) or "[]")
        return list(reversed(found if isinstance(found, list) else [found]))
    if kind == "maven":
        return maven_versions(_fetch(maven_metadata_url(pkg), what), what)
    if kind == "crate":
        return crate_versions(_fetch(crate_index_url(pkg), what), what)
    text = _ask(["go", "list", "-m", "-versions", pkg], what, env={**os.environ, "GOFLAGS": "-mod=mod"})
    return list(reversed(text.split()[1:]))


def check_offered(name: str, kind: str, pkg: str, version: str) -> None:
    versions = offered(kind, pkg)
    if not any(same(v, version) for v in versions):
        shown = ", ".join(versions[:12]) + (", ..." if len(versions) > 12 else "")
        raise UsageError(
            f"{REGISTRY[kind]} has no version {version} of {pkg} (for {name}@{version})",
            f"it offers: {shown or 'none'}",
        )


def installed(name: str, version: str) -> bool:
    try:
        return json.loads((folder(name, version) / MARKER).read_text()).get("version") == version
    except (OSError, ValueError):
        return False


def toolchain_missing(kind: str, client: str) -> str | None:
    """Why `client` cannot be built here (Java and Rust are optional: the set-up leaves their
    clients out without them), as one line saying what to install, or None. Python, Node.js
    and Go the set-up itself needs."""
    if kind == "maven":
        return tools.maven_missing(client)
    missing = tools.cargo_missing() if kind == "crate" else None
    return f"{client} cannot be built: {missing}" if missing else None


def ensure(
    name: str, version: str, library: str | None, source: Path, binary: str, say: Callable[[str], None] = print
) -> Path:
    """The folder holding `name`'s library at `version`, installed now if it is not yet.
    `binary`: the file name a compiled driver's command runs (`{bin}/NAME`)."""
    kind, pkg = package(library, name)
    home = folder(name, version)
    if installed(name, version):
        return home
    missing = toolchain_missing(kind, f"{name}{SEP}{version}")
    if missing:
        raise EnvironmentFault(missing)
    check_offered(name, kind, pkg, version)
    say(f"installing {pkg} {version} for {name}@{version} into {home}")
    t = time.monotonic()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        INSTALLERS[kind](pkg, version, source, home, binary)
    except EnvironmentFault:
        shutil.rmtree(home, ignore_errors=True)
        raise
    (home / MARKER).write_text(json.dumps({"version": version, "package": library}))
    say(f"installed {pkg} {version} in {time.monotonic() - t:.0f}s")
    return home


def _pip(pkg: str, version: str, source: Path, home: Path, binary: str) -> None:
    cmd = [paths.python(), "-m", "pip", "install", "--quiet", "--target", str(home / "site"), f"{pkg}=={version}"]
    _ask(cmd, f"pip to install {pkg} {version}", timeout=900)


def _npm(pkg: str, version: str, source: Path, home: Path, binary: str) -> None:
    manifest = json.loads((source / "package.json").read_text())
    manifest["dependencies"][pkg] = version
    (home / "package.json").write_text(json.dumps(manifest, indent=2))
    shutil.copyfile(source / "driver.js", home / "driver.js")
    _ask(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        f"npm to install {pkg} {version}",
        timeout=900,
        cwd=home,
    )


def _go(pkg: str, version: str, source: Path, home: Path, binary: str) -> None:
    src = home / "src"
    src.mkdir()
    for f in source.iterdir():
        if f.suffix == ".go" or f.name in ("go.mod", "go.sum"):
            shutil.copyfile(f, src / f.name)
    tag = version if version.startswith("v") else f"v{version}"
    env = {**os.environ, "CGO_ENABLED": "0"}
    _ask(["go", "get", f"{pkg}@{tag}"], f"go to fetch {pkg} {tag}", timeout=900, cwd=src, env=env)
    _ask(
        ["go", "build", "-o", str(home / binary), "."],
        f"go to build the driver against {pkg} {tag}",
        timeout=900,
        cwd=src,
        env=env,
    )


def pom_at_version(pom: str, pkg: str, version: str) -> str:
    """pom.xml with the dependency GROUP:ARTIFACT at `version`. Only the <version> of that
    <dependency> block changes: xml.etree would rewrite the comments and namespace prefixes."""
    group, _, artifact = pkg.partition(":")

    def names(block: str) -> bool:
        return bool(
            re.search(rf"<groupId>\s*{re.escape(group)}\s*</groupId>", block)
            and re.search(rf"<artifactId>\s*{re.escape(artifact)}\s*</artifactId>", block)
        )

    found = [m for m in re.finditer(r"<dependency>.*?</dependency>", pom, re.S) if names(m.group(0))]
    if len(found) != 1 or "<version>" not in found[0].group(0):
        raise EnvironmentFault(f"the driver's pom.xml has no one <dependency> on {pkg} with a <version> to change")
    m = found[0]
    block = re.sub(r"<version>[^<]*</version>", f"<version>{version}</version>", m.group(0), count=1)
    return pom[: m.start()] + block + pom[m.end() :]


def cargo_toml_at_version(text: str, crate: str, version: str) -> str:
    """Cargo.toml with the dependency `crate` required at exactly `version`, its line changed in
    place (`crate = "..."` or `crate = { version = "...", ... }`): tomllib cannot write."""
    line = re.compile(rf'(?m)^({re.escape(crate)}\s*=\s*(?:\{{[^}}\n]*?\bversion\s*=\s*)?")[^"]*(")')
    new, n = line.subn(rf"\g<1>={version}\g<2>", text)
    if n != 1:
        raise EnvironmentFault(f"the driver's Cargo.toml has no one dependency line on {crate} to change")
    return new


def first_error(output: str, here: Path | None = None) -> str:
    """A failed build's first error on one line: cargo's `error...` with the place its next
    line gives (`--> src/main.rs:12:5`), Maven's first `[ERROR]` about a file with its
    `symbol:` line; else the last line. Paths under `here` are shortened."""
    lines = [x.replace(f"{here}{os.sep}", "") if here else x for x in output.splitlines()]
    for i, line in enumerate(lines):
        maven = line.startswith("[ERROR] ") and "COMPILATION ERROR" not in line
        if line.startswith("error") or maven:
            after = lines[i + 1].strip() if i + 1 < len(lines) else ""
            place = f" ({after.removeprefix('--> ')})" if after.startswith(("-->", "symbol")) else ""
            return line.removeprefix("[ERROR] ").strip() + place
    return next((x.strip() for x in reversed(lines) if x.strip()), "no output")


def _build(what: str, step: Callable[[], T], here: Path) -> T:
    """A step of the set-up's (harness/install/tools.py); its failure one EnvironmentFault line."""
    try:
        return step()
    except CommandFailed as e:
        raise EnvironmentFault(f"{what} failed: {first_error(e.output, here)}") from None
    except ScriptError as e:
        raise EnvironmentFault(f"{what} failed: {e}") from None


def _maven(pkg: str, version: str, source: Path, home: Path, binary: str) -> None:
    src = home / "src"
    src.mkdir()
    for f in source.glob("*.java"):
        shutil.copyfile(f, src / f.name)
    (src / "pom.xml").write_text(pom_at_version((source / "pom.xml").read_text(), pkg, version))

    def build() -> None:  # no sources jars: a client at another version is held to its base client's quotes
        tools.maven_package(src / "pom.xml", home, home / "build", sources=False)

    _build(f"Maven building the driver against {pkg} {version}", build, src)
    shutil.rmtree(home / "build", ignore_errors=True)


def _crate(pkg: str, version: str, source: Path, home: Path, binary: str) -> None:
    crate = home / "src"
    crate.mkdir()
    shutil.copyfile(source / "Cargo.lock", crate / "Cargo.lock")
    if (source / "build.rs").is_file():
        shutil.copyfile(source / "build.rs", crate / "build.rs")
    shutil.copytree(source / "src", crate / "src")
    (crate / "Cargo.toml").write_text(cargo_toml_at_version((source / "Cargo.toml").read_text(), pkg, version))
    # The lock moved for this one crate: the other dependencies stay as the driver locks them,
    # so the two columns differ in the library alone (and reuse what the set-up built).
    lock = ["cargo", "update", "--quiet", "-p", pkg, "--precise", version]
    _build(f"cargo locking {pkg} {version}", lambda: tools.run(lock, cwd=crate), crate)

    def build() -> Path:  # in the set-up's target folder of the driver: its dependencies are built there
        return tools.cargo_build(crate, tools.cargo_target(source))

    shutil.copy2(_build(f"cargo building the driver against {pkg} {version}", build, crate), home / binary)


INSTALLERS: dict[str, Callable[[str, str, Path, Path, str], None]] = {
    "pypi": _pip,
    "npm": _npm,
    "go": _go,
    "maven": _maven,
    "crate": _crate,
}
