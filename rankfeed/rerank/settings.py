"""Settings of the re-rank service: one frozen object per process, like every rankfeed process.

Read with :func:`rankfeed.settings.load_settings` from defaults < ``--config`` YAML < environment
(``RANKFEED_PORT=8001``, ``RANKFEED_TOPICS__HOTEL_FEATURES=...``, ``RANKFEED_BLEND_WEIGHT=0.3``).
What each scoring parameter means is explained in :mod:`rankfeed.rerank.scoring`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from rankfeed.settings import KafkaSettings, Topics, _Settings


class RerankSettings(_Settings):
    """The re-rank endpoint started by ``rankfeed rerank``."""

    kafka: KafkaSettings = KafkaSettings()
    topics: Topics = Topics()

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)

    #: α: how many examined impressions the prior is worth. A hotel needs about this many examined
    #: impressions before its own click and booking rates count as much as the prior.
    prior_strength: float = Field(default=50.0, gt=0)
    #: Click rate per examined impression that a hotel without evidence is assumed to have.
    prior_ctr: float = Field(default=0.05, gt=0, lt=1)
    #: Booking rate per examined impression that a hotel without evidence is assumed to have.
    prior_book_rate: float = Field(default=0.005, gt=0, lt=1)
    #: A booking is worth this many clicks in the engagement term (1: the label table's book = click + 1).
    book_weight: float = Field(default=1.0, ge=0)
    #: w in score = position_prior^(1 - w) · lift^w: 0 keeps the given order, 1 ranks by engagement alone.
    blend_weight: float = Field(default=0.5, ge=0, le=1)
    #: A PropensityTable JSON (``rankfeed propensity``): its θ_k becomes the position prior instead of 1/log2(k+1).
    propensity_table: Path | None = None

    #: A model folder written by ``rankfeed train`` (``rankfeed.model.ModelArtifact``): when set, hotels
    #: are ordered by its score over ``rankfeed.model.FEATURES`` instead of the blended score above.
    model: Path | None = None
    #: A candidate model folder: with it, every answer is a team-draft interleaving of the control ranking
    #: (``model`` when set, else the given order) and the candidate's (``rankfeed.interleaving``).
    interleave_candidate: Path | None = None
    #: The experiment's name, answered and logged with each interleaved list; default
    #: ``<control>-vs-<candidate version>``, the control being the model's version or "given-order".
    experiment: str | None = Field(default=None, min_length=1, max_length=128)

    #: Most hotel ids one request may carry.
    max_items: int = Field(default=500, ge=1)
    #: Longest request body accepted, in bytes (HTTP 413 beyond).
    max_body_bytes: int = Field(default=262_144, ge=1024)
    #: Slowest client tolerated to send its whole body.
    body_timeout_seconds: float = Field(default=5.0, gt=0)

    #: Longest the feature consumer waits in one poll; bounds how long shutdown takes.
    consumer_poll_seconds: float = Field(default=0.1, gt=0)
    #: librdkafka ``fetch.wait.max.ms``: the broker answers a fetch after this long even without new data.
    fetch_wait_max_ms: int = Field(default=100, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
