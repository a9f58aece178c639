"""A finished training run, as the command line reports it and the retraining cycle reads it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtrec.config import RunConfig
from mtrec.evaluation.results import EvaluationResult
from mtrec.files import sha256_text
from mtrec.reports.export import metrics_table

GATE_FIELDS = ("users", "candidate", "production", "mean_difference", "low", "high")
"""The paired bootstrap's figures a cycle record keeps."""


@dataclass(frozen=True)
class TrainingRun:
    """One training-pipeline run: where its reports are and what was decided on its version."""

    name: str
    run_dir: Path
    version: str
    promoted: bool
    reason: str
    stage: str
    """The version's stage when the run was exported (a later promotion may archive it)."""
    test: Mapping[str, float] = field(default_factory=dict)
    """The evaluated model's test metrics (history = train)."""
    gate: Mapping[str, float] = field(default_factory=dict)
    """The paired bootstrap against production (:data:`GATE_FIELDS`), when one ran."""

    @classmethod
    def from_outputs(
        cls,
        name: str,
        run_dir: Path,
        decision: Mapping[str, Any],
        evaluation: EvaluationResult,
        stage: str,
    ) -> TrainingRun:
        """From the run's ``promotion_decision`` and ``evaluation_metrics`` artifacts."""
        bootstrap = (decision.get("evidence") or {}).get("bootstrap") or {}
        return cls(
            name=name,
            run_dir=run_dir,
            version=str(decision["version"]),
            promoted=bool(decision["promote"]),
            reason=str(decision["reason"]),
            stage=stage,
            test=dict(evaluation.test),
            gate={k: bootstrap[k] for k in GATE_FIELDS if k in bootstrap},
        )


def model_version_name(config: RunConfig, data_fingerprint: str, code_hash: str) -> str:
    """A version name fixed by data, config and code: rerunning the same inputs reuses it."""
    digest = sha256_text(json.dumps([config.model_dump(mode="json"), data_fingerprint, code_hash]))
    return f"{config.data.source}-{digest[:12]}"


def run_summary(
    evaluation: EvaluationResult,
    id_only: EvaluationResult | None,
    drift: Mapping[str, Any],
    ks: Sequence[int],
    cached: Sequence[str],
    n_steps: int,
    run: TrainingRun,
    reports_dir: Path,
) -> str:
    """The lines printed after a run: the metrics table (with the ``id_only`` ablation when it
    ran), cached steps, ``drift`` (the ``drift_summary``), the decision."""
    lines = ["", metrics_table(evaluation, tuple(ks), id_only), ""]
    lines.append(f"steps cached: {len(cached)}/{n_steps} ({', '.join(sorted(cached)) or 'none'})")
    lines.append(
        f"drift: {drift['n_drifted']}/{drift['n_columns']} columns drifted, "
        f"detected={drift['drift_detected']}"
    )
    text_drift = drift.get("embedding_drift")
    if text_drift:
        tested = text_drift["status"] == "tested"
        detail = f"AUC {text_drift['auc']:.3f}" if tested else text_drift["status"]
        lines.append(
            f"text-embedding drift: {text_drift['new_items']} new items, {detail}, "
            f"detected={text_drift['drift_detected']}"
        )
    when = "registered earlier, decision" if "register_model" in cached else "decision"
    lines.append(
        f"model version {run.version}: {when}: promote={run.promoted} ({run.reason}); "
        f"stage now: {run.stage}"
    )
    lines.append(f"reports: {run.run_dir} (also {reports_dir / 'latest'})")
    return "\n".join(lines)
