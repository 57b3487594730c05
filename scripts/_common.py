"""scripts/engine.py's shared helpers, which live in the package (harness/install/common.py)
so that `harness setup` uses the same code. Run as `python3 scripts/<name>.py`, before the
virtualenv exists: the checkout goes on sys.path so that the (stdlib-only) package imports.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.install.common import *  # noqa: F403
from harness.install.common import __all__  # noqa: F401
