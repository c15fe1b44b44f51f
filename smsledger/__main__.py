"""``python -m smsledger``: the same as the ``smsledger`` console script."""

import sys

from smsledger.entrypoints.cli import main

sys.exit(main())
