"""The LTR Parquet dataset as LightGBM lambdarank input: one CSV, its ``.query`` and ``.weight`` files.

Layout of an export folder (LightGBM's documented text formats, so the ``lightgbm`` CLI reads it
as well as ``rankfeed train``)::

    ltr.csv          header line, then ``relevance,<features…>``; missing values as ``nan``
    ltr.csv.query    group sizes, one result list (``search_id``) per line, in row order
    ltr.csv.weight   one example weight per line (absent when exported without weights)
    rows.parquet     row-aligned ids and diagnostics: search_id, hotel_id, position, label, …
    manifest.json    features, label mapping, weight source, counts: how the files were made

LightGBM loads ``<data>.query`` and ``<data>.weight`` by itself; it would also load a
``<data>.position`` file and switch on its own position debiasing, so positions live in
``rows.parquet`` instead.

Choices, and why:

* **Relevance** is ``label - min(LabelTable)``, i.e. ``label + 1`` with the default table:
  quick_back (-1) → 0, ignore (0) → 1, click (1) → 2, book (2) → 3. Lambdarank needs
  non-negative integer labels; the shift keeps the order "a quick-back is worse than being
  skipped". With LightGBM's default gains 2^r - 1 an ignored hotel therefore has gain 1.
* **Groups** are result lists, in search-time order, rows within a list by position, so the
  files are deterministic and a later time-based split needs no re-sort.
* **Features** are only what is known when the list is ranked and does not depend on where the
  hotel was shown; see ``EXCLUDED_FEATURES`` for what is refused and why. With ``model_features``
  they are instead the served model's (``rankfeed.model.FEATURES``), built by the function the
  re-ranker uses, with each hotel's features joined point in time from ``hotel_features/``: as
  they were just before the search, never later.
* **Weights** come from a column (``ips_weight`` by default; 1.0 until the online job estimates
  propensities) or from a ``PropensityTable``. From a table, examples with a click (click, book,
  quick_back) get 1/θ_k cut at the table's ``max_weight`` and ignored ones keep 1.0: IPS corrects
  the click, the evidence that was only observable because the position was examined (Joachims
  et al. 2017); LightGBM multiplies each example's lambda gradient by its weight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rankfeed import schemas
from rankfeed.datasets import HOTEL_FEATURES_DATASET, LTR_DATASET, PARTITION_COLUMNS
from rankfeed.model import FEATURES as MODEL_FEATURES
from rankfeed.model import HISTORY_COLUMNS, epoch_ms, feature_matrix, point_in_time_rows
from rankfeed.propensity import PropensityTable
from rankfeed.settings import LabelTable

#: Position-independent features known when a list is ranked: what the model may learn from.
DEFAULT_FEATURES = ("price", "rating", "price_zscore", "price_rank_pct", "rating_zscore", "rating_rank_pct")

#: Columns that must not be features, each with the reason; ``export_ltr`` refuses them.
EXCLUDED_FEATURES = {
    "position": "it is the bias that IPS corrects; a model that sees it learns 'was shown high', not 'is good'",
    "label": "it is the target",
    "dwell_seconds": "it exists only after a click: a label leak",
    "session_clicks": "it is counted when the session closes, this list's own clicks included: a label leak",
    "session_searches": "it is counted when the session closes, later searches included: unknown when ranking",
    "ips_weight": "it is a function of the position",
    "propensity": "it is a function of the position",
}

DATA_FILE = "ltr.csv"
QUERY_FILE = DATA_FILE + ".query"
WEIGHT_FILE = DATA_FILE + ".weight"
ROWS_FILE = "rows.parquet"
MANIFEST_FILE = "manifest.json"
RELEVANCE_COLUMN = "relevance"

#: The label kind of an example shown but not clicked; every other kind is a click of some sort.
IGNORED_KIND = "ignore"

_NUMERIC_AVRO_TYPES = {"int", "long", "float", "double", "boolean"}
_ROW_COLUMNS = ("search_id", "hotel_id", "search_time", "position", "label", "label_kind", "ranking_randomized")


def _check_label_kind_symbols() -> None:
    kinds = {f.name: f.symbols for f in schemas.fields(schemas.LTR_EXAMPLE)}["label_kind"]
    if kinds is None or IGNORED_KIND not in kinds:
        raise schemas.SchemaError(f"ltr_example.label_kind no longer lists {IGNORED_KIND!r}; update rankfeed.export")


_check_label_kind_symbols()


class ExportError(ValueError):
    """The dataset or the export options cannot give a valid LightGBM input; the message says why."""


def dataset_path(parquet_dir: Path, name: str = LTR_DATASET) -> Path:
    """Folder of dataset ``name`` under the job's ``parquet_dir``."""
    return parquet_dir / name


def open_dataset(path: Path) -> ds.Dataset:
    """A Parquet dataset written by the feedback job: Hive partitions ``dt``/``hr`` as strings.

    Files starting with ``.`` (Flink's in-progress part files) or ``_`` (``_SUCCESS`` markers) are
    not data and are skipped; a partition is only read once its files are committed.
    """
    if not path.is_dir():
        raise ExportError(
            f"no dataset folder {path}; point --parquet-dir at the feedback job's parquet_dir "
            "(it holds events/ and ltr_examples/) and make sure the job has committed a checkpoint"
        )
    partitioning = ds.partitioning(pa.schema([(column, pa.string()) for column in PARTITION_COLUMNS]), flavor="hive")
    return ds.dataset(path, format="parquet", partitioning=partitioning, ignore_prefixes=[".", "_"])


def read_ltr_examples(parquet_dir: Path, columns: Sequence[str]) -> pa.Table:
    """``columns`` of every committed LTR example under ``parquet_dir``; an error if there are none."""
    path = dataset_path(parquet_dir)
    dataset = open_dataset(path)
    missing = [column for column in columns if column not in dataset.schema.names]
    if missing:
        raise ExportError(f"{path} lacks columns {missing}; its files were written with another ltr_example schema")
    table = dataset.to_table(columns=list(columns))
    if table.num_rows == 0:
        raise ExportError(f"{path} holds no committed LTR examples yet; run the feedback job on some traffic first")
    return table


def relevance_offset(labels: LabelTable) -> int:
    """What to add to a label so the lowest one (quick_back, -1 by default) becomes relevance 0."""
    values: list[int] = list(labels.model_dump().values())
    return -min(0, *values)


def check_features(features: Sequence[str]) -> tuple[str, ...]:
    """``features`` if each is a numeric ltr_example column that may be learnt from; else an ExportError."""
    if not features:
        raise ExportError("no features given; the defaults are " + ", ".join(DEFAULT_FEATURES))
    for name in features:
        if name in EXCLUDED_FEATURES:
            raise ExportError(f"{name!r} cannot be a feature: {EXCLUDED_FEATURES[name]}")
        check_numeric_column(name)
    if len(set(features)) != len(features):
        raise ExportError(f"features repeat a column: {list(features)}")
    return tuple(features)


def check_numeric_column(name: str) -> None:
    """An ExportError unless ``name`` is an ltr_example column of a numeric Avro type."""
    by_name = {f.name: f for f in schemas.fields(schemas.LTR_EXAMPLE)}
    if name not in by_name:
        raise ExportError(f"{name!r} is not an ltr_example column; columns are {', '.join(by_name)}")
    avro_type = by_name[name].avro_type
    inner = avro_type[1] if isinstance(avro_type, list) else avro_type
    if not (isinstance(inner, str) and inner in _NUMERIC_AVRO_TYPES):
        raise ExportError(f"{name!r} is {inner!r}, not numeric; encode it as a number before exporting it")


@dataclass(frozen=True)
class LtrExport:
    """Where an export was written and what it holds (the content of ``manifest.json``)."""

    out_dir: Path
    features: tuple[str, ...]
    rows: int
    group_sizes: tuple[int, ...]
    relevance_offset: int
    #: "column:<name>", "propensity:<version>", or None when no weight file was written.
    weight_source: str | None
    label_kinds: dict[str, int] = field(default_factory=dict)
    #: Event times of the first and the last search exported (ISO-8601, UTC).
    search_time_range: tuple[str, str] = ("", "")

    @property
    def data_path(self) -> Path:
        return self.out_dir / DATA_FILE

    @property
    def query_path(self) -> Path:
        return self.out_dir / QUERY_FILE

    @property
    def weight_path(self) -> Path | None:
        return self.out_dir / WEIGHT_FILE if self.weight_source is not None else None

    @property
    def rows_path(self) -> Path:
        return self.out_dir / ROWS_FILE


def export_ltr(
    parquet_dir: Path,
    out_dir: Path,
    features: Sequence[str] = DEFAULT_FEATURES,
    weight: str | None = "ips_weight",
    propensity: PropensityTable | None = None,
    labels: LabelTable | None = None,
    model_features: bool = False,
) -> LtrExport:
    """Write ``<parquet_dir>/ltr_examples`` as LightGBM lambdarank input into ``out_dir``.

    ``weight`` names the column whose values become ``ltr.csv.weight`` (None: no weight file);
    ``propensity``, when given, replaces it with weights from that table (see the module doc).
    ``labels`` is the label table the feedback job ran with; it fixes the relevance shift.
    ``model_features`` writes ``rankfeed.model.FEATURES`` instead of ``features``, joined point in
    time to ``<parquet_dir>/hotel_features``; an ExportError when that history is missing.
    """
    history = read_hotel_feature_history(parquet_dir) if model_features else None
    feature_names = MODEL_FEATURES if model_features else check_features(features)
    label_table = labels or LabelTable()
    offset = relevance_offset(label_table)
    wanted = ("price", "rating") if model_features else feature_names
    columns = list(dict.fromkeys([*_ROW_COLUMNS, *wanted]))
    weight_column = weight if propensity is None else None
    if weight_column is not None:
        check_numeric_column(weight_column)
        if weight_column not in columns:
            columns.append(weight_column)
    table = read_ltr_examples(parquet_dir, columns)
    if model_features:
        table = _full_lists(parquet_dir, table, label_table, weight_column)
    table = table.sort_by([("search_time", "ascending"), ("search_id", "ascending"), ("position", "ascending")])
    group_sizes = _group_sizes(table)

    relevance = pc.add(table["label"], offset).to_numpy(zero_copy_only=False).astype(np.int64)
    if relevance.min() < 0:
        raise ExportError(
            f"label {int(relevance.min()) - offset} is below the label table's minimum {-offset}; "
            "export with the LabelTable the feedback job used"
        )
    positions = table["position"].to_numpy(zero_copy_only=False).astype(np.int64)
    label_kinds = table["label_kind"].to_numpy(zero_copy_only=False)
    weights, weight_source, row_propensity = _weights(table, weight_column, propensity, positions, label_kinds)

    if history is not None:
        feature_columns = _model_feature_columns(table, history)
    else:
        feature_columns = {
            name: pc.fill_null(pc.cast(table[name], pa.float64()), float("nan")) for name in feature_names
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / DATA_FILE, relevance, feature_columns)
    np.savetxt(out_dir / QUERY_FILE, np.asarray(group_sizes, dtype=np.int64), fmt="%d")
    weight_path = out_dir / WEIGHT_FILE
    if weights is not None:
        np.savetxt(weight_path, weights, fmt="%.17g")
    else:
        weight_path.unlink(missing_ok=True)  # a stale file would be loaded by LightGBM
    rows = table.select(list(_ROW_COLUMNS)).append_column("relevance", pa.array(relevance, pa.int32()))
    rows = rows.append_column("weight", pa.array(weights if weights is not None else np.ones(table.num_rows)))
    rows = rows.append_column("propensity", pa.array(row_propensity, pa.float64()))
    pq.write_table(rows, out_dir / ROWS_FILE)

    kind_counts = {
        str(kind): int(count) for kind, count in zip(*np.unique(label_kinds, return_counts=True), strict=True)
    }
    export = LtrExport(
        out_dir=out_dir,
        features=feature_names,
        rows=table.num_rows,
        group_sizes=group_sizes,
        relevance_offset=offset,
        weight_source=weight_source,
        label_kinds=kind_counts,
        search_time_range=(table["search_time"][0].as_py().isoformat(), table["search_time"][-1].as_py().isoformat()),
    )
    _write_manifest(export, parquet_dir, label_table, propensity)
    return export


def _group_sizes(table: pa.Table) -> tuple[int, ...]:
    """Sizes of the runs of equal ``search_id`` in row order; each search must be one run."""
    codes = pc.dictionary_encode(table["search_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    if starts.size != np.unique(codes).size:
        raise ExportError(
            "a search_id has rows with different search_time values, so its rows are not contiguous; "
            "the feedback job writes one search_time per search — check the dataset for mixed sources"
        )
    return tuple(int(size) for size in np.diff(np.append(starts, codes.size)))


def _weights(
    table: pa.Table,
    weight_column: str | None,
    propensity: PropensityTable | None,
    positions: np.ndarray[Any, np.dtype[np.int64]],
    label_kinds: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, np.dtype[np.float64]] | None, str | None, list[float | None]]:
    """(weights, where they came from, each row's propensity) for the weight file and rows.parquet."""
    if propensity is not None:
        clicked = label_kinds != IGNORED_KIND
        weights = np.where(clicked, propensity.weights(positions), 1.0)
        return weights, f"propensity:{propensity.version}", propensity.propensities(positions).tolist()
    row_propensity: list[float | None] = [None] * table.num_rows
    if weight_column is None:
        return None, None, row_propensity
    column = table[weight_column]
    if column.null_count:
        raise ExportError(f"weight column {weight_column!r} has {column.null_count} nulls; weights must all be set")
    weights = column.to_numpy(zero_copy_only=False).astype(np.float64)
    if not np.all(np.isfinite(weights)) or weights.min() < 0:
        raise ExportError(f"weight column {weight_column!r} has negative or non-finite values")
    return weights, f"column:{weight_column}", row_propensity


def read_hotel_feature_history(parquet_dir: Path) -> pa.Table:
    """Every committed hotel-features update under ``parquet_dir`` (``rankfeed.model.HISTORY_COLUMNS``)."""
    path = dataset_path(parquet_dir, HOTEL_FEATURES_DATASET)
    if not path.is_dir():
        raise ExportError(
            f"no hotel feature history {path}: the lake job writes it from the hotel-features topic; "
            "run the pipeline (`rankfeed submit`) on traffic, or export without --model-features"
        )
    table: pa.Table = open_dataset(path).to_table(columns=list(HISTORY_COLUMNS))
    return table


def _full_lists(parquet_dir: Path, examples: pa.Table, labels: LabelTable, weight_column: str | None) -> pa.Table:
    """``examples`` completed to the full result lists of their searches, from ``events/``.

    Each hotel a search showed becomes a row, its label and weight from its example, or an ignore
    (weight 1) for a hotel below the deepest click that has none; lists without any example stay
    out, as the labelling job leaves them out. IPS training ranks every shown hotel (Joachims et al.
    2017): keeping only the rows down to the deepest click selects rows on the click, and makes
    deep positions look clicked more often than they were.
    """
    from rankfeed.searches import load_logged_searches  # it reads events/ with this module's helpers

    logged = load_logged_searches(parquet_dir)
    shown = pa.table(
        {
            "search_id": logged.search_ids,
            "hotel_id": logged.hotel_ids,
            "search_time": pa.array(logged.search_time_ms, pa.timestamp("ms", tz="UTC")),
            "position": pa.array(logged.positions, examples.schema.field("position").type),
            "price": pa.array(logged.prices, pa.float64()),
            "rating": pa.array(logged.ratings, pa.float64()),
        }
    )
    per_search = examples.group_by("search_id").aggregate([("ranking_randomized", "max")])
    per_search = per_search.rename_columns([name.removesuffix("_max") for name in per_search.column_names])
    label_columns = ["search_id", "hotel_id", "label", "label_kind"]
    if weight_column is not None:
        label_columns.append(weight_column)
    joined = shown.join(per_search, "search_id", join_type="inner").join(
        examples.select(label_columns), ["search_id", "hotel_id"], join_type="left outer"
    )
    filled = {
        "label": pc.fill_null(joined["label"], labels.ignore),
        "label_kind": pc.fill_null(joined["label_kind"], IGNORED_KIND),
    }
    if weight_column is not None:
        filled[weight_column] = pc.fill_null(joined[weight_column], 1.0)
    for name, column in filled.items():
        joined = joined.set_column(joined.schema.get_field_index(name), name, column)
    return joined


def _model_feature_columns(table: pa.Table, history: pa.Table) -> dict[str, Any]:
    """The served model's features of every example, its hotel's features joined point in time."""
    rows = point_in_time_rows(table["hotel_id"].to_pylist(), epoch_ms(table["search_time"]), history)
    matrix = feature_matrix(
        table["position"].to_pylist(), table["price"].to_pylist(), table["rating"].to_pylist(), rows
    )
    return {name: matrix[:, index] for index, name in enumerate(MODEL_FEATURES)}


def _write_csv(path: Path, relevance: np.ndarray[Any, Any], features: dict[str, Any]) -> None:
    """Relevance first, then the features as doubles, nulls as ``nan`` (LightGBM's missing value)."""
    columns = {RELEVANCE_COLUMN: pa.array(relevance, pa.int32()), **features}
    with path.open("wb") as sink:
        sink.write((",".join(columns) + "\n").encode("utf-8"))
        pa_csv.write_csv(pa.table(columns), sink, pa_csv.WriteOptions(include_header=False))


def _write_manifest(
    export: LtrExport, parquet_dir: Path, labels: LabelTable, propensity: PropensityTable | None
) -> None:
    relevance = {kind: value + export.relevance_offset for kind, value in labels.model_dump().items()}
    manifest = {
        "format": "LightGBM CSV with header; label column first; query and weight side files",
        "lightgbm_params": {"header": True, "label_column": f"name:{RELEVANCE_COLUMN}"},
        "data_file": DATA_FILE,
        "query_file": QUERY_FILE,
        "weight_file": WEIGHT_FILE if export.weight_source is not None else None,
        "rows_file": ROWS_FILE,
        "features": list(export.features),
        "search_time_range": list(export.search_time_range),
        "relevance_column": RELEVANCE_COLUMN,
        "relevance_offset": export.relevance_offset,
        "relevance_by_label_kind": relevance,
        "weight_source": export.weight_source,
        "propensity": propensity.to_record() if propensity is not None else None,
        "rows": export.rows,
        "queries": len(export.group_sizes),
        "label_kinds": export.label_kinds,
        "source": str(dataset_path(parquet_dir)),
        "created_at": datetime.now(UTC).isoformat(),
    }
    (export.out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """The manifest of an export folder, or an error saying how to make one."""
    path = export_dir / MANIFEST_FILE
    if not path.exists():
        raise ExportError(f"{export_dir} is not an export folder (no {MANIFEST_FILE}); run `rankfeed export-ltr` first")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest
