"""Every HTML page comes from one base template: the same stylesheet, head and header, values
escaped, and the pages' own content (comparison, timeline) as the reviewer reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from jinja2 import UndefinedError

from mtrec.data.validation import ExpectationOutcome, ValidationResult
from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult
from mtrec.reports.comparison import render_comparison_html
from mtrec.reports.evaluation import render_evaluation_report
from mtrec.reports.index import render_index
from mtrec.reports.pages import STYLESHEET, environment
from mtrec.reports.timeline import render_timeline_html
from mtrec.reports.validation import render_validation_html
from mtrec.retrain.windows import CycleDrift, CycleRecord, GateFigures
from mtrec.training.history import EpochLog, TrainingHistory

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
RANKING = {"ndcg@10": 0.12, "recall@10": 0.11, "hit@10": 0.46, "mrr@10": 0.22}
METRICS = EvaluationResult(
    valid={"ndcg@10": 0.1},
    test={**RANKING, "watch_auc": 0.84},
    baselines={"popularity": {name: value / 2 for name, value in RANKING.items()}},
)


def _history(task: str = "watch") -> TrainingHistory:
    """Two epochs of one task: three charts (loss, weight, validation NDCG)."""
    epochs = tuple(
        EpochLog(
            epoch=e,
            losses={task: 0.5},
            weights={task: 1.0},
            valid={"ndcg@10": 0.05},
            seconds=1.5,
        )
        for e in (1, 2)
    )
    return TrainingHistory(best_epoch=1, best_valid={}, seconds=3.0, epochs=epochs)


def _interests(label: str) -> tuple[Topics, pd.DataFrame]:
    """Two topics, the first labelled ``label`` (labels are made of item titles' words)."""
    topics = Topics(
        np.array([0, 0, 1]), np.eye(2, dtype=np.float32), (label, "Drama"), np.array([2, 1])
    )
    profiles = pd.DataFrame(
        {
            "user_idx": [0, 1],
            "n_interactions": [5, 3],
            "n_recent": [2, 2],
            "long_term_top": [f"{label} (100%)", "Drama (100%)"],
            "recent_top": ["Drama (100%)", f"{label} (100%)"],
            "shift": [0.5, 0.2],
        }
    )
    return topics, profiles


def _comparison_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": ["multi-task", "baseline", "baseline"],
            "ndcg@10": [0.2, 0.1, np.nan],
            "rating_rmse": [0.9, 0.95, np.nan],
            "train_seconds": [12.3, 1.0, np.nan],
            "skipped": [np.nan, np.nan, "EASE needs 3 GB"],
        },
        index=["mmoe", "popularity", "ease"],
    )


def _cycles(tmp_path: Path) -> list[CycleRecord]:
    def window(label: str, number: int) -> dict:
        return {"window": label, "window_start": number, "window_end": number + 1, "status": "done"}

    return [
        CycleRecord(
            **window("2026-01", 1),
            window_interactions=100,
            scored_users=10,
            production_metric="ndcg@10",
            production_score=0.1,
            trigger="drift",
            retrained=True,
            promoted=True,
            drift=CycleDrift(
                drifted_share=0.3, drift_detected=True, page=str(tmp_path / "w1" / "drift.html")
            ),
            gate=GateFigures(low=0.01, high=0.05, candidate=0.12),
            candidate_metric="ndcg@10",
            candidate_score=0.11,
            run_dir=str(tmp_path / "run1"),
            reason="better",
        ),
        CycleRecord(
            **window("2026-02", 2), drift=CycleDrift(status="too few rows"), retrained=False
        ),
        CycleRecord(
            **window("2026-03", 3),
            drift=CycleDrift(drifted_share=0.1),
            retrained=True,
            promoted=False,
            production_metric="ndcg@10",
            production_score=0.2,
            gate=GateFigures(mean_difference=-0.01),
            reason="worse",
        ),
    ]


def _validation() -> ValidationResult:
    outcome = ExpectationOutcome(
        "expect_column_value_lengths_to_be_between",
        "title",
        False,
        "1 of 3 rows longer than 10",
        1,
        ({"title": SCRIPT},),
    )
    return ValidationResult(success=False, n_rows=3, outcomes=(outcome,))


def _pages(tmp_path: Path) -> dict[str, str]:
    """Each page the library renders, on tiny inputs."""
    run = tmp_path / "reports" / "run-a"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({**METRICS.to_json(), "run": {"name": "run-a"}}))
    (run / "evaluation.html").write_text("<html></html>")
    return {
        "evaluation": render_evaluation_report(METRICS, _history(), None, None, None, (10,)),
        "comparison": render_comparison_html(_comparison_table(), "Model comparison", ["n"]),
        "index": render_index(tmp_path / "reports"),
        "timeline": render_timeline_html(_cycles(tmp_path), "Backtest", ["n"], tmp_path / "bt"),
        "validation": render_validation_html(_validation()),
    }


def test_every_page_shares_the_one_stylesheet_and_shell(tmp_path: Path) -> None:
    stylesheet = STYLESHEET.read_text("utf-8").strip()
    for name, page in _pages(tmp_path).items():
        assert page.startswith('<!DOCTYPE html>\n<html lang="en">'), name
        assert page.count("<style>") == 1 and " style=" not in page, name
        style = page.split("<style>")[1].split("</style>")[0]
        assert style.strip() == stylesheet, name
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        assert f"<header><h1>{title}</h1></header>" in page, name
        assert '<link rel="icon" href="data:,">' in page and "<script" not in page, name
        assert page.rstrip().endswith("</main>\n</body>\n</html>"), name


def test_an_item_title_with_a_script_is_escaped_in_the_evaluation_page() -> None:
    beyond = {SCRIPT: 0.5}
    page = render_evaluation_report(
        METRICS.model_copy(update={"beyond_accuracy": beyond}),
        _history(),
        None,
        None,
        None,
        (10,),
        title=f"Run {SCRIPT}",
        interests=_interests(f"{SCRIPT} · love"),
    )
    assert "<script" not in page
    assert f"<title>Run {ESCAPED}</title>" in page and f"<h1>Run {ESCAPED}</h1>" in page
    assert f"<td class='txt'>{ESCAPED} · love</td>" in page  # the topic's label
    assert f"<td class='txt'>{ESCAPED} · love (100%)</td>" in page  # a user's topics
    assert f"<tr><td>{ESCAPED}</td><td>0.5000</td></tr>" in page  # a metric's name
    # The charts are SVG of our own, kept as markup; a series name in them is escaped.
    assert page.count("<svg") == 3
    page = render_evaluation_report(METRICS, _history(task=SCRIPT), None, None, None, (10,))
    assert "<script" not in page and page.count("<svg") == 3 and ESCAPED in page


def test_the_validation_page_escapes_sample_values() -> None:
    page = render_validation_html(_validation(), title=SCRIPT)
    assert "<script" not in page and page.count(ESCAPED) == 3  # title, heading, sample cell
    sample = f'<table class="sample"><thead><tr><th>title</th></tr></thead><tbody><tr><td>{ESCAPED}'
    assert sample in page
    assert 'class="badge fail">FAIL<' in page


def test_comparison_bolds_each_metric_best_in_its_direction_and_spans_skipped_rows() -> None:
    page = render_comparison_html(_comparison_table(), "Model comparison", ["a <note>"])
    assert page.count("<tr>") == 4 and "<li>a &lt;note&gt;</li>" in page
    assert "<th>model</th><th>kind</th><th>ndcg@10</th><th>rating_rmse</th>" in page
    assert "<th>skipped</th>" not in page
    best = "<tr><td>mmoe</td><td>multi-task</td><td><b>0.2000</b></td><td><b>0.9000</b></td>"
    assert best in page
    assert "<td>12</td></tr>" in page  # seconds, whole and never bold
    assert "<td>popularity</td><td>baseline</td><td>0.1000</td><td>0.9500</td><td>1</td>" in page
    assert "<td>ease</td><td>baseline</td><td colspan='3'>skipped: EASE needs 3 GB</td>" in page


def test_timeline_links_relative_to_its_folder_and_marks_decisions(tmp_path: Path) -> None:
    page = render_timeline_html(_cycles(tmp_path), "Backtest", ["a note"], tmp_path / "bt")
    rows = page.split("<tbody>")[1].split("</tbody>")[0].strip().split("\n")
    assert len(rows) == 3 and page.count("<polyline") == 3
    first, skipped, refused = rows
    assert "<a href='../w1/drift.html'>0.30</a> <span class='badge no'>drift</span>" in first
    assert "<span class='badge yes'>promoted</span>" in first
    assert "<td class='txt'><a href='../run1/evaluation.html'>better</a></td>" in first
    assert "<td>0.0100 … 0.0500</td><td>0.1100</td>" in first
    assert "<td>too few rows</td>" in skipped and "<td>–</td><td class='txt'></td>" in skipped
    assert "<td>0.10</td>" in refused and "<span class='badge no'>refused</span>" in refused
    assert "<td>0.1900</td>" in refused  # production plus the gate's mean difference


def test_the_environment_escapes_every_html_template() -> None:
    env = environment()
    names = [n for n in env.list_templates() if n.endswith(".html.j2")]
    assert set(names) >= {
        f"{p}.html.j2"
        for p in ("base", "evaluation", "comparison", "index", "timeline", "validation")
    }
    assert all(env.autoescape(name) for name in names)
    with pytest.raises(UndefinedError, match="title"):
        env.get_template("base.html.j2").render()  # a page without a title is an error
