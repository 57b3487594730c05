"""Which client libraries have drivers: every harness/drivers/*/driver.toml."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness import paths
from harness.contracts import problems
from harness.drivers import versions
from harness.errors import EnvironmentFault, UsageError
from harness.options import OptionType, option_type

DRIVERS = Path(__file__).resolve().parent
# Languages whose driver is a binary, `{bin}/NAME`: at another version, the one built into its folder.
COMPILED = ("go", "rust")


@dataclass(frozen=True)
class DriverSpec:
    name: str
    family: str
    language: str
    command: tuple[str, ...]
    folder: Path
    # driver.toml's [options]: option name -> (min, max) where the driver's range
    # differs from its kind's default (None keeps the default).
    ranges: tuple[tuple[str, int | None, int | None], ...] = ()
    # driver.toml's `library`: the package of the library ("pypi:NAME", "npm:NAME",
    # "go:MODULE", "crate:NAME", "maven:GROUP:ARTIFACT"), which `--client NAME@VERSION`
    # installs at another version.
    library: str | None = None
    # Set for NAME@VERSION: that version, and the folder it is installed in (versions.py).
    version: str | None = None
    home: Path | None = None

    @property
    def base(self) -> str:
        """The client without a version: whose expectations and per-client facts apply."""
        return versions.base(self.name)

    def argv(self) -> list[str]:
        bin_dir = str(self.home if self.home and self.language in COMPILED else paths.BIN)
        here = str(self.home if self.home and self.language == "javascript" else self.folder)
        values = {"bin": bin_dir, "python": paths.python(), "here": here, "tools": str(paths.TOOLS)}
        argv = [part.format(**values) for part in self.command]
        if self.home and self.language == "java":  # the classpath: the version folder's jars, not the set-up's
            jars = str(paths.maven_build(self.folder))
            argv = [str(self.home) + part[len(jars) :] if part.startswith(jars + os.sep) else part for part in argv]
        return argv

    def env(self) -> dict[str, str]:
        """The driver's environment: a Node driver finds its packages where the set-up put
        them (beside it in the checkout, in the per-user tools folder when pip-installed);
        a Python driver at another version finds that version first on its path."""
        if self.home and self.language == "python":
            path = os.pathsep.join(filter(None, [str(self.home / "site"), os.environ.get("PYTHONPATH")]))
            return {**os.environ, "PYTHONPATH": path}
        if self.language != "javascript":
            return dict(os.environ)
        modules = self.home / "node_modules" if self.home else paths.node_modules(self.folder)
        return {**os.environ, "NODE_PATH": str(modules)}

    def installed_at_version(self, say: Callable[[str], None] = print) -> DriverSpec:
        """NAME@VERSION with its library installed (once; a no-op for a plain client)."""
        if self.version is None:
            return self
        binary = Path(self.command[0]).name if self.language in COMPILED else ""
        versions.ensure(self.base, self.version, self.library, self.folder, binary, say)
        return self

    @property
    def description(self) -> dict:
        return describe(self)


@cache
def all_drivers() -> dict[str, DriverSpec]:
    out = {}
    for toml in sorted(DRIVERS.glob("*/driver.toml")):
        d = tomllib.loads(toml.read_text())
        ranges = tuple(_range(toml, name, r) for name, r in d.get("options", {}).items())
        out[d["name"]] = DriverSpec(
            d["name"], d["family"], d["language"], tuple(d["command"]), toml.parent, ranges, d.get("library")
        )
    return out


def _range(toml: Path, name: str, declared: object) -> tuple[str, int | None, int | None]:
    ok = isinstance(declared, dict) and set(declared) <= {"min", "max"}
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in declared.values())  # type: ignore[union-attr]
    if not ok:
        raise EnvironmentFault(f"{toml}: option {name} must be a table of whole-number min and max")
    return name, declared.get("min"), declared.get("max")  # type: ignore[union-attr]


def get(name: str) -> DriverSpec:
    """A client by name; NAME@VERSION is that client's driver on another version of its
    library (not installed here: `installed_at_version` does that)."""
    plain, version = versions.split(name)
    try:
        spec = all_drivers()[plain]
    except KeyError:
        raise UsageError(f"unknown client {plain!r}", f"choose one of: {', '.join(all_drivers())}") from None
    if version is None:
        return spec
    if not version or not version.strip("v").replace(".", "").replace("-", "").isalnum():
        raise UsageError(f"--client {name}: {version!r} is not a version", f"e.g. {plain}@1.2.3")
    versions.package(spec.library, plain)  # refuses a driver whose library cannot be chosen
    return dataclasses.replace(spec, name=name, version=version, home=versions.folder(plain, version))


def of_family(family: str) -> list[DriverSpec]:
    return [d for d in all_drivers().values() if d.family == family]


def unavailable(spec: DriverSpec) -> str | None:
    """Why the set-up left this client out (its toolchain is missing: one line saying
    what to install), or None."""
    entry = paths.installed(f"driver-{spec.base}") or {}
    return entry.get("unavailable")


@cache
def describe(spec: DriverSpec) -> dict:
    """The driver's own account of its library, version and abilities (--describe)."""
    left_out = unavailable(spec)
    if left_out:
        raise EnvironmentFault(f"client {spec.name} is unavailable: {left_out}")
    argv = spec.argv()
    if not Path(argv[0]).exists() and shutil.which(argv[0]) is None:
        raise EnvironmentFault(
            f"driver for {spec.name} cannot run: {argv[0]} is missing", f"run `{paths.SETUP_COMMAND}`"
        )
    if spec.language == "javascript" and not paths.node_modules(spec.folder).is_dir():
        raise EnvironmentFault(
            f"driver for {spec.name} is not installed (no node_modules)", f"run `{paths.SETUP_COMMAND}`"
        )
    if spec.language == "java" and not ((spec.home or paths.maven_build(spec.folder)) / "driver.jar").is_file():
        raise EnvironmentFault(f"driver for {spec.name} is not built (no driver.jar)", f"run `{paths.SETUP_COMMAND}`")
    try:
        out = subprocess.run([*argv, "--describe"], capture_output=True, text=True, timeout=60, env=spec.env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentFault(f"driver for {spec.name} could not describe itself: {e}") from e
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentFault(
            f"driver for {spec.name} failed --describe (exit {out.returncode}): {tail[0]}",
            f"run `{paths.SETUP_COMMAND}`",
        )
    try:
        desc = json.loads(out.stdout)
    except ValueError as e:
        raise EnvironmentFault(f"driver for {spec.name} printed unreadable --describe output") from e
    bad = problems("driver-describe", desc)
    if bad:
        raise EnvironmentFault(f"driver for {spec.name} breaks the describe contract: {bad[0]}")
    if spec.version and not versions.same(desc["library_version"], spec.version):
        raise EnvironmentFault(
            f"driver for {spec.name} runs {desc['library']} {desc['library_version']}, not {spec.version}",
            f"remove {spec.home} and run again",
        )
    return desc


def option_types(spec: DriverSpec) -> dict[str, OptionType]:
    """Every option the driver describes, with its kind and the range it accepts."""
    kinds = describe(spec)["options"]
    declared = {name: (low, high) for name, low, high in spec.ranges}
    stray = sorted(set(declared) - set(kinds))
    if stray:
        raise EnvironmentFault(f"{spec.folder / 'driver.toml'} gives a range for {stray[0]}, which the driver lacks")
    return {name: option_type(kind, *declared.get(name, (None, None))) for name, kind in kinds.items()}
