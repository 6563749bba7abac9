"""Erasure of one user from the Parquet datasets (GDPR art. 17), and their retention by age.

Only the datasets that hold a user id are read: ``events/``, ``ltr_examples/`` and ``sessions/`` (column
``user_id``, the gateway's pseudonym). Each committed part file holding the user is rewritten without the user's
rows, atomically: the new file is written beside it under a hidden name (``.erasure-…``, which readers and
:func:`rankfeed.export.open_dataset` skip), flushed to disk, then renamed over the old one, so a reader opens
either the old file or the new one, never half of either. A file left empty is removed. Files whose names start
with ``.`` (the running lake job's in-progress part files) or ``_`` (``_SUCCESS`` markers) are never touched.
The labelling job drops the user's actions it reads once the request is on the ``erasure-requests`` topic
(``ErasedUsers``, in the labeller); rows of the user it had processed before land in files committed later, so run the
erasure again once the lake job has committed them (its checkpoint interval).

``forget`` ties it together: it records the request on the compacted ``erasure-requests`` topic (an
``ErasureRequest`` keyed by the pseudonym), rewrites the datasets, and records what it did under the same key.
No other compacted topic is keyed by a user (``hotel-features`` is keyed by hotel, ``position-propensities`` by
method), so there are no tombstones to write; the append-only topics forget the user by their retention.

Retention drops whole ``dt=YYYY-MM-DD`` partitions older than a number of days, each by one rename to a hidden
name (atomic for readers) and then deletion.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rankfeed import avro, schemas
from rankfeed.consumer import committed_reader, read_to_end
from rankfeed.datasets import EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET
from rankfeed.gateway.privacy import pseudonymize
from rankfeed.producer import ProduceError, make_producer
from rankfeed.settings import ErasureSettings

#: The datasets that hold a user id (column ``user_id``).
USER_DATASETS = (EVENTS_DATASET, LTR_DATASET, SESSIONS_DATASET)
#: The partition folder of a day, as the lake job names it (``dt=2026-12-05``).
_DAY_PREFIX = "dt="


@dataclass(frozen=True, slots=True)
class DatasetErasure:
    """What erasing one user did to one dataset."""

    dataset: str
    files_read: int
    files_rewritten: int
    files_removed: int
    rows_removed: int


def committed_files(dataset_dir: Path) -> list[Path]:
    """The committed part files of a dataset folder, sorted; in-progress files and markers excluded."""
    if not dataset_dir.is_dir():
        return []
    return sorted(
        path
        for path in dataset_dir.rglob("*")
        if path.is_file() and not any(part.startswith((".", "_")) for part in path.relative_to(dataset_dir).parts)
    )


def require_lake(parquet_dir: Path) -> None:
    """Raises ``FileNotFoundError`` when ``parquet_dir`` is not a folder: a wrong path must not look like
    nothing to erase or delete (an erasure request would then be closed having erased nothing)."""
    if not parquet_dir.is_dir():
        raise FileNotFoundError(f"no Parquet folder {parquet_dir}; point parquet_dir at the lake job's output")


def erase_users(parquet_dir: Path, user_ids: Iterable[str]) -> list[DatasetErasure]:
    """Remove every row whose ``user_id`` is one of ``user_ids`` (pseudonyms) from the committed files of each
    dataset in ``USER_DATASETS`` under ``parquet_dir``; one report per dataset, in that order. Raises
    ``FileNotFoundError`` when ``parquet_dir`` does not exist (see ``require_lake``)."""
    require_lake(parquet_dir)
    targets = pa.array(sorted(set(user_ids)), pa.string())
    reports = []
    for dataset in USER_DATASETS:
        files = committed_files(parquet_dir / dataset)
        rewritten = removed = rows = 0
        for path in files:
            dropped, left = _rewrite_without(path, targets)
            if dropped:
                rows += dropped
                if left:
                    rewritten += 1
                else:
                    removed += 1
        reports.append(DatasetErasure(dataset, len(files), rewritten, removed, rows))
    return reports


def _rewrite_without(path: Path, user_ids: pa.Array) -> tuple[int, int]:
    """Rewrite ``path`` without the rows of ``user_ids``; (rows removed, rows left). Untouched when none match."""
    parquet = pq.ParquetFile(path)
    table = parquet.read()
    matches = pc.is_in(table["user_id"], value_set=user_ids)
    dropped = pc.sum(matches).as_py() or 0
    if not dropped:
        return 0, table.num_rows
    kept = table.filter(pc.invert(matches))
    if kept.num_rows == 0:
        path.unlink()
        return dropped, 0
    first = parquet.metadata.row_group(0).column(0)
    int96 = any(column.physical_type == "INT96" for column in parquet.schema)
    replacement = path.with_name(f".erasure-{uuid.uuid4().hex}-{path.name}")
    try:
        pq.write_table(kept, replacement, compression=first.compression.lower(), use_deprecated_int96_timestamps=int96)
        with replacement.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(replacement, path)
    finally:
        replacement.unlink(missing_ok=True)
    return dropped, kept.num_rows


@dataclass(frozen=True, slots=True)
class DatasetRetention:
    """The day partitions retention dropped from one dataset."""

    dataset: str
    days_dropped: tuple[str, ...]
    #: Old days kept because the lake job still has an in-progress file there (it commits it later).
    days_in_progress: tuple[str, ...] = ()


def drop_partitions_before(parquet_dir: Path, oldest_kept: date) -> list[DatasetRetention]:
    """Delete every ``dt=`` partition of every dataset under ``parquet_dir`` whose day is before ``oldest_kept``.

    A folder whose name is not ``dt=YYYY-MM-DD`` is left alone, and so is a partition holding an in-progress
    file (a name starting with a dot): the running lake job still has to commit it (late events reach old
    days). Raises ``FileNotFoundError`` when ``parquet_dir`` does not exist (see ``require_lake``).
    """
    require_lake(parquet_dir)
    reports = []
    for dataset_dir in sorted(path for path in parquet_dir.iterdir() if path.is_dir() and path.name[0] not in "._"):
        dropped = []
        in_progress = []
        for partition in sorted(dataset_dir.glob(f"{_DAY_PREFIX}*")):
            try:
                day = date.fromisoformat(partition.name.removeprefix(_DAY_PREFIX))
            except ValueError:
                continue
            if day < oldest_kept and any(path.name.startswith(".") for path in partition.rglob("*")):
                in_progress.append(day.isoformat())
            elif day < oldest_kept:
                hidden = partition.with_name(f".expired-{uuid.uuid4().hex}-{partition.name}")
                partition.rename(hidden)
                shutil.rmtree(hidden)
                dropped.append(day.isoformat())
        reports.append(DatasetRetention(dataset_dir.name, tuple(dropped), tuple(in_progress)))
    return reports


def oldest_day_kept(today: date, days: int) -> date:
    """The first day ``rankfeed retention --days days`` keeps: today and the ``days - 1`` days before it."""
    if days < 1:
        raise ValueError(f"--days must be at least 1 (today's partition is always kept), got {days}")
    return today - timedelta(days=days - 1)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What ``forget`` did: the pseudonym it erased, and one report per dataset."""

    user_id: str
    datasets: list[DatasetErasure]

    @property
    def files_rewritten(self) -> int:
        return sum(report.files_rewritten + report.files_removed for report in self.datasets)

    @property
    def rows_removed(self) -> int:
        return sum(report.rows_removed for report in self.datasets)


def stored_user_id(settings: ErasureSettings, user_id: str) -> str:
    """The id under which the gateway stored ``user_id``: its HMAC pseudonym, or itself when no key is set."""
    key = settings.user_id_hmac_key
    return pseudonymize(key.get_secret_value().encode(), user_id) if key is not None else user_id


def forget(settings: ErasureSettings, user_id: str) -> Forgotten:
    """Erase ``user_id`` (as stored: see ``stored_user_id``) from the Parquet datasets, recording the request and
    its outcome on ``topics.erasure_requests``. Raises ``ProduceError`` when Kafka does not acknowledge the
    request (then nothing was rewritten)."""
    requested_at = int(time.time() * 1000)
    record = {
        "user_id": user_id,
        "requested_at": requested_at,
        "completed_at": None,
        "files_rewritten": None,
        "rows_removed": None,
    }
    require_lake(settings.parquet_dir)  # before the request is recorded: nothing half done
    producer = make_producer(settings.kafka.bootstrap_servers)
    _record(producer, settings.topics.erasure_requests, record)
    forgotten = Forgotten(user_id, erase_users(settings.parquet_dir, [user_id]))
    record.update(
        completed_at=int(time.time() * 1000),
        files_rewritten=forgotten.files_rewritten,
        rows_removed=forgotten.rows_removed,
    )
    _record(producer, settings.topics.erasure_requests, record)
    return forgotten


def _record(producer: Any, topic: str, record: dict[str, Any]) -> None:
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    value = avro.encode(record, schemas.ERASURE_REQUEST)
    producer.produce(topic, value, key=record["user_id"].encode(), on_delivery=delivered)
    if producer.flush(30) != 0 or failures:
        raise ProduceError(f"Kafka did not acknowledge the erasure request on {topic} ({failures or 'timeout'}); retry")


def open_requests(settings: ErasureSettings, timeout_seconds: float = 30.0) -> list[str]:
    """The users (pseudonyms) whose last record on ``topics.erasure_requests`` is a request not yet completed
    (taken by ``POST /v1/erasure-requests``, or a ``forget`` that did not finish), in the order first seen.

    Reads the topic from its start to its end as it was when called; raises ``TimeoutError`` when that takes
    longer than ``timeout_seconds``."""
    consumer = committed_reader(settings.kafka.bootstrap_servers, "erasure-requests")
    try:
        messages = read_to_end(consumer, settings.topics.erasure_requests, timeout_seconds)
    finally:
        consumer.close()
    completed: dict[str, bool] = {}
    for message in messages:
        if message.value() is not None:
            record = avro.decode(message.value(), schemas.ERASURE_REQUEST)
            completed[record["user_id"]] = record["completed_at"] is not None
    return [user for user, done in completed.items() if not done]
