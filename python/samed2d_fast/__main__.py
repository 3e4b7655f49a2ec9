"""``python -m samed2d_fast`` is the ``samed2d`` command."""

import sys

from .cli import main

sys.exit(main())
