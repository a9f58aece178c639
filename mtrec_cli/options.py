"""What every command shares: ``--config`` and ``--set``, loading, exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mtrec.config import RunConfig, load_config
from mtrec_cli.store import holding_store

DEFAULT = Path("configs/default.yaml")
RETRAIN = Path("configs/retrain.yaml")
PathArg = click.Path(path_type=Path)


def configured(default: Path) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--config`` (defaulting to ``default``) and repeatable ``--set KEY=VALUE`` overrides."""

    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="override a config value, e.g. training.epochs=5",
        )(command)
        return click.option(
            "--config", "config_path", type=PathArg, default=default, show_default=True
        )(command)

    return wrap


def run(
    path: Path, overrides: tuple[str, ...], body: Callable[[RunConfig], int], trains: bool = False
) -> int:
    """Load the config and run ``body`` on it, turning a bad config or input into exit 2. A
    command that ``trains`` holds the store's run lock: one such run at a time per store."""
    try:
        config = load_config(path, list(overrides))
        if not trains:
            return body(config)
        with holding_store(config.registry.model_name) as problem:
            if problem:  # checked once: a locked store takes ZenML 60 s to give up on
                print(f"error: {problem}", file=sys.stderr)
                return 3
            return body(config)
    except ValidationError as error:
        print(f"error: invalid config {path}: {error}", file=sys.stderr)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
    return 2


def ids(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",")] if value else None
