"""``python -m mockserver`` is the ``mockserver`` command."""

import sys

from .cli import main

sys.exit(main())
