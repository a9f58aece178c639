"""The validation page: the verdict on the interactions, every Great Expectations check, and
sample rows for the failed ones (``templates/validation.html.j2``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mtrec.reports.pages import render_page

if TYPE_CHECKING:  # importing Great Expectations takes seconds; the page only reads the result
    from mtrec.data.validation import ValidationResult


def render_validation_html(
    result: ValidationResult, title: str = "Interaction data validation"
) -> str:
    """A self-contained HTML page: verdict, every expectation, sample rows for failures."""
    return render_page(
        "validation.html.j2", title=title, result=result, sample_columns=_sample_columns
    )


def _sample_columns(sample: Sequence[Mapping[str, object]]) -> list[str]:
    """Every column of the sample rows, in order of first appearance."""
    return list(dict.fromkeys(k for row in sample for k in row))
