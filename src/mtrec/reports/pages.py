"""The page shell every HTML report shares: one Jinja2 environment over ``templates/``.

Each page is a template that extends ``base.html.j2`` (doctype, head, title, the one
stylesheet ``style.css`` inlined, header), so a page stays a single self-contained file that
opens offline and as a ZenML artifact. Autoescaping is on: a value reaches the page escaped
unless it is :class:`markupsafe.Markup`, which only our own chart functions produce.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = TEMPLATES / "style.css"


def num(value: Any, digits: int = 4, missing: str = "n/a") -> str:
    """A float to ``digits`` decimals; ``missing`` for None and NaN; anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def percent(change: float) -> str:
    """A relative change as a signed percentage, e.g. ``+22.0%``."""
    return "n/a" if math.isnan(change) else f"{100 * change:+.1f}%"


def delta(value: float, reference: float, higher_is_better: bool = True) -> tuple[str, str]:
    """The CSS class (``pos`` better, ``neg`` worse, ``muted`` equal or unknown) and the text
    of ``value - reference``."""
    if any(isinstance(v, float) and math.isnan(v) for v in (value, reference)):
        return "muted", "n/a"
    difference = value - reference
    good = difference > 0 if higher_is_better else difference < 0
    return ("pos" if good else ("neg" if difference != 0 else "muted")), f"{difference:+.4f}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=StrictUndefined,
        # Block tags on lines of their own leave no blank lines in the page.
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, percent=percent)
    env.globals.update(delta=delta)
    return env


def render_page(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; every page needs a ``title``."""
    return environment().get_template(template).render(**context)
