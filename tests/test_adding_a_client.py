"""Adding a client is a recipe (docs/adding-a-client.md), checked here for every driver
folder: registered, installed by the set-up, linted, held to expectations, and known
to scenario code only through data."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from harness import expectations, paths
from harness.drivers import registry, versions
from harness.install import tools

DRIVERS = registry.DRIVERS
FOLDERS = sorted(p for p in DRIVERS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
SPECS = {spec.folder: spec for spec in registry.all_drivers().values()}
LANGUAGES = ("python", "go", "javascript", "java", "rust")


def lint_recipe() -> str:
    text = (paths.ROOT / "Makefile").read_text()
    return re.search(r"^lint:.*\n((?:\t.*\n)+)", text, re.M).group(1)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_driver_folder_is_registered(folder: Path):
    assert (folder / "driver.toml").is_file(), f"{folder.name} has no driver.toml"
    spec = SPECS[folder]
    assert spec.language in LANGUAGES
    assert spec.name.replace("-", "_") == folder.name, "the folder is named for the client"
    kind, _ = versions.package(spec.library, spec.name)  # what --client NAME@VERSION installs
    assert kind in versions.KINDS


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_driver_is_installed_by_the_set_up(folder: Path):
    spec = SPECS[folder]
    rel = str(folder.relative_to(paths.ROOT))
    if spec.language == "go":
        assert rel in [s["dir"] for s in tools.PINS["go-driver"].values()], "add it to harness/pins.toml [go-driver]"
    elif spec.language == "javascript":
        assert (folder / "package-lock.json").is_file(), "npm ci needs a committed package-lock.json"
        assert {"dir": rel} in tools.drivers_by(*tools.NPM_DRIVER).values()
        pinned = json.loads((folder / "package.json").read_text())
        assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pinned["dependencies"].values()), "pin exact versions"
    elif spec.language == "java":
        assert (folder / "pom.xml").is_file(), "the Maven step builds every folder with a pom.xml"
        assert {"dir": rel} in tools.drivers_by(*tools.MAVEN_DRIVER).values()
        pom = (folder / "pom.xml").read_text()
        versions = re.findall(r"<version>([^<]*)</version>", pom)
        assert versions and all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions), "pin exact versions"
        assert "{tools}/drivers/" + folder.name + "/*" in spec.command, "run from the jars the set-up built"
    elif spec.language == "rust":
        assert (folder / "Cargo.lock").is_file(), "cargo build --locked needs a committed Cargo.lock"
        assert {"dir": rel} in tools.drivers_by(*tools.CARGO_DRIVER).values()
        assert spec.command[0] == f"{{bin}}/driver-{spec.name}", "the set-up puts the binary in {bin}/driver-NAME"
    else:  # the virtualenv's Python, with the libraries pyproject.toml lists
        assert spec.command[0] == "{python}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_driver_is_linted(folder: Path):
    recipe = lint_recipe()
    needs = {
        "python": "ruff check harness",
        "go": "harness/drivers/*/go.mod",
        "javascript": "harness/drivers/*/driver.js",
        "java": "harness/drivers/*/pom.xml",
        "rust": "harness/drivers/*/Cargo.toml",
    }[SPECS[folder].language]
    assert needs in recipe, f"make lint does not cover {folder.name}"
    if SPECS[folder].language == "javascript":
        assert (folder / "driver.js").is_file()
    if SPECS[folder].language == "go":
        assert (folder / "go.mod").is_file()
    if SPECS[folder].language == "rust":
        assert (folder / "Cargo.toml").is_file()


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_driver_has_expectations(folder: Path):
    spec = SPECS[folder]
    files = expectations.files()
    assert any(f.family == spec.family for f in files), f"no expectations file for the {spec.family} family"
    # A client's own claims (`X@CLIENT`) live in its own file, and nowhere else.
    for f in files:
        for e in f.expectations:
            if e.id.endswith(f"@{spec.name}"):
                assert f.client == spec.name, f"{e.id} is in {f.path.name}, not in {spec.name}'s own file"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_driver_reports_its_own_timer_lateness(folder: Path):
    """Optional in the contract, but every built-in driver has it: a driver's timers can be
    late where the harness's probe does not look, and its `lateness` widens the entry's
    noise budget (harness/noise.py). test_drivers.py checks the event a driver prints."""
    observes = registry.describe(SPECS[folder])["observes"]
    assert "lateness" in observes, f"{folder.name} does not report `lateness` (docs/driver-contract.md)"


def _names_client(node: ast.AST | None, names: set[str]) -> bool:
    """A string constant that is a client's name, or a check id with a client suffix."""
    text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
    return text is not None and (text in names or text.rpartition("@")[2] in names)


def test_no_per_client_fact_lives_in_scenario_or_test_code():
    """Per-client facts live in data (driver.toml, the expectations, the baseline), so a
    new client touches no scenario and no test: no string in scenarios/*.py names a
    client (check ids with a client suffix come from expectations.variants()), and no
    table in tests/*.py is keyed by one (tests may name clients to drive them)."""
    names = set(registry.all_drivers())
    found = set()
    for path in sorted((paths.ROOT / "scenarios").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if _names_client(node, names):
                found.add((path.name, node.value))  # type: ignore[attr-defined]
    for path in sorted((paths.ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and any(_names_client(k, names) for k in node.keys):
                found.add((path.name, f"a table keyed by client at line {node.lineno}"))
    assert not found, f"per-client facts in code: {sorted(found)}"


def test_a_client_whose_toolchain_is_missing_is_left_out_and_the_others_run(monkeypatch, capsys):
    """The set-up marks a driver it could not build (no Maven, no cargo) unavailable, with
    its one line; a run of every client leaves that one out and says so, and naming it
    is one line, not a failure of every other client."""
    from harness import cli
    from harness.errors import EnvironmentFault

    java = next(s for s in registry.all_drivers().values() if s.language == "java")
    reason = f"driver-{java.name} needs Java 17 or newer and Maven (Java 17, no mvn on PATH): install them"
    real = paths.installed
    monkeypatch.setattr(
        paths, "installed", lambda n: {"unavailable": reason} if n == f"driver-{java.name}" else real(n)
    )
    assert registry.unavailable(java) == reason
    with pytest.raises(EnvironmentFault, match=f"client {java.name} is unavailable: driver-"):
        registry.describe.__wrapped__(java)
    pairs = cli._pairs(cli._parser().parse_args(["run", f"{java.family}.*"]))
    clients = {spec.name for _, spec in pairs}
    assert java.name not in clients and clients == {s.name for s in registry.of_family(java.family)} - {java.name}
    assert f"left out: {reason}" in capsys.readouterr().err


def test_a_missing_cargo_is_one_line(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    for name, spec in tools.drivers_by(*tools.CARGO_DRIVER).items():
        with pytest.raises(tools.ScriptError, match=r"^Rust is not installed: install cargo") as e:
            tools.ensure_cargo_driver(name, spec, {})
        assert "\n" not in str(e.value)
