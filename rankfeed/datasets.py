"""The Parquet datasets the feedback job writes, by folder name under ``JobSettings.parquet_dir``.

Kept apart from the job's modules so offline tools (export, report) need no PyFlink import.
"""

#: Clean, deduplicated actions: the raw layer.
EVENTS_DATASET = "events"
#: One row per (search, examined hotel) with its label: the training layer.
LTR_DATASET = "ltr_examples"
#: One row per session.
SESSIONS_DATASET = "sessions"

#: Every update the features job published to the compacted hotel-features topic: its history, which the
#: topic's compaction forgets. Training joins examples to it point in time (``rankfeed.model``).
HOTEL_FEATURES_DATASET = "hotel_features"

#: One row per published position-bias estimate (θ by position), per method.
PROPENSITIES_DATASET = "propensities"

#: Hive-style partition columns of every dataset (``dt=YYYY-MM-DD/hr=HH``), from the record's event time (UTC).
PARTITION_COLUMNS = ("dt", "hr")
