"""`--client NAME@VERSION`: a client's driver on another version of its library,
installed once into a folder of its own (harness/drivers/versions.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.drivers import registry, versions
from harness.errors import UsageError

OTHER = "2.15.0"  # an older nats-py than the one pyproject.toml pins


def harness(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "harness", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_a_versioned_name_is_its_client_at_that_version():
    spec = registry.get(f"nats-py@{OTHER}")
    plain = registry.get("nats-py")
    assert (spec.name, spec.base, spec.version) == (f"nats-py@{OTHER}", "nats-py", OTHER)
    assert spec.folder == plain.folder and spec.family == plain.family
    assert spec.home == versions.folder("nats-py", OTHER)
    assert spec.env()["PYTHONPATH"].split(os.pathsep)[0] == str(spec.home / "site")
    assert "PYTHONPATH" not in plain.env() or plain.env()["PYTHONPATH"] == os.environ.get("PYTHONPATH")
    assert registry.get("nats-js@3.3.0").argv()[-1] == str(versions.folder("nats-js", "3.3.0") / "driver.js")
    assert registry.get("nats-go@1.54.0").argv()[0] == str(versions.folder("nats-go", "1.54.0") / "driver-nats-go")


@pytest.mark.parametrize("name", ["nats-go@", "nats-go@../x", "nats-go@1/2", "nats-go@ 1"])
def test_a_bad_version_is_refused_before_anything_runs(name: str):
    with pytest.raises(UsageError, match="is not a version"):
        registry.get(name)


def test_a_driver_without_a_library_package_cannot_take_a_version():
    with pytest.raises(UsageError, match="names no library package"):
        versions.package(None, "some-client")


def test_an_unknown_version_names_what_the_registry_offers(tmp_path: Path):
    out = harness(
        tmp_path, "run", "nats.single.no-reconnect", "--client", "nats-py@0.0.1", "--out", str(tmp_path / "r")
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "PyPI has no version 0.0.1 of nats-py" in lines[0] and OTHER in lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.scenario
def test_two_versions_run_side_by_side(tmp_path: Path):
    run = tmp_path / "run"
    args = ["run", "nats.single.no-reconnect", "--client", f"nats-py@{OTHER}", "--client", "nats-py"]
    out = harness(tmp_path, *args, "--out", str(run))
    assert out.returncode == 0, out.stderr
    entries = {e["client"]: e for e in json.loads((run / "results.json").read_text())["entries"]}
    assert set(entries) == {f"nats-py@{OTHER}", "nats-py"}
    assert entries[f"nats-py@{OTHER}"]["client_version"] == OTHER
    assert entries["nats-py"]["client_version"] != OTHER
    for e in entries.values():  # both held to nats-py's documentation, both judged
        assert e["status"] == "ok" and e["checks"] and {c["verdict"] for c in e["checks"]} <= {"conforms", "holds"}
    assert f"nats-py@{OTHER}" in out.stdout  # its own column in the table
    assert versions.installed("nats-py", OTHER)
