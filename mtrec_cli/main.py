"""The command line: ``mtrec <command>`` (or ``python run.py <command>``); see ``--help``.

Each command imports its module when it runs: Great Expectations, Evidently and the pipelines
take seconds to import, and a cached ``mtrec train`` needs none of what the others import.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mtrec_cli import PROJECT_ROOT
from mtrec_cli.failures import quiet_step_failures
from mtrec_cli.options import DEFAULT, RETRAIN, PathArg, configured, ids, run


@click.group(help=__doc__)
def cli() -> None:
    pass


@cli.command(help="Run the training pipeline.")
@configured(DEFAULT)
@click.option("--no-cache", is_flag=True, help="rerun every step")
@click.option("--run-config", type=PathArg, help="ZenML run configuration: stack, schedule")
def train(
    config_path: Path, overrides: tuple[str, ...], no_cache: bool, run_config: Path | None
) -> int:
    if run_config is not None and not run_config.is_file():
        raise click.BadParameter(f"ZenML run configuration not found: {run_config}")
    from mtrec_cli import training

    return run(
        config_path, overrides, lambda c: training.train(c, no_cache, run_config)[0], trains=True
    )


@cli.command(help="Top-K items per user from the registry, to CSV or Parquet.")
@configured(DEFAULT)
@click.option("--output", type=PathArg, default=Path("reports/recommendations.csv"))
@click.option("--k", type=int, default=10)
@click.option("--users", help="comma-separated user ids (default: all known users)")
@click.option("--stage", default="production")
@click.option("--profiles", type=PathArg, help="user_id,text profiles for new users")
@click.option("--events", type=PathArg, help="user_id,item_id[,timestamp] since training")
@click.option("--explain", is_flag=True, help="add a reason column: the item's topic share")
def recommend(
    config_path: Path,
    overrides: tuple[str, ...],
    output: Path,
    k: int,
    users: str | None,
    stage: str,
    profiles: Path | None,
    events: Path | None,
    explain: bool,
) -> int:
    from mtrec_cli import recommend as recommending

    return run(
        config_path,
        overrides,
        lambda c: recommending.recommend(
            c, output, k, ids(users), stage, profiles, events, explain
        ),
    )


@cli.command(help="HTTP service: POST /recommend, GET /health (docs/serving.md).")
@configured(DEFAULT)
@click.option("--host", default="127.0.0.1", help="another host needs MTREC_SERVE_TOKEN")
@click.option("--port", type=int, default=8000)
@click.option("--stage", default="production")
@click.option("--poll-seconds", type=float, default=5.0, help="registry check interval")
@click.option("--max-k", type=int, default=100, help="the longest list served")
@click.option("--threads", type=int, default=1, help="torch threads per request")
def serve(
    config_path: Path,
    overrides: tuple[str, ...],
    host: str,
    port: int,
    stage: str,
    poll_seconds: float,
    max_k: int,
    threads: int,
) -> int:
    from mtrec_cli import recommend as recommending

    return run(
        config_path,
        overrides,
        lambda c: recommending.serve(c, host, port, stage, poll_seconds, max_k, threads),
    )


@cli.command(help="Architectures x weightings against the baselines.")
@configured(DEFAULT)
@click.option("--output", type=PathArg, default=Path("reports/comparison"))
@click.option("--only", help="comma-separated variant names (default: all)")
def compare(config_path: Path, overrides: tuple[str, ...], output: Path, only: str | None) -> int:
    from mtrec_cli import compare as comparing

    return run(
        config_path, overrides, lambda c: comparing.compare(c, config_path, output, ids(only))
    )


@cli.command(help="One scheduled retraining cycle.")
@configured(RETRAIN)
@click.option("--window-start", type=int, help="redo the window starting here")
def retrain(config_path: Path, overrides: tuple[str, ...], window_start: int | None) -> int:
    from mtrec_cli import retraining

    return run(config_path, overrides, lambda c: retraining.retrain(c, window_start), trains=True)


@cli.command(help="Replay retraining on the data's own timeline.")
@configured(RETRAIN)
@click.option("--windows", type=int, default=6)
@click.option("--output", type=PathArg, default=Path("reports/backtest"))
@click.option("--fresh", is_flag=True, help="start from no ledger")
def backtest(
    config_path: Path, overrides: tuple[str, ...], windows: int, output: Path, fresh: bool
) -> int:
    from mtrec_cli import retraining

    return run(
        config_path,
        overrides,
        lambda c: retraining.backtest(c, config_path, windows, output, fresh),
        trains=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (2 for a usage error, as argparse gave)."""
    from zenml.utils import source_utils

    # Steps and pipelines are imported by module path relative to the project root, whatever
    # the working directory or the entry point (pytest, make, cron, the mtrec script).
    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    quiet_step_failures()
    try:
        status = cli.main(args=argv, prog_name="mtrec", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        return 1
    return status if isinstance(status, int) else 0


def main_exit() -> None:
    """The ``mtrec`` console script."""
    sys.exit(main())
