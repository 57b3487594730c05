"""`--client NAME@VERSION`: a client's driver on another version of its library,
installed once into a folder of its own (harness/drivers/versions.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import paths
from harness.drivers import registry, versions
from harness.errors import EnvironmentFault, UsageError
from harness.install.common import CommandFailed

OTHER = "2.15.0"  # an older nats-py than the one pyproject.toml pins
JNATS = "2.21.5"  # an older jnats than its pom.xml pins
ASYNC_NATS = "0.41.0"  # an older async-nats than its Cargo.toml pins

# Recorded answers, cut short: Maven Central's maven-metadata.xml and a crates.io sparse-index file.
METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>io.nats</groupId>
  <artifactId>jnats</artifactId>
  <versioning>
    <latest>2.22.0</latest>
    <release>2.22.0</release>
    <versions>
      <version>1.0</version>
      <version>2.21.5</version>
      <version>2.10.0</version>
      <version>2.22.0-RC1</version>
      <version>2.22.0</version>
      <version>2.9.0</version>
    </versions>
    <lastUpdated>20250101000000</lastUpdated>
  </versioning>
</metadata>
"""
INDEX = "\n".join(
    json.dumps({"name": "async-nats", "vers": v, "deps": [], "cksum": "00", "features": {}, "yanked": y})
    for v, y in [("0.9.0", False), ("0.41.0", False), ("0.42.0-beta.1", False), ("0.42.0", False), ("0.40.1", True)]
)
# What cargo and Maven print when the driver does not compile (cut short).
CARGO_ERROR = """error[E0599]: no method named `retry_on_connect` found for struct `ConnectOptions`
   --> src/main.rs:212:14
    |
212 |         opts.retry_on_connect()
    |              ^^^^^^^^^^^^^^^^^^^^^^^^ method not found in `ConnectOptions`

error: could not compile `driver-async-nats` (bin "driver-async-nats") due to 1 previous error
"""
MAVEN_ERROR = """[ERROR] COMPILATION ERROR :
[ERROR] /t/versions/jnats/2.6.8/src/Main.java:[12,30] package io.nats.client.support does not exist
[ERROR] /t/versions/jnats/2.6.8/src/Main.java:[300,9] cannot find symbol
  symbol:   class Options
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile
"""


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


def test_a_compiled_or_java_client_at_a_version_runs_what_was_built_in_its_folder():
    home = versions.folder("async-nats", ASYNC_NATS)
    assert registry.get(f"async-nats@{ASYNC_NATS}").argv() == [str(home / "driver-async-nats")]
    for name, folder in [("jnats", "jnats"), ("qpid-jms", "qpid_jms")]:
        plain, versioned = registry.get(name).argv(), registry.get(f"{name}@1.0.0").argv()
        classpath = plain.index(str(paths.TOOLS / "drivers" / folder / "*"))
        assert versioned[classpath] == str(versions.folder(name, "1.0.0") / "*")  # its own jars, none of the set-up's
        assert versioned[:classpath] + versioned[classpath + 1 :] == plain[:classpath] + plain[classpath + 1 :]


def test_every_kind_has_an_installer():
    assert set(versions.KINDS) == set(versions.INSTALLERS) == set(versions.REGISTRY)


def test_maven_central_versions_are_read_from_its_metadata():
    assert versions.maven_metadata_url("io.nats:jnats") == (
        "https://repo.maven.apache.org/maven2/io/nats/jnats/maven-metadata.xml"
    )
    got = versions.maven_versions(METADATA, "Maven Central")
    assert got == ["2.22.0", "2.22.0-RC1", "2.21.5", "2.10.0", "2.9.0", "1.0"]  # newest first, by number
    with pytest.raises(EnvironmentFault, match="unreadable maven-metadata"):
        versions.maven_versions("<html>503", "Maven Central")


def test_crates_io_versions_are_read_from_its_sparse_index():
    urls = {n: versions.crate_index_url(n) for n in ["a", "ab", "abc", "futures-util", "Serde"]}
    assert {n: u.removeprefix("https://index.crates.io/") for n, u in urls.items()} == {
        "a": "1/a",
        "ab": "2/ab",
        "abc": "3/a/abc",
        "futures-util": "fu/tu/futures-util",
        "Serde": "se/rd/serde",
    }
    assert versions.crate_versions(INDEX, "crates.io") == ["0.42.0", "0.42.0-beta.1", "0.41.0", "0.9.0"]  # no yanked
    with pytest.raises(EnvironmentFault, match="unreadable index entry"):
        versions.crate_versions('{"name": "x"}', "crates.io")


def test_an_unreachable_registry_is_one_line():
    with pytest.raises(EnvironmentFault, match=r"^could not ask Maven Central: ") as e:
        versions._fetch("http://127.0.0.1:9/maven-metadata.xml", "Maven Central")
    assert "\n" not in e.value.line()


@pytest.mark.parametrize(
    ("folder", "pkg"), [("jnats", "io.nats:jnats"), ("qpid_jms", "org.apache.qpid:qpid-jms-client")]
)
def test_the_pom_changes_in_that_dependency_s_version_alone(folder: str, pkg: str):
    pom = (registry.DRIVERS / folder / "pom.xml").read_text()
    new = versions.pom_at_version(pom, pkg, "1.2.3")
    changed = [(a, b) for a, b in zip(pom.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1].strip() == "<version>1.2.3</version>", changed
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = ET.fromstring(new).findall("m:dependencies/m:dependency", ns)
    by_name = {f"{d.findtext('m:groupId', '', ns)}:{d.findtext('m:artifactId', '', ns)}": d for d in deps}
    assert by_name[pkg].findtext("m:version", "", ns) == "1.2.3"
    with pytest.raises(EnvironmentFault, match="no one <dependency> on org"):
        versions.pom_at_version(pom, "org.example:other", "1.2.3")


def test_cargo_toml_requires_exactly_that_version_of_the_crate():
    text = (registry.DRIVERS / "async_nats" / "Cargo.toml").read_text()
    new = tomllib.loads(versions.cargo_toml_at_version(text, "async-nats", ASYNC_NATS))
    old = tomllib.loads(text)
    assert new["dependencies"]["async-nats"] == {**old["dependencies"]["async-nats"], "version": f"={ASYNC_NATS}"}
    assert {k: v for k, v in new["dependencies"].items() if k != "async-nats"} == {
        k: v for k, v in old["dependencies"].items() if k != "async-nats"
    }
    plain = versions.cargo_toml_at_version('[dependencies]\nasync-nats = "0.42"\n', "async-nats", ASYNC_NATS)
    assert tomllib.loads(plain)["dependencies"]["async-nats"] == f"={ASYNC_NATS}"
    with pytest.raises(EnvironmentFault, match="no one dependency line on async-nats"):
        versions.cargo_toml_at_version('[dependencies]\nasync-natsx = "1"\n', "async-nats", ASYNC_NATS)


def test_a_failed_build_is_the_compiler_s_first_error():
    assert versions.first_error(CARGO_ERROR) == (
        "error[E0599]: no method named `retry_on_connect` found for struct `ConnectOptions` (src/main.rs:212:14)"
    )
    assert versions.first_error(MAVEN_ERROR, Path("/t/versions/jnats/2.6.8/src")) == (
        "Main.java:[12,30] package io.nats.client.support does not exist"
    )
    assert versions.first_error("something\nthe end\n") == "the end"


@pytest.fixture
def tools_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Versions installed under tmp_path, offering whatever is asked for, with the toolchains there."""
    monkeypatch.setattr(paths, "TOOLS", tmp_path)
    monkeypatch.setattr(versions, "offered", lambda kind, pkg: [JNATS, ASYNC_NATS])
    monkeypatch.setattr(versions.tools, "maven_missing", lambda who: None)
    monkeypatch.setattr(versions.tools, "cargo_missing", lambda: None)
    return tmp_path


def test_a_crate_version_is_built_from_a_copy_locked_to_it_alone(tools_in: Path, monkeypatch: pytest.MonkeyPatch):
    ran: list[tuple[list[str], Path]] = []
    built = tools_in / "target" / "release" / "driver-async-nats"

    def cargo_build(crate: Path, target: Path) -> Path:
        ran.append((["cargo", "build", str(target)], crate))
        built.parent.mkdir(parents=True)
        built.write_text("a binary")
        return built

    monkeypatch.setattr(versions.tools, "run", lambda cmd, cwd: ran.append((cmd, cwd)))
    monkeypatch.setattr(versions.tools, "cargo_build", cargo_build)
    spec = registry.get(f"async-nats@{ASYNC_NATS}").installed_at_version(lambda _: None)
    src, driver = spec.home / "src", registry.get("async-nats").folder
    assert ran == [
        (["cargo", "update", "--quiet", "-p", "async-nats", "--precise", ASYNC_NATS], src),
        (["cargo", "build", str(versions.tools.cargo_target(driver))], src),  # the set-up's target folder
    ]
    assert (src / "Cargo.lock").read_text() == (driver / "Cargo.lock").read_text()  # moved by cargo update alone
    assert f'version = "={ASYNC_NATS}"' in (src / "Cargo.toml").read_text()
    assert (src / "build.rs").is_file() and (src / "src" / "main.rs").is_file()
    assert (spec.home / "driver-async-nats").read_text() == "a binary" and spec.argv()[0] == str(
        spec.home / "driver-async-nats"
    )
    assert versions.installed("async-nats", ASYNC_NATS)


def test_a_version_the_driver_does_not_compile_against_is_one_line_and_leaves_nothing(
    tools_in: Path, monkeypatch: pytest.MonkeyPatch
):
    def fails(crate: Path, target: Path) -> Path:
        raise CommandFailed("`cargo build ...` failed: error: could not compile", CARGO_ERROR)

    monkeypatch.setattr(versions.tools, "run", lambda cmd, cwd: None)
    monkeypatch.setattr(versions.tools, "cargo_build", fails)
    with pytest.raises(EnvironmentFault) as e:
        registry.get(f"async-nats@{ASYNC_NATS}").installed_at_version(lambda _: None)
    assert e.value.line() == (
        f"cargo building the driver against async-nats {ASYNC_NATS} failed: error[E0599]: no method named "
        "`retry_on_connect` found for struct `ConnectOptions` (src/main.rs:212:14)"
    )
    assert not versions.folder("async-nats", ASYNC_NATS).exists()


def test_a_maven_version_is_built_as_the_set_up_builds_it(tools_in: Path, monkeypatch: pytest.MonkeyPatch):
    calls = []

    def maven_package(pom: Path, out: Path, build: Path, sources: bool = True) -> None:
        calls.append((pom, out, sources))
        (out / "driver.jar").write_text("jar")
        build.mkdir()

    monkeypatch.setattr(versions.tools, "maven_package", maven_package)
    spec = registry.get(f"jnats@{JNATS}").installed_at_version(lambda _: None)
    src = spec.home / "src"
    assert calls == [(src / "pom.xml", spec.home, False)]  # no sources jars: quotes are the base client's
    assert f"<version>{JNATS}</version>" in (src / "pom.xml").read_text() and (src / "Main.java").is_file()
    assert not (spec.home / "build").exists() and (spec.home / "driver.jar").is_file()
    assert str(spec.home / "*") in spec.argv()


@pytest.mark.parametrize("client", [f"jnats@{JNATS}", f"async-nats@{ASYNC_NATS}"])
def test_a_missing_toolchain_is_one_line_before_any_registry_is_asked(
    client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(paths, "TOOLS", tmp_path)
    monkeypatch.setattr(versions.tools.shutil, "which", lambda name: None)
    monkeypatch.setattr(versions.tools, "java_major", lambda: None)
    monkeypatch.setattr(versions, "offered", lambda kind, pkg: pytest.fail("asked the registry"))
    with pytest.raises(EnvironmentFault, match=rf"^{client} (needs Java 17 or newer and Maven|cannot be built: Rust)"):
        registry.get(client).installed_at_version(lambda _: None)
    assert not (tmp_path / "versions").exists()


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
@pytest.mark.parametrize(("client", "other"), [("nats-py", OTHER), ("jnats", JNATS)])  # jnats: Maven, about 20 s
def test_two_versions_run_side_by_side(tmp_path: Path, client: str, other: str):
    run = tmp_path / "run"
    args = ["run", "nats.single.no-reconnect", "--client", f"{client}@{other}", "--client", client]
    out = harness(tmp_path, *args, "--out", str(run))
    assert out.returncode == 0, out.stderr
    entries = {e["client"]: e for e in json.loads((run / "results.json").read_text())["entries"]}
    assert set(entries) == {f"{client}@{other}", client}
    assert entries[f"{client}@{other}"]["client_version"] == other
    assert entries[client]["client_version"] != other
    for e in entries.values():  # both held to the base client's documentation, both judged
        assert e["status"] == "ok" and e["checks"] and {c["verdict"] for c in e["checks"]} <= {"conforms", "holds"}
    assert f"{client}@{other}" in out.stdout  # its own column in the table
    assert versions.installed(client, other)
