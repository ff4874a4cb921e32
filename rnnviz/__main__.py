"""``python -m rnnviz`` and ``torchrun --nproc-per-node N -m rnnviz``: the same flags as rnnviz-report."""

import sys

from rnnviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
