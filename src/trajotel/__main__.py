"""``python -m trajotel`` is the ``trajotel`` command."""

import sys

from trajotel.cli.main import main

sys.exit(main())
