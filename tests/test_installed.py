"""The harness pip-installed into a fresh virtualenv, used from a folder that is no checkout:
the built-in scenarios are listed, the tools are looked for in the per-user folder, runs write
under the current directory, and messages name `harness setup`.

pip fetches the dependencies from PyPI (or its cache): about 25 s with a warm cache. Skip it
with HARNESS_SKIP_INSTALL_TEST=1 on a machine without network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import paths

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("HARNESS_SKIP_INSTALL_TEST")), reason="HARNESS_SKIP_INSTALL_TEST is set"),
]

# What the project's folder holds that a pip install does not read (or that is a symlink
# into the main checkout, from a worktree).
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".tools", ".state", "reports", "node_modules", "build", "*.egg-info", "__pycache__", ".*_cache"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh virtualenv with the project pip-installed (from a copy: pip builds in
    the tree it is given, and the checkout is not its to write)."""
    tmp = tmp_path_factory.mktemp("installed")
    t = time.monotonic()
    shutil.copytree(paths.ROOT, tmp / "src", ignore=NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-c", str(paths.ROOT / "constraints.txt"), str(tmp / "src")], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    print(f"venv and pip install: {time.monotonic() - t:.0f}s")
    return tmp / "venv" / "bin"


def harness(bin_dir: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The installed `harness`, as a user's shell runs it: no PYTHONPATH into the checkout."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "HARNESS_HOME")}
    return subprocess.run(
        [str(bin_dir / "harness"), *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=300
    )


def test_installed_harness_lists_runs_and_writes_where_the_user_is(installed: Path, tmp_path: Path) -> None:
    user = tmp_path / "my-project"
    user.mkdir()
    cache = tmp_path / "cache"

    out = harness(installed, user, "--version")
    assert out.returncode == 0 and out.stdout.startswith("harness "), out.stderr

    out = harness(installed, user, "list")
    assert out.returncode == 0, out.stderr
    assert "nats.single.no-reconnect" in out.stdout and "amqp.failover.next" in out.stdout

    # Nothing installed yet: the per-user folder is named, and the command the user has.
    run = ["run", "nats.single.no-reconnect", "--client", "nats-go"]
    out = harness(installed, user, *run, XDG_CACHE_HOME=str(cache))
    assert out.returncode == 3, out.stderr
    assert str(cache / "fault-harness" / "bin") in out.stderr and "`harness setup`" in out.stderr, out.stderr
    assert "make setup" not in out.stderr

    # With the checkout's tools: a real run (about 3 s), written under the current directory.
    t = time.monotonic()
    out = harness(installed, user, *run, HARNESS_HOME=str(paths.TOOLS))
    assert out.returncode == 0, out.stderr
    print(f"harness run: {time.monotonic() - t:.0f}s")
    results = list((user / "reports" / "runs").glob("*/results.json"))
    assert len(results) == 1 and (user / "reports" / "latest" / "report.html").is_file()
    site = installed.parent / "lib"
    assert not list(site.glob("python*/site-packages/reports")), "a run wrote into site-packages"
