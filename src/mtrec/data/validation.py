"""Validate interaction data with Great Expectations before anything is trained on it.

Great Expectations 1.x is called directly on an ephemeral, in-memory context: one pandas batch
for the interactions and a second batch of per-user interaction counts, because GX has no
expectation that counts rows per group (and, for a multi-behaviour log, a third: each row
marked by whether its (user, item) pair has a row at an earlier stage of the funnel). Every
pass/fail decision and every unexpected count comes from GX; this module only decides which
expectations apply (a missing or non-numeric column skips the checks that would crash on it),
turns GX's results into small frozen records with sample offending rows, and words them as an
error message (the HTML page is :mod:`mtrec.reports.validation`'s).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# GX would otherwise try to send usage statistics when a context is created.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# GX logs hundreds of INFO lines about its own API registry at import; keep warnings only.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from mtrec.config import EventFunnel, ValidationConfig  # noqa: E402

REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")
"""What every log has; ``rating`` and other label columns are required by the tasks that read
them (``label_columns``), so an implicit log (views, clicks) needs none."""

_INT_TYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    # GX resolves pandas' nullable dtypes by class name: "Int64" alone matches nothing.
    "Int8Dtype",
    "Int16Dtype",
    "Int32Dtype",
    "Int64Dtype",
    "UInt8Dtype",
    "UInt16Dtype",
    "UInt32Dtype",
    "UInt64Dtype",
)
_FLOAT_TYPES = ("float32", "float64", "Float32Dtype", "Float64Dtype")
_RATING_TYPES = _INT_TYPES + _FLOAT_TYPES
_DUPLICATE_KEY = ("user_id", "item_id", "timestamp")
_META_KEY = "mtrec_check"
_SAMPLE_CHARS = 200
"""Longer text values are cut in samples: a 1 MB field must not flood the message or page."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One GX expectation's verdict, in words a person can act on."""

    expectation: str
    """GX expectation type, e.g. ``expect_column_values_to_be_between``."""
    column: str | None
    """Column(s) it checks, comma-separated for compound expectations."""
    success: bool
    observed: str
    """Human-readable observed value, e.g. ``3 of 1,000 rows (0.3%) outside [1, 5]``."""
    unexpected_count: int
    sample: tuple[dict[str, object], ...]
    """Up to ``sample_rows`` offending rows, whole rows with JSON-friendly values."""


@dataclass(frozen=True)
class ValidationResult:
    """Every expectation's outcome on one interactions frame."""

    success: bool
    n_rows: int
    outcomes: tuple[ExpectationOutcome, ...]
    repairs: dict[str, int] = field(default_factory=dict)
    """What was repaired before the checks, e.g. ``{"exact_duplicate_rows_dropped": 3}``."""

    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    def to_dict(self) -> dict[str, object]:
        return {
            "success": self.success,
            "n_rows": self.n_rows,
            "n_expectations": len(self.outcomes),
            "n_failed": len(self.failures()),
            "repairs": dict(self.repairs),
            "outcomes": [
                {**asdict(o), "sample": [dict(row) for row in o.sample]} for o in self.outcomes
            ],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ValidationResult:
        """The result back from :meth:`to_dict` (the ``validation_summary`` artifact)."""
        outcomes = tuple(
            ExpectationOutcome(
                expectation=str(outcome["expectation"]),
                column=None if outcome["column"] is None else str(outcome["column"]),
                success=bool(outcome["success"]),
                observed=str(outcome["observed"]),
                unexpected_count=int(outcome["unexpected_count"]),
                sample=tuple(dict(row) for row in outcome["sample"]),
            )
            for outcome in raw["outcomes"]
        )
        repairs = {str(name): int(count) for name, count in raw["repairs"].items()}
        return cls(bool(raw["success"]), int(raw["n_rows"]), outcomes, repairs)


class DataValidationError(ValueError):
    """Raised when interactions fail validation; the message lists every failure and samples."""

    def __init__(self, result: ValidationResult) -> None:
        self.result = result
        super().__init__(_failure_message(result))


@dataclass(frozen=True)
class _Check:
    """An expectation plus what is needed to explain its result."""

    expectation: gxe.Expectation
    column: str | None
    kind: str
    """``rows``, ``exists``, ``dtype``, ``distinct`` (a column's number of distinct values) or
    ``count`` (a map expectation counting offending rows)."""
    problem: str = ""
    """What a failure means, e.g. ``outside [1, 5]`` for a ``count`` check (the offending rows
    have it) or ``fewer than the 10 required (validation.min_users)``."""
    unit: str = "rows"
    show_values: bool = True
    """Whether GX's offending values are worth quoting (nulls are not)."""


def repair_interactions(
    interactions: pd.DataFrame, config: ValidationConfig, funnel: EventFunnel | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the repairs the config allows; returns the frame to validate and use, and counts.

    Only two repairs exist, each opted into: dropping exact duplicate rows (``duplicates:
    drop``: they add nothing) and dropping the rows of users below the minimum interaction
    count (``sparse_users: drop``). Any other defect changes what the data says and must be
    fixed at the source. With an event ``funnel``, a user's interactions are their distinct
    items (each pair's event rows become one interaction).
    """
    repairs: dict[str, int] = {}
    if config.duplicates == "drop":
        duplicated = interactions.duplicated(keep="first")
        interactions = interactions[~duplicated].reset_index(drop=True)
        repairs["exact_duplicate_rows_dropped"] = int(duplicated.sum())
    if config.sparse_users == "drop" and "user_id" in interactions:
        counts = _interactions_per_user(interactions, funnel, per_row=True)
        # Null ids are left for validation to name; they are not a sparse user.
        sparse = interactions["user_id"].notna() & (counts < config.min_interactions_per_user)
        repairs["sparse_users_dropped"] = int(interactions.loc[sparse, "user_id"].nunique())
        repairs["sparse_user_rows_dropped"] = int(sparse.sum())
        interactions = interactions[~sparse].reset_index(drop=True)
    return interactions, repairs


def validate_interactions(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    config: ValidationConfig,
    now: int | None = None,
    repairs: Mapping[str, int] | None = None,
    label_columns: Mapping[str, Sequence[str]] | None = None,
    funnel: EventFunnel | None = None,
) -> ValidationResult:
    """Check ``interactions`` (and the item table's text fields) against the expectation
    suite; never raises on bad data. ``repairs`` (from :func:`repair_interactions`) are
    carried into the result for the report. ``label_columns``: the columns the declared tasks
    read, each with those tasks (:meth:`mtrec.config.ModelConfig.label_columns`); each must
    exist, be numeric and have no nulls, and a failure names the tasks. ``rating``'s range is
    checked whenever the column is there.

    ``funnel`` (``DataConfig.funnel``): the event column must exist without nulls, hold only
    the declared labels, and every row at a later stage needs a row of an earlier stage for the
    same user and item (a purchase without a click is refused); rows may then share (user,
    item, timestamp) when their events differ, and a user's interactions are their items.

    ``now`` (seconds since the epoch) is the upper timestamp bound when ``config.timestamp_max``
    is ``None``; it defaults to the current time, so millisecond timestamps fail as future ones.
    """
    if "item_id" not in items.columns:
        raise ValueError("items frame has no 'item_id' column to check interactions against")
    # Positional labels let GX's unexpected index list address rows even when the caller's index
    # has duplicates; reset_index returns a new frame, so the input is untouched.
    frame = interactions.reset_index(drop=True)
    if funnel is not None and funnel.column in frame.columns:
        # Labels are text: a column of 1, 2 read as integers still matches events ["1", "2"].
        frame[funnel.column] = frame[funnel.column].astype("string")
    ts_max = config.timestamp_max if config.timestamp_max is not None else _now(now)
    checks = _interaction_checks(frame, items, config, ts_max, label_columns or {}, funnel)

    counts: pd.DataFrame | None = None
    count_checks: list[_Check] = []
    if "user_id" in frame.columns:
        counts = _interactions_per_user(frame, funnel).rename("n_interactions").reset_index()
        count_checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeBetween(
                    column="n_interactions", min_value=config.min_interactions_per_user
                ),
                "n_interactions",
                "count",
                problem=f"have fewer than {config.min_interactions_per_user} interactions",
                unit="users",
                show_values=False,
            )
        )

    context = gx.get_context(mode="ephemeral")
    # Progress bars would write to stderr on every validation, including in pipeline logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("mtrec")
    outcomes = _run(source, "interactions", frame, checks, config.sample_rows)
    if counts is not None:
        outcomes += _run(source, "user_counts", counts, count_checks, config.sample_rows)
    stages = _funnel_stages(frame, funnel)
    if stages is not None:
        assert funnel is not None
        outcomes += _run(
            source, "event_funnel", stages, [_funnel_check(funnel)], config.sample_rows
        )
    text_checks = _item_text_checks(items, config.max_text_chars)
    if text_checks:
        item_frame = items.reset_index(drop=True)
        outcomes += _run(source, "item_texts", item_frame, text_checks, config.sample_rows)
    return ValidationResult(
        success=all(o.success for o in outcomes),
        n_rows=len(frame),
        outcomes=tuple(outcomes),
        repairs=dict(repairs or {}),
    )


def _interactions_per_user(
    frame: pd.DataFrame, funnel: EventFunnel | None, per_row: bool = False
) -> pd.Series:
    """Interactions per user (rows; distinct items with an event funnel, whose rows of one
    pair become one interaction): by user, or ``per_row``, each row's user's count."""
    ids = frame[["user_id", "item_id"]] if "item_id" in frame.columns else frame[["user_id"]]
    if funnel is None:
        ids = ids[["user_id"]]
    if per_row:
        distinct = ~ids.duplicated() if funnel is not None else pd.Series(True, index=ids.index)
        counts = distinct.groupby(ids["user_id"], dropna=False).transform("sum")
        return counts.astype(np.int64)
    if funnel is not None:
        ids = ids.drop_duplicates()
    return ids.groupby("user_id", dropna=True, sort=True, observed=True).size()


FUNNEL_COLUMN = "has_earlier_stage"
"""The derived column of the funnel check: 1 where a row is at the funnel's first stage or its
(user, item) pair has a row at an earlier stage than it."""


def _funnel_stages(frame: pd.DataFrame, funnel: EventFunnel | None) -> pd.DataFrame | None:
    """The interactions plus :data:`FUNNEL_COLUMN`, for the funnel check (GX has no
    expectation over groups of rows); ``None`` when it cannot or need not run."""
    needed = {"user_id", "item_id"} | ({funnel.column} if funnel is not None else set())
    if funnel is None or len(funnel.stages) < 2 or not needed <= set(frame.columns):
        return None
    positions = {stage: i for i, stage in enumerate(funnel.stages)}
    stage = frame[funnel.column].map(positions).astype("float64")  # NaN: undeclared or null
    earliest = stage.groupby([frame["user_id"], frame["item_id"]], dropna=False).transform("min")
    # Undeclared labels and nulls are the other checks' to name, not this one's.
    ok = stage.isna() | (stage == 0) | (earliest < stage)
    return frame.assign(**{FUNNEL_COLUMN: ok.astype(np.int64)})


def _funnel_check(funnel: EventFunnel) -> _Check:
    first, later = funnel.stages[0], funnel.stages[-1]
    return _Check(
        gxe.ExpectColumnValuesToBeBetween(column=FUNNEL_COLUMN, min_value=1),
        funnel.column,
        "count",
        problem=(
            f"are a later stage of data.events ({' -> '.join(funnel.stages)}) with no "
            f"earlier-stage row for the same user_id and item_id (e.g. a {later} without a "
            f"{first}): the earlier events are missing from the log"
        ),
        show_values=False,
    )


def _item_text_checks(items: pd.DataFrame, max_chars: int) -> list[_Check]:
    """Length limits on the item table's text columns (ids excluded)."""
    text_columns = [
        c
        for c in items.columns
        if c != "item_id"
        and (pd.api.types.is_object_dtype(items[c]) or pd.api.types.is_string_dtype(items[c]))
    ]
    return [
        _Check(
            gxe.ExpectColumnValueLengthsToBeBetween(column=c, max_value=max_chars),
            c,
            "count",
            problem=f"are longer than {max_chars:,} characters",
            unit="items",
            show_values=False,
        )
        for c in text_columns
    ]


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else int(now)


def _interaction_checks(
    frame: pd.DataFrame,
    items: pd.DataFrame,
    config: ValidationConfig,
    ts_max: int,
    label_columns: Mapping[str, Sequence[str]],
    funnel: EventFunnel | None = None,
) -> list[_Check]:
    present = set(frame.columns)
    # An empty frame passes every column check vacuously, yet nothing can be trained on it; nor
    # can anything meaningful be learnt from a handful of rows, users or items.
    min_rows = max(1, config.min_interactions)
    checks = [
        _Check(
            gxe.ExpectTableRowCountToBeBetween(min_value=min_rows),
            None,
            "rows",
            problem=f"fewer than the {min_rows:,} required (validation.min_interactions)",
        )
    ]
    checks += [
        _Check(
            gxe.ExpectColumnToExist(column=c),
            c,
            "exists",
            problem=f"map the file's own column to it with data.columns: {{{c}: <column>}}",
        )
        for c in REQUIRED_COLUMNS
    ]
    for column, unit, least, field_name in (
        ("user_id", "users", config.min_users, "min_users"),
        ("item_id", "items", config.min_items, "min_items"),
    ):
        if column in present:
            checks.append(
                _Check(
                    gxe.ExpectColumnUniqueValueCountToBeBetween(column=column, min_value=least),
                    column,
                    "distinct",
                    problem=f"fewer than the {least:,} required (validation.{field_name})",
                    unit=unit,
                )
            )
    for column in REQUIRED_COLUMNS:
        if column in present:
            checks.append(
                _Check(
                    gxe.ExpectColumnValuesToNotBeNull(column=column),
                    column,
                    "count",
                    problem="are null",
                    show_values=False,
                )
            )

    event_column = funnel.column if funnel is not None else None
    required = dict(label_columns)
    if event_column is not None:
        required.setdefault(event_column, ())
    for column, tasks in required.items():
        readers = f"read by task{'s' if len(tasks) > 1 else ''} {', '.join(tasks)} (model.tasks)"
        if column == event_column:
            declared = "declared as data.event_column"
            readers = f"{declared}, {readers}" if tasks else declared
        checks.append(
            _Check(
                gxe.ExpectColumnToExist(column=column),
                column,
                "exists",
                problem=f"{readers}: add the column or leave those tasks out",
            )
        )
        if column in present:
            checks.append(
                _Check(
                    gxe.ExpectColumnValuesToNotBeNull(column=column),
                    column,
                    "count",
                    problem=f"are null ({readers})",
                    show_values=False,
                )
            )
    if event_column is not None and event_column in present:
        assert funnel is not None
        stages = set(funnel.stages)
        values = frame[event_column].dropna().unique()
        undeclared = sorted({str(v) for v in values} - stages)
        named = f": {', '.join(map(repr, undeclared))}" if undeclared else ""
        checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeInSet(column=event_column, value_set=[*funnel.stages]),
                event_column,
                "count",
                problem=f"have an event label not declared in data.events "
                f"{list(funnel.stages)}{named}",
                show_values=False,
            )
        )
    for column in sorted(({"rating", *label_columns} - {event_column}) & present):
        checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=[*_RATING_TYPES]),
                column,
                "dtype",
                problem="a numeric dtype",
            )
        )
    if "rating" in present and _is_numeric(frame["rating"]):
        lo, hi = config.rating_min, config.rating_max
        checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=lo, max_value=hi),
                "rating",
                "count",
                problem=f"outside [{_num(lo)}, {_num(hi)}]",
            )
        )

    if "timestamp" in present:
        ts_types = [*_INT_TYPES]
        if _is_whole_float(frame["timestamp"]):
            # A CSV loader turns an integer column into float64 as soon as one value is missing;
            # whole-number floats are still valid seconds, the null check reports the gap.
            ts_types.extend(_FLOAT_TYPES)
        checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeInTypeList(column="timestamp", type_list=ts_types),
                "timestamp",
                "dtype",
                problem="an integer dtype (whole seconds since the epoch)",
            )
        )
        if _is_numeric(frame["timestamp"]):
            bound = "" if config.timestamp_max is not None else " (now)"
            checks.append(
                _Check(
                    gxe.ExpectColumnValuesToBeBetween(
                        column="timestamp", min_value=config.timestamp_min, max_value=ts_max
                    ),
                    "timestamp",
                    "count",
                    problem=f"outside [{config.timestamp_min}, {ts_max}{bound}]",
                )
            )

    # A click and a purchase may share a second: with events, the event is part of the key.
    key = (*_DUPLICATE_KEY, *([event_column] if event_column in present else []))
    if present.issuperset(key):
        checks.append(
            _Check(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=[*key]),
                ",".join(key),
                "count",
                problem=f"share ({', '.join(key)}) with another row",
                show_values=False,
            )
        )

    if "item_id" in present:
        known = items["item_id"].dropna().unique().tolist()
        checks.append(
            _Check(
                gxe.ExpectColumnValuesToBeInSet(column="item_id", value_set=known),
                "item_id",
                "count",
                problem=f"have an item_id missing from items ({len(known):,} known)",
            )
        )
    return checks


def _is_numeric(series: pd.Series) -> bool:
    """Whether range checks can run: numbers, not booleans or objects that merely hold some."""
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_whole_float(series: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(series.dtype):
        return False
    values = series.dropna().to_numpy(dtype="float64")
    return bool(np.all(np.isfinite(values)) and np.all(values == np.floor(values)))


def _run(
    source: Any, name: str, frame: pd.DataFrame, checks: Sequence[_Check], sample_rows: int
) -> list[ExpectationOutcome]:
    batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = gx.ExpectationSuite(name=name)
    for i, check in enumerate(checks):
        # GX returns results in its own order, so each expectation carries its position.
        check.expectation.meta = {_META_KEY: i}
        suite.add_expectation(check.expectation)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    # SUMMARY with a small partial count keeps GX from materialising 100k-long index lists.
    suite_result = batch.validate(
        suite,
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": sample_rows,
            "return_unexpected_index_query": False,
        },
    )
    by_position: dict[int, Any] = {
        r.expectation_config.meta[_META_KEY]: r for r in suite_result.results
    }
    return [_outcome(check, by_position[i], frame, sample_rows) for i, check in enumerate(checks)]


def _outcome(
    check: _Check, gx_result: Any, frame: pd.DataFrame, sample_rows: int
) -> ExpectationOutcome:
    result: Mapping[str, Any] = gx_result.result or {}
    success = bool(gx_result.success)
    n_rows = len(frame)
    unexpected = result.get("unexpected_count")
    index_list = result.get("partial_unexpected_index_list") or []

    if check.kind == "rows":
        observed = f"{n_rows:,} rows"
        if not success:
            observed = "the frame has no rows" if n_rows == 0 else f"{observed}, {check.problem}"
        count = 0
        rows: list[int] = []
    elif check.kind == "distinct":
        distinct = int(result.get("observed_value") or 0)
        observed = f"{distinct:,} distinct {check.unit}"
        if not success:
            observed += f", {check.problem}"
        count = 0
        rows = []
    elif check.kind == "exists":
        observed = "column present" if success else f"column {check.column!r} is missing"
        if not success:
            observed += f", {check.problem}" if check.problem else ""
            observed += f" (columns: {', '.join(map(str, frame.columns))})"
        count = 0 if success else n_rows
        rows = [] if success else list(range(min(sample_rows, n_rows)))  # what the rows hold
    elif check.kind == "dtype":
        dtype = frame[check.column].dtype if check.column in frame.columns else None
        observed = f"dtype {dtype}"
        if not success:
            observed += f", expected {check.problem}"
            if unexpected:
                observed += f"; {_share(unexpected, n_rows, check.unit)} hold other types"
        # On a typed column GX judges the dtype, which every row shares; on an object column
        # it counts the offending values itself.
        count = int(unexpected) if unexpected is not None else (0 if success else n_rows)
        rows = list(index_list) if index_list else ([] if success else list(range(sample_rows)))
    else:
        count = int(unexpected or 0)
        total = int(result.get("element_count", n_rows))
        if success:
            observed = f"0 of {total:,} {check.unit} {check.problem}"
        else:
            observed = f"{_share(count, total, check.unit)} {check.problem}"
            if check.show_values:
                observed += _examples(result.get("partial_unexpected_counts") or [])
        rows = list(index_list)

    info = gx_result.exception_info or {}
    if info.get("raised_exception"):
        observed += f" (GX raised: {info.get('exception_message')})"

    return ExpectationOutcome(
        expectation=str(gx_result.expectation_config.type),
        column=check.column,
        success=success,
        observed=observed,
        unexpected_count=count,
        sample=_sample(frame, rows[:sample_rows]),
    )


def _share(count: int, total: int, unit: str) -> str:
    pct = 100.0 * count / total if total else 0.0
    pct_text = f"{pct:.2g}" if 0 < pct < 0.1 else f"{pct:.1f}"
    return f"{count:,} of {total:,} {unit} ({pct_text}%)"


def _examples(value_counts: Sequence[Mapping[str, Any]], limit: int = 3) -> str:
    values = [json.dumps(_json_value(vc["value"])) for vc in value_counts[:limit]]
    return f", e.g. {', '.join(values)}" if values else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _sample(frame: pd.DataFrame, labels: Sequence[Any]) -> tuple[dict[str, object], ...]:
    # Labels are positions: validate_interactions resets the index and the counts frame has a
    # fresh RangeIndex.
    positions = [int(p) for p in labels if 0 <= int(p) < len(frame)]
    rows = frame.iloc[positions].to_dict(orient="records")
    return tuple({str(k): _json_value(v) for k, v in row.items()} for row in rows)


def _json_value(value: Any) -> object:
    """Plain JSON types: missing values become None, numpy scalars Python ones."""
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str) and len(value) > _SAMPLE_CHARS:
        return f"{value[:_SAMPLE_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _failure_message(result: ValidationResult) -> str:
    failures = result.failures()
    lines = [
        f"Interaction data failed validation: {len(failures)} of {len(result.outcomes)} "
        f"expectations failed on {result.n_rows:,} rows"
    ]
    for outcome in failures:
        where = outcome.column or "the table"
        lines.append(f"- {outcome.expectation} on {where}: {outcome.observed}")
        if outcome.sample:
            lines.append("    sample rows:")
            lines.extend(f"      {json.dumps(row, default=str)}" for row in outcome.sample)
    return "\n".join(lines)
