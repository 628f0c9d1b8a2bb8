"""``python -m runner.interfaces.cli``: the same as the ``smlocal`` command."""

from __future__ import annotations

import sys

from runner.interfaces.cli.main import main

sys.exit(main())
