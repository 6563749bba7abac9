"""The demo site (rankfeed.site): its pages and configuration, and result lists ordered by the real re-rank
endpoint when it answers, by the catalogue when it does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from rankfeed import asgi
from rankfeed.site.app import Site, catalogue
from rankfeed.site.settings import LOCAL_SITE_WRITE_KEY, SiteSettings
from tests.conftest import serve_in_thread
from tests.rerank.conftest import FeaturePublisher, RerankerFactory, features_record
from tests.tracker.conftest import free_port


@contextmanager
def site(**settings: Any) -> Iterator[httpx.Client]:
    app = Site(SiteSettings(**settings))
    with (
        serve_in_thread(app, asgi.uvicorn_options("127.0.0.1", 0, {}), "site") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        yield client


def test_pages_carry_the_tracker_and_its_configuration() -> None:
    with site(
        gateway_url="https://events.example", rerank_url=None, tracker_options={"flushIntervalMs": 500}
    ) as client:
        page = client.get("/")
        assert page.status_code == 200 and '<script src="/rankfeed.min.js"></script>' in page.text
        assert client.get("/hotel").status_code == 200
        config = client.get("/config.js").text
        assert '"endpoint":"https://events.example/v1/actions/batch"' in config
        assert f'"writeKey":"{LOCAL_SITE_WRITE_KEY}"' in config and '"flushIntervalMs":500' in config
        bundle = client.get("/rankfeed.min.js")
        assert bundle.status_code == 200 and "sendBeacon" in bundle.text
        assert client.get("/../pyproject.toml").status_code == 404
        assert client.post("/").status_code == 405


def test_without_the_re_rank_endpoint_results_keep_the_catalogue_order() -> None:
    with site(rerank_url=f"http://127.0.0.1:{free_port()}") as client:
        answer = client.get("/api/search", params={"q": " Paris "}).json()
    assert answer["ranked_by"] == "catalogue"
    assert [hotel["hotel_id"] for hotel in answer["hotels"]] == [hotel["hotel_id"] for hotel in catalogue()["paris"]]


def test_results_are_ordered_by_the_re_rank_endpoint_when_it_is_up(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    publisher.publish(features_record("paris-07", examined_impressions=50, clicks=30, books=10))
    reranker = start_reranker()
    reranker.wait_until_ready()
    with site(rerank_url=str(reranker.http.base_url).rstrip("/"), rerank_timeout_seconds=5) as client:
        answer = client.get("/api/search", params={"q": "paris"}).json()
        unknown = client.get("/api/search", params={"q": "Atlantis"}).json()
    assert answer["ranked_by"] == "rerank"
    assert answer["hotels"][0]["hotel_id"] == "paris-07", "the booked hotel comes first"
    assert sorted(hotel["hotel_id"] for hotel in answer["hotels"]) == sorted(
        h["hotel_id"] for h in catalogue()["paris"]
    )
    assert (unknown["hotels"], unknown["ranked_by"]) == ([], "catalogue")
