"""The wheel's package list (pyproject.toml lists it, to map scenarios/ into the package)
names every package of harness/, and the built-in scenarios are found where paths says."""

from __future__ import annotations

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
