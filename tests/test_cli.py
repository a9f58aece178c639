"""The installed ``mtrec`` script: the same command line as ``python run.py``, from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMANDS = ("train", "recommend", "serve", "compare", "retrain", "backtest")


def test_the_mtrec_script_is_installed_and_runs_from_any_folder(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mtrec"
    assert script.is_file(), "pip install -e . installs the mtrec console script"
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}
    done = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.startswith("  ")}
    assert set(COMMANDS) <= listed, done.stdout
    # A usage error exits 2, as the README's exit statuses say.
    wrong = subprocess.run(
        [str(script), "train", "--no-such-flag"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 2 and "no-such-flag" in wrong.stderr
