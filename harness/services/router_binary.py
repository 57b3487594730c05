"""Which router binary the local backend runs: HARNESS_ROUTER (a path, or a name on
PATH), else skrouterd, else qdrouterd on PATH. Fedora and RHEL package both; the
harness never builds or installs a router.

Two flavours read nearly the same configuration language: skrouterd
(skupper-router, versions 2 and up) and qdrouterd (Qpid Dispatch Router 1.x, the
upstream of AMQ Interconnect). The flavour is the binary's name when it is one of
those, else its version's major number. qdrouterd before 1.5 has no edge routers,
which the router topology needs: refused in one line, as a binary whose
--version fails is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.errors import EnvironmentFault, Unavailable

ENV = "HARNESS_ROUTER"
SKROUTERD = "skrouterd"
QDROUTERD = "qdrouterd"
SEARCHED = (SKROUTERD, QDROUTERD)
# Edge mode arrived in Qpid Dispatch 1.5; every skupper-router has it.
MINIMUM = {QDROUTERD: (1, 5), SKROUTERD: (2, 0)}
REASON = (
    "no router binary on this machine (skrouterd or qdrouterd)"
    f": install one from your distribution (Fedora and RHEL package them), put it on PATH or name it in {ENV}"
    ", or use --backend compose on a machine with Docker"
)
VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?\S*")


@dataclass(frozen=True)
class Binary:
    path: str
    flavour: str  # SKROUTERD or QDROUTERD: which configuration language it reads
    version: str


def locate() -> str:
    """The path of the router binary to run; Unavailable when there is none."""
    named = os.environ.get(ENV, "").strip()
    if named:
        found = shutil.which(named)
        if found is None:
            raise EnvironmentFault(f"{ENV}={named} is not an executable file or a command on PATH")
        return found
    for name in SEARCHED:
        found = shutil.which(name)
        if found:
            return found
    raise Unavailable(REASON)


def find() -> Binary:
    """The router binary, its flavour and version (asked once per binary)."""
    path = locate()
    st = Path(path).stat()
    return _probe(path, st.st_mtime_ns, st.st_size)


@cache
def _probe(path: str, mtime_ns: int, size: int) -> Binary:
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentFault(f"router {path} cannot be run: {e}") from None
    said = (r.stdout + r.stderr).strip().splitlines()
    m = VERSION.search(said[0]) if said else None
    if r.returncode != 0 or m is None:
        last = said[-1].strip() if said else f"exit code {r.returncode}, no output"
        raise EnvironmentFault(f"router {path} --version failed: {last}")
    version = m[0]
    name = Path(path).name
    flavour = name if name in SEARCHED else (QDROUTERD if int(m[1]) < 2 else SKROUTERD)
    if (int(m[1]), int(m[2])) < MINIMUM[flavour]:
        low = ".".join(map(str, MINIMUM[flavour]))
        raise EnvironmentFault(
            f"{flavour} {version} ({path}) is too old: the router topology needs edge routers, {flavour} {low} or later"
        )
    return Binary(path, flavour, version)
