"""``python run.py <command>``: the ``mtrec`` command line (``mtrec_cli``) without installing it.

Commands: train, recommend, serve, compare, retrain, backtest; ``python run.py --help``.
"""

from __future__ import annotations

import sys

from mtrec_cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
