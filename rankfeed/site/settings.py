"""Settings of the demo site process: one frozen object, like every rankfeed process."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rankfeed.settings import REPO_ROOT, _Settings

#: The local demo site's publishable key; the local gateway accepts it from the site's origins only.
LOCAL_SITE_WRITE_KEY = "pk_local_demo_site_0123456789"


class SiteSettings(_Settings):
    """``rankfeed site``: where it listens, and what its pages send events to and rank with."""

    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=0, le=65535)
    #: The gateway's base URL as the browser reaches it; the tracker posts to ``{gateway_url}/v1/actions/batch``.
    gateway_url: str = "http://127.0.0.1:8000"
    #: A publishable key (pk_…) the gateway binds to this site's origin.
    write_key: str = LOCAL_SITE_WRITE_KEY
    #: The re-rank endpoint's base URL, asked server-side for the order of each result list; None: catalogue order.
    rerank_url: str | None = "http://127.0.0.1:8001"
    #: Seconds the site waits for the re-rank endpoint before it falls back to the catalogue order.
    rerank_timeout_seconds: float = Field(default=0.3, gt=0)
    #: Options handed to the tracker's ``createTracker`` as they are (e.g. ``{"flushIntervalMs": 500}``).
    tracker_options: dict[str, Any] = Field(default_factory=dict)


PAGES_DIR = REPO_ROOT / "site"
TRACKER_BUNDLE = REPO_ROOT / "tracker" / "dist" / "rankfeed.min.js"
