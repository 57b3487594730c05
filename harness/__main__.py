"""`python -m harness`: the `harness` command without its installed script."""

import sys

from harness.cli import main

sys.exit(main())
