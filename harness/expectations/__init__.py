"""Expectations: documented claims about client libraries, as data.

Each `*.toml` beside this module is one document's claims: for a family of
clients (every client of the family is held to it) or for one client (what that
library's own documentation states where it differs). Every claim quotes its
sentence; `quote_problem` tells whether the quote is still verbatim in its source.
"""

from __future__ import annotations

import os
import re
import tomllib
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import paths
from harness.contracts import problems
from harness.errors import EnvironmentFault

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Expectation:
    id: str
    claim: str
    quote: str
    value: Any
    short: str | None  # the claim in a few words, shown where there is no value
    unit: str | None
    doc: str  # title of the source document
    where: str  # seed file name, or package:file

    @property
    def documented(self) -> Any:
        """What a check shows as documented: the value, else the claim's short form."""
        return self.value if self.value is not None else self.short

    def source(self) -> dict:
        return {"document": self.doc, "file": self.where, "quote": self.quote}


@dataclass(frozen=True)
class ExpectationFile:
    path: Path
    family: str | None
    client: str | None
    source: dict
    expectations: tuple[Expectation, ...]


@cache
def files() -> tuple[ExpectationFile, ...]:
    return tuple(parse_file(path) for path in sorted(HERE.glob("*.toml")))


def parse_file(path: Path) -> ExpectationFile:
    """One expectations file, or EnvironmentFault: one line naming the file."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise EnvironmentFault(f"expectations file {path.name} cannot be read: {e.strerror or e}") from e
    except (ValueError, RecursionError) as e:  # not UTF-8, not TOML (a ValueError), or nested too deep
        raise EnvironmentFault(f"expectations file {path.name} is not valid TOML: {e}") from e
    bad = problems("expectations", data)
    if bad:
        raise EnvironmentFault(f"expectations file {path.name} is malformed: {bad[0]}")
    src = data["source"]
    where = src["seed"] if "seed" in src else f"{src['package']}:{src['file']}"  # seed may be "" (schema allows)
    exps = tuple(
        Expectation(e["id"], e["claim"], e["quote"], e.get("value"), e.get("short"), e.get("unit"), src["title"], where)
        for e in data["expectation"]
    )
    return ExpectationFile(path, data.get("family"), data.get("client"), src, exps)


def for_client(client: str, family: str) -> dict[str, Expectation]:
    """Every expectation that applies to `client`: its family's and its own."""
    out: dict[str, Expectation] = {}
    for f in files():
        if f.family == family or f.client == client:
            for e in f.expectations:
                out[e.id] = e
    return out


def variants(check_id: str) -> list[str]:
    """Every client's own version of a claim, `check_id@CLIENT`, from the expectation
    files: what a scenario declares and judges beside the claim, so that which client
    documents what lives in the files and not in scenario code."""
    return sorted({e.id for f in files() for e in f.expectations if e.id.startswith(f"{check_id}@")})


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# A source package named "npm:NAME" is an npm package, installed in the client's
# driver folder (its node_modules); "maven:GROUP:ARTIFACT" a Maven artifact whose sources
# jar the set-up put beside the client's driver jars; any other name is a Python distribution.
NPM = "npm:"
MAVEN = "maven:"


def _npm_file(f: ExpectationFile, package: str, file: str) -> Path | None:
    from harness.drivers import registry  # here: the registry imports this module's neighbours

    spec = registry.all_drivers().get(f.client or "")
    modules = paths.node_modules(spec.folder) if spec else None
    return modules / package / file if modules and (modules / package).is_dir() else None


def _maven_text(f: ExpectationFile, artifact: str, file: str) -> str:
    """The text of `file` in the artifact's sources jar (harness/install/tools.py puts it in
    the Java driver's sources/), or a ValueError saying why there is none."""
    from harness.drivers import registry

    spec = registry.all_drivers().get(f.client or "")
    name = artifact.rpartition(":")[2]
    jars = sorted((paths.maven_build(spec.folder) / "sources").glob(f"{name}-*-sources.jar")) if spec else []
    if not jars:
        raise ValueError(f"maven artifact {artifact} is not installed for client {f.client}")
    try:
        with zipfile.ZipFile(jars[-1]) as jar:
            text = jar.read(file).decode(errors="replace")
    except KeyError:
        raise ValueError(f"source {jars[-1]}!{file} does not exist") from None
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"source {jars[-1]} cannot be read: {err}") from None
    # A javadoc sentence runs over lines that each begin with " * ": quoted without them.
    return re.sub(r"(?m)^\s*\*(?: |$)", "", text) if file.endswith(".java") else text


# A source package named "crate:NAME" is a Rust crate, read from cargo's registry
# sources ($CARGO_HOME/registry/src/*/NAME-VERSION/) at the version the client's
# driver folder locks (its Cargo.lock). Its doc comments are quoted without their
# `///` or `//!` markers.
CRATE = "crate:"
DOC_COMMENT = re.compile(r"^[ \t]*//[/!][ \t]?", re.M)


def _crate_file(f: ExpectationFile, crate: str, file: str) -> Path | str:
    """The crate's file, or why it cannot be found."""
    from harness.drivers import registry  # here: the registry imports this module's neighbours

    spec = registry.all_drivers().get(f.client or "")
    lock = spec.folder / "Cargo.lock" if spec else None
    if lock is None or not lock.is_file():
        return f"client {f.client} has no Cargo.lock to name the version of crate {crate}"
    try:
        packages = tomllib.loads(lock.read_text()).get("package", [])
    except (OSError, ValueError) as err:
        return f"{lock} cannot be read: {err}"
    versions = [p.get("version") for p in packages if isinstance(p, dict) and p.get("name") == crate]
    if len(versions) != 1:
        return f"{lock} locks {len(versions)} versions of crate {crate}, not one"
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    found = sorted((home / "registry" / "src").glob(f"*/{crate}-{versions[0]}"))
    if not found:
        return f"crate {crate} {versions[0]} is not in cargo's registry sources ({home}): run the set-up"
    return found[0] / file


def quote_problem(f: ExpectationFile, e: Expectation) -> str | None:
    """Why the quote is not (any more) verbatim in its source, or None if it is."""
    if "seed" in f.source:
        if not paths.SEEDS.is_dir():  # a pip-installed harness has no seeds beside it
            return f"the documentation seeds are absent ({paths.SEEDS}): the quote of {e.id} cannot be checked"
        path = paths.SEEDS / f.source["seed"]
    elif f.source["package"].startswith(MAVEN):
        try:
            text = _maven_text(f, f.source["package"].removeprefix(MAVEN), f.source["file"])
        except ValueError as err:
            return str(err)
        return None if _normalise(e.quote) in _normalise(text) else f"quote of {e.id} is not in {f.source['file']}"
    elif f.source["package"].startswith(NPM):
        path = _npm_file(f, f.source["package"].removeprefix(NPM), f.source["file"])
        if path is None:
            return f"npm package {f.source['package']} is not installed for client {f.client}"
    elif f.source["package"].startswith(CRATE):
        found = _crate_file(f, f.source["package"].removeprefix(CRATE), f.source["file"])
        if isinstance(found, str):
            return found
        path = found
    else:
        try:
            dist = metadata.distribution(f.source["package"])
        except (metadata.PackageNotFoundError, ValueError):  # ValueError: an empty package name
            return f"package {f.source['package']} is not installed"
        path = Path(str(dist.locate_file(f.source["file"])))
    if not path.is_file():  # also a seed or file naming a folder ("")
        return f"source {path} does not exist"
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        return f"source {path} cannot be read: {err.strerror or err}"
    if "seed" not in f.source and f.source["package"].startswith(CRATE):
        text = DOC_COMMENT.sub("", text)
    if _normalise(e.quote) not in _normalise(text):
        return f"quote of {e.id} is not in {path}"
    return None
