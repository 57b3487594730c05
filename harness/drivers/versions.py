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

Which package is the library is `library` in the driver's driver.toml ("pypi:NAME",
"npm:NAME", "go:MODULE", "crate:NAME" or "maven:GROUP:ARTIFACT"); the first three
can be installed at another version today. A version the registry does not offer is refused in one
line that names the versions it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness import paths
from harness.errors import EnvironmentFault, UsageError

SEP = "@"
# Package kinds a driver.toml may name; INSTALLABLE: those another version can be installed of.
KINDS = ("pypi", "npm", "go", "crate", "maven")
INSTALLABLE = ("pypi", "npm", "go")
REGISTRY = {"pypi": "PyPI", "npm": "the npm registry", "go": "the Go module proxy"}
MARKER = "installed.json"


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


def installable(library: str | None, name: str) -> tuple[str, str]:
    """As package(), refusing a kind no installer here handles yet."""
    kind, pkg = package(library, name)
    if kind not in INSTALLABLE:
        raise UsageError(
            f"{name} cannot run at another version yet: its library is a {kind} package",
            f"versions can be chosen for libraries from {', '.join(REGISTRY.values())}",
        )
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


def ensure(
    name: str, version: str, library: str | None, source: Path, binary: str, say: Callable[[str], None] = print
) -> Path:
    """The folder holding `name`'s library at `version`, installed now if it is not yet.
    `binary`: the file name a compiled driver's command runs (`{bin}/NAME`)."""
    kind, pkg = installable(library, name)
    home = folder(name, version)
    if installed(name, version):
        return home
    check_offered(name, kind, pkg, version)
    say(f"installing {pkg} {version} for {name}@{version} into {home}")
    t = time.monotonic()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        {"pypi": _pip, "npm": _npm, "go": _go}[kind](pkg, version, source, home, binary)
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
