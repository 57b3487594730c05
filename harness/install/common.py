"""What the set-up (harness/install/tools.py) and scripts/engine.py share: running a
command, `go install` of a pin, apt-get, the manifest of what the set-up installed, and
the one-line error.

Stdlib only, like both: they run before the virtualenv exists (`python3 scripts/setup.py`
puts the checkout on sys.path to import the harness package). Where things live comes from
harness.paths, which is stdlib only too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

from harness.paths import BIN, CHECKOUT, MANIFEST, PINS_FILE, ROOT, SETUP_COMMAND, TOOLS

__all__ = [
    "BIN",
    "CHECKOUT",
    "MANIFEST",
    "PINS_FILE",
    "ROOT",
    "SETUP_COMMAND",
    "TOOLS",
    "CommandFailed",
    "ScriptError",
    "apt_get_install",
    "can_apt_get",
    "exit_code",
    "go_install",
    "read_manifest",
    "run",
    "teller",
]


class ScriptError(Exception):
    """One line for the user: what is wrong and what to do."""


class CommandFailed(ScriptError):
    """run()'s command exited non-zero. `output` keeps all it printed, for a caller that
    picks its own line (the compiler's first error) rather than the last few."""

    def __init__(self, line: str, output: str) -> None:
        super().__init__(line)
        self.output = output


def teller(prog: str, stderr: bool = False) -> Callable[[str], None]:
    """say(msg) for a script: `[prog] msg`, flushed at once."""

    def say(msg: str) -> None:
        print(f"[{prog}] {msg}", file=sys.stderr if stderr else sys.stdout, flush=True)

    return say


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """A command that must succeed; its output captured, its failure one ScriptError line."""
    try:
        return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)
    except FileNotFoundError as e:
        raise ScriptError(f"{cmd[0]} not found") from e
    except subprocess.CalledProcessError as e:
        output = (e.stderr or "") + (e.stdout or "")
        tail = (e.stderr or e.stdout or "").strip().splitlines()[-5:]
        raise CommandFailed(f"`{' '.join(cmd)}` failed: {' | '.join(tail)}", output) from e


def read_manifest() -> dict | None:
    """The manifest the set-up wrote, or None when it is missing or unreadable."""
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None


def go_install(pin: dict, env: dict[str, str]) -> None:
    """`go install` a package pinned in pins.toml into $GOBIN (set in env)."""
    cmd = ["go", "install"]
    if pin.get("ldflags"):
        cmd.append(f"-ldflags={pin['ldflags']}")
    if not pin.get("build_in_module"):
        run([*cmd, f"{pin['package']}@v{pin['version']}"], env=env)
        return
    # `go install pkg@version` refuses a module whose go.mod has replace or exclude
    # directives (docker compose's has excludes), so build in the module's own source
    # tree, as its main module. Only $GOBIN is written: the module cache stays read-only.
    ref = f"{pin['module']}@v{pin['version']}"
    src = json.loads(run(["go", "mod", "download", "-json", ref], env=env).stdout)["Dir"]
    rel = pin["package"].removeprefix(pin["module"])
    run([*cmd, f".{rel}"], cwd=src, env=env)


def can_apt_get() -> bool:
    """Whether this script may install Debian packages itself (root, with apt-get)."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_get_install(packages: list[str], *options: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", *options, *packages], env=env)


def exit_code(
    prog: str,
    body: Callable[[], object],
    interrupted: str = "interrupted",
    one_line: tuple[type[Exception], ...] = (ScriptError,),
) -> int:
    """Run a script's body: 0, or its error as one line `prog: ...` on stderr and 1, or 130 on Ctrl-C."""
    try:
        body()
    except one_line as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    return 0
