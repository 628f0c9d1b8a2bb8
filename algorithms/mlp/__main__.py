"""Entry point: ``python3 -m algorithms.mlp`` (the image's ``train``)."""

import sys

from algorithms.common.contract import STOP

# Catch SIGTERM before the slow torch import: a stop that arrives while importing still
# ends with exit code 0.
STOP.install()

from algorithms.mlp.train import main  # noqa: E402

sys.exit(main())
