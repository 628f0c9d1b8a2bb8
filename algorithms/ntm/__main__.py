"""Entry point: ``python3 -m algorithms.ntm`` (the image's ``train``)."""

import sys

from algorithms.common.contract import STOP

# Catch SIGTERM before the slow torch import: a stop that arrives while importing still
# ends with the model saved and exit code 0.
STOP.install()

from algorithms.ntm.train import main  # noqa: E402

sys.exit(main())
