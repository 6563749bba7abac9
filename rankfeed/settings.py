"""Typed, frozen settings: one object per process, read from an optional YAML file and the environment.

Precedence, lowest first: defaults here < the YAML file given with ``--config`` < environment
variables ``RANKFEED_<FIELD>`` (nested fields with ``__``, e.g. ``RANKFEED_KAFKA__BOOTSTRAP_SERVERS``).
Tests build settings objects directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

#: Flink's ``state.backend.type`` values the jobs support.
StateBackendName = Literal["hashmap", "rocksdb"]

#: HMAC keys shorter than this are refused: user ids are guessable (emails, sequential ids), so a short
#: key lets anyone who can try candidates reverse a pseudonym.
MIN_HMAC_KEY_BYTES = 32


def _long_enough(key: SecretStr) -> SecretStr:
    if len(key.get_secret_value().encode()) < MIN_HMAC_KEY_BYTES:
        raise ValueError(f"user_id_hmac_key must be at least {MIN_HMAC_KEY_BYTES} bytes of random data")
    return key


#: The gateway's key for user-id pseudonyms (HMAC-SHA256), shared by the gateway and ``rankfeed forget``.
HmacKey = Annotated[SecretStr, AfterValidator(_long_enough)]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
#: The feedback job's name on the cluster (web UI, REST API): how tools find the running job.
FEEDBACK_PIPELINE_NAME = "rankfeed-feedback"
#: The labelling job's name on the cluster: labels, examples, sessions and exposures, Kafka only.
LABELLING_PIPELINE_NAME = "rankfeed-labelling"
#: The features job's name: hotel features and θ from the exposures topic.
FEATURES_PIPELINE_NAME = "rankfeed-features"
#: The lake job's name: Parquet datasets from the labelling job's topics.
LAKE_PIPELINE_NAME = "rankfeed-lake"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: How long the append-only topics keep records by default: a week (``StackSettings.topic_retention_hours``).
DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000


class TopicSpec(Frozen):
    """How one Kafka topic is created."""

    partitions: int = Field(default=3, ge=1)
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention_ms: int | None = Field(default=DEFAULT_RETENTION_MS, description="None keeps the broker default")


class Topics(Frozen):
    """Names of the project's topics, shared by the local stack, the gateway and the jobs."""

    user_actions: str = "user-actions"
    user_actions_clean: str = "user-actions-clean"
    feedback_events: str = "feedback-events"
    ltr_examples: str = "ltr-examples"
    session_summaries: str = "session-summaries"
    #: One record per result list (every hotel shown, examined or not, and its outcome): the labelling
    #: job's input to hotel features and θ estimation.
    search_exposures: str = "search-exposures"
    hotel_features: str = "hotel-features"
    position_propensities: str = "position-propensities"
    late: str = "user-actions-late"
    dlq: str = "user-actions-dlq"
    #: Payloads the gateway refused, with the reasons (when its ``publish_rejected`` is on).
    user_actions_rejected: str = "user-actions-rejected"
    #: Requests to erase a user (``rankfeed forget``), keyed by the user's pseudonym: compacted, kept forever.
    erasure_requests: str = "erasure-requests"

    def with_suffix(self, suffix: str) -> Topics:
        """The same topics under names ending in ``-suffix``: isolation for tests and parallel demos."""
        return Topics(**{field: f"{name}-{suffix}" for field, name in self.model_dump().items()})

    def specs(self, retention_ms: int = DEFAULT_RETENTION_MS) -> dict[str, TopicSpec]:
        """Partitions, cleanup policy and retention of each topic, as the local stack creates them: the
        append-only ones keep records ``retention_ms``, the compacted ones keep the last record of each key."""
        specs = {name: TopicSpec(retention_ms=retention_ms) for name in self.model_dump().values()}
        specs[self.user_actions] = TopicSpec(partitions=6, retention_ms=retention_ms)
        specs[self.hotel_features] = TopicSpec(partitions=3, cleanup_policy="compact", retention_ms=None)
        # One record per method is all a reader needs: the latest θ, keyed by method.
        specs[self.position_propensities] = TopicSpec(partitions=1, cleanup_policy="compact", retention_ms=None)
        specs[self.erasure_requests] = TopicSpec(partitions=1, cleanup_policy="compact", retention_ms=None)
        return specs


class LabelTable(Frozen):
    """Graded relevance of each kind of feedback (the seed design's table)."""

    click: int = 1
    book: int = 2
    ignore: int = 0
    quick_back: int = -1


class KafkaSettings(Frozen):
    bootstrap_servers: str = "127.0.0.1:9092"


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RANKFEED_", env_nested_delimiter="__", frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the config file, which arrives as init arguments.
        return (env_settings, init_settings)


class StackSettings(_Settings):
    """The local development stack started by ``rankfeed local up``."""

    kafka: KafkaSettings = KafkaSettings()
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "1g"
    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    #: The first of the ports Flink's Prometheus reporter serves ``/metrics`` on: the JobManager and each
    #: TaskManager take the first free one of ``flink_metrics_ports`` (README, "Monitoring").
    flink_metrics_port: int = 9249
    gateway_port: int = 8000
    #: The demo hotel-search site (``rankfeed site``), whose pages send to the local gateway.
    site_port: int = 8002
    #: The local gateway's write key; for this machine only (production keys come from GatewaySettings).
    gateway_api_key: SecretStr = SecretStr("rankfeed-local-demo-key")
    gateway_max_future_skew_seconds: float = 86_400.0
    #: How long the append-only topics keep records (``retention.ms`` when the stack creates them): erasure from
    #: them is by this retention. Keep the gateway's ``max_event_age_seconds`` at most this.
    topic_retention_hours: float = Field(default=DEFAULT_RETENTION_MS / 3_600_000, gt=0)
    state_dir: Path = BUILD_DIR / "local"
    jars_dir: Path = BUILD_DIR / "jars"
    topics: Topics = Topics()
    startup_timeout_seconds: float = 90.0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def flink_url(self) -> str:
        return f"http://localhost:{self.flink_rest_port}"

    @property
    def flink_metrics_ports(self) -> range:
        """The reporter's port range: one port for the JobManager and one for each of up to three TaskManagers."""
        return range(self.flink_metrics_port, self.flink_metrics_port + 4)


class ErasureSettings(_Settings):
    """``rankfeed forget`` and ``rankfeed retention``: where users' data is kept, and the gateway's user-id key."""

    kafka: KafkaSettings = KafkaSettings()
    topics: Topics = Topics()
    #: The lake job's ``parquet_dir``.
    parquet_dir: Path = BUILD_DIR / "local" / "data"
    #: The gateway's ``user_id_hmac_key``: a user id is erased by its pseudonym, computed with it. Unset: user
    #: ids were stored as sent (the gateway had no key either).
    user_id_hmac_key: HmacKey | None = None


class JobSettings(_Settings):
    """The PyFlink feedback job."""

    kafka: KafkaSettings = KafkaSettings()
    topics: Topics = Topics()
    consumer_group: str = "rankfeed-feedback"
    startup_mode: Literal["earliest-offset", "latest-offset", "group-offsets"] = "earliest-offset"
    parquet_dir: Path = BUILD_DIR / "local" / "data"
    #: Where the lake job writes instead of ``parquet_dir``: a URI of a Flink filesystem such as
    #: ``s3://bucket/lake`` (the S3 plugin enabled on the cluster; deploy/kubernetes does). The offline
    #: tools (export, report) read a local ``parquet_dir``: copy the datasets down first.
    parquet_uri: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*://\S+$")

    def parquet_location(self, dataset: str) -> str:
        """The URI the lake job writes ``dataset`` to."""
        if self.parquet_uri is not None:
            return f"{self.parquet_uri.rstrip('/')}/{dataset}"
        return (self.parquet_dir / dataset).as_uri()

    # Exactly-once output becomes visible at checkpoints, so each job's interval bounds its freshness.
    #: The labelling job's: labels, examples and sessions (what feedback freshness measures).
    labelling_checkpoint_interval_seconds: int = Field(default=2, ge=1)
    #: Where the labelling job keeps its sessions (and their timers). A session stays open until
    #: ``session_gap_minutes`` after its last action, so a live site at 5,000 actions/s keeps ~1.5
    #: million open; on the heap 100,000 exhausted a 0.9 GB TaskManager heap. ``rocksdb``
    #: (the default): off the heap, spilling to local disk, checkpoints incremental (what changed);
    #: each access serializes the session. ``hashmap``: heap objects serialized only at snapshots,
    #: faster while the open sessions fit the heap (replays, small sites), but every checkpoint
    #: writes all of them.
    labelling_state_backend: StateBackendName = "rocksdb"
    #: The features job's: hotel features and θ.
    checkpoint_interval_seconds: int = Field(default=5, ge=1)
    #: The lake job's: every checkpoint closes each open Parquet file, so longer means larger files.
    lake_checkpoint_interval_seconds: int = Field(default=60, ge=1)
    #: The lake job's parallelism (not ``parallelism``): each subtask keeps a Parquet writer open per
    #: dataset and hour partition it has rows for, with its column buffers and dictionaries on the
    #: heap. A replay crosses an hour of event time every second or two, and at parallelism 2 the
    #: writers of both subtasks exhausted a 900 MB heap shared with the other jobs.
    lake_parallelism: int = Field(default=1, ge=1)
    watermark_delay_seconds: int = Field(default=5, ge=0, description="bounded out-of-orderness")
    # A partition silent this long stops holding the watermark back. It must outlast any outage of
    # the input (a broker restart, a gateway deploy): when every partition has gone idle, the first
    # one read afterwards sets the watermark alone and the others' backlog falls behind it, to the
    # late topic (seen in `make chaos` with a 36 s broker outage and 30 s here). The cost: a
    # partition that is really silent delays output by this much; producers' heartbeats avoid that.
    source_idle_timeout_seconds: int = Field(default=120, ge=1)
    parallelism: int = Field(default=1, ge=1)
    transactional_id_prefix: str = "rankfeed-feedback"
    # The broker caps transactions at transaction.max.timeout.ms (15 min by default); the
    # connector's default of 1 h would make the job fail at start.
    transaction_timeout_ms: int = Field(default=900_000, le=900_000)
    # Label semantics (see README, "How labels are decided").
    quick_back_threshold_seconds: float = Field(default=10.0, gt=0)
    session_gap_minutes: float = Field(default=30.0, gt=0)
    allowed_lateness_seconds: int = Field(default=0, ge=0)
    no_click_policy: Literal["drop", "top_k"] = "drop"
    no_click_top_k: int = Field(default=5, ge=1)
    labels: LabelTable = LabelTable()
    propensity_table: Path | None = Field(
        default=None,
        description="JSON table from `rankfeed propensity`; LTR examples then carry θ_k, IPS weight and version",
    )
    # Real-time hotel features (hotel-features topic).
    feature_half_life_hours: float = Field(default=168.0, gt=0)
    feature_emit_interval_seconds: float = Field(
        default=5.0, gt=0, description="processing time: a changed hotel is written at most once per interval"
    )
    position_bias_eta: float = Field(
        default=1.0, ge=0, description="θ_k = (1/k)^η until estimated propensities are published"
    )
    # Position-bias propensities θ_k estimated in the stream (position-propensities topic, propensities/).
    # The defaults repeat rankfeed.propensity's constants (a test pins them) so that importing the
    # settings does not import numpy into the gateway.
    propensity_estimation: bool = Field(
        default=True, description="estimate θ in the job; off removes the branch and its cost (README, benchmarks)"
    )
    propensity_half_life_hours: float = Field(default=24.0, gt=0, description="evidence half-life (event time)")
    propensity_emit_interval_seconds: float = Field(
        default=60.0, gt=0, description="aggregation window and publication cadence, in event time"
    )
    propensity_min_publish_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="processing time between two publications of a method; closer ones (catching up) are coalesced",
    )
    propensity_prior_strength: float = Field(
        default=200.0, ge=0, description="pseudo-impressions per position pulling θ towards (1/k)^position_bias_eta"
    )
    propensity_max_position: int = Field(
        default=10, ge=2, le=100, description="θ is estimated for positions 1..N; deeper impressions are left out"
    )
    propensity_em_iterations: int = Field(
        default=20, ge=1, description="EM iterations per publication, warm-started from the previous θ and γ"
    )
    propensity_max_weight: float = Field(default=10.0, ge=1.0, description="IPS cut published with θ")
    ship_jars: bool = Field(
        default=False,
        description="Add the connector jars as pipeline.jars (local mode); a cluster has them in its lib folder.",
    )
    jars_dir: Path = BUILD_DIR / "jars" / "flink"
    functions_jar: Path = BUILD_DIR / "jars" / "job" / "rankfeed-flink-functions.jar"


def propensity_window_ms(settings: JobSettings) -> int:
    """The propensity aggregation window (event time) in whole milliseconds (at least 1)."""
    return max(1, round(settings.propensity_emit_interval_seconds * 1000))


SettingsT = TypeVar("SettingsT", bound=_Settings)


def load_settings(cls: type[SettingsT], config_file: Path | None = None, **overrides: Any) -> SettingsT:
    """Build ``cls`` from defaults, ``config_file`` (YAML) and ``overrides``; the environment wins over both."""
    values: dict[str, Any] = {}
    if config_file is not None:
        if not config_file.exists():
            raise FileNotFoundError(f"config file {config_file} does not exist")
        loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {config_file} must hold a YAML mapping of setting names to values")
        values.update(loaded)
    values.update(overrides)
    return cls(**values)
