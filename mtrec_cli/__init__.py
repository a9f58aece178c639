"""The ZenML side of the command line: the store, the pipeline runs, the registry.

The library (``src/mtrec``) never imports zenml; this package does, and is what the ``mtrec``
console script and ``python run.py`` run. Importing it sets the environment every command
needs before zenml or transformers is first imported, and puts the project root on the path
so that ``pipelines`` and ``steps`` import by module path from wherever the command starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: its ``pipelines/`` and ``steps/`` are the code ZenML runs, its ``.zenml`` the
default store."""

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# The project's own ZenML store, however the command is started (make, python run.py, cron,
# the mtrec script), the one the Makefile names; set before zenml is first imported, which
# reads it once.
os.environ.setdefault("ZENML_CONFIG_PATH", str(PROJECT_ROOT / ".zenml"))
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
