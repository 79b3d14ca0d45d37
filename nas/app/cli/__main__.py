"""``python -m nas.app.cli``: the ``nas`` command."""

import sys

from . import main

sys.exit(main())
