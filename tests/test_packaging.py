"""The wheel's package list (pyproject.toml lists it, to map scenarios/ into the package)
names every package of harness/, and the built-in scenarios are found where paths says."""

from __future__ import annotations

import fnmatch
import tomllib

from harness import paths
from harness.scenario import load_all


def test_pyproject_lists_every_package():
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    found = {".".join(i.parent.relative_to(paths.ROOT).parts) for i in paths.PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(project["package-dir"])


def test_the_checkout_is_told_apart():
    assert paths.CHECKOUT and paths.SETUP_COMMAND == "make setup"
    assert paths.SCENARIOS == paths.ROOT / "scenarios"
    assert "nats.single.no-reconnect" in load_all()


def test_the_wheel_ships_the_go_sources_the_set_up_builds():
    # harness setup builds each [go-driver] folder from the installed package.
    data = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["harness"]
    pins = tomllib.loads(paths.PINS_FILE.read_text())
    for spec in pins["go-driver"].values():
        folder = paths.ROOT / spec["dir"]
        for f in [*folder.glob("*.go"), folder / "go.mod", folder / "go.sum"]:
            name = str(f.relative_to(paths.PACKAGE))
            assert any(fnmatch.fnmatchcase(name, glob) for glob in data), f"{name} is not in package-data"


def test_the_wheel_ships_the_java_sources_the_set_up_builds():
    # harness setup runs Maven on each driver folder with a pom.xml, from the installed package.
    data = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["harness"]
    for pom in paths.PACKAGE.glob("drivers/*/pom.xml"):
        for f in [pom, *pom.parent.glob("*.java")]:
            name = str(f.relative_to(paths.PACKAGE))
            assert any(fnmatch.fnmatchcase(name, glob) for glob in data), f"{name} is not in package-data"
