#!/usr/bin/env python3
"""`make setup`: the checkout's .venv, then the servers and drivers into .tools/.

The set-up itself is harness/install/tools.py, the same code `harness setup` runs when
the harness is pip-installed. Run with the machine's python3, before the virtualenv exists:
the checkout goes on sys.path so the (stdlib-only) package imports.
"""

import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - runs under whatever python3 the machine has
    sys.exit(f"setup: Python {sys.version.split()[0]} is too old: install Python 3.11 or newer")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.install import tools

if __name__ == "__main__":
    sys.exit(tools.main(sys.argv[1:], with_venv=True))
