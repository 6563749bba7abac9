"""The nasty corpus (``tests/gateway/nasty.py``) against a real gateway and the real broker.

Every case gets exactly the answer the corpus states: status, accepted count and the
``(index, field, problem)`` of each error, never a 5xx. After each one the same gateway still
accepts a good event, so no nasty request takes good data down with it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rankfeed.gateway.settings import GatewaySettings
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import (
    SERVER_KEY,
    GatewayFactory,
    RunningGateway,
    gateway_settings,
    now_ms,
    run_gateway,
    wait_until_ready,
)
from tests.gateway.nasty import CORPUS, MAX_BATCH, MAX_BODY, Nasty, event

_CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def nasty_gateway(bootstrap_servers: str) -> Iterator[RunningGateway]:
    """One gateway with the production defaults for batch and body size, on topics of its own."""
    from rankfeed.local.broker import create_topics

    topics = Topics().with_suffix(f"nasty-{uuid.uuid4().hex[:8]}")
    create_topics(bootstrap_servers, topics)
    settings = gateway_settings(bootstrap_servers, topics)
    assert (settings.max_batch_events, settings.max_body_bytes) == (MAX_BATCH, MAX_BODY)
    with run_gateway(settings) as running:
        wait_until_ready(running)
        yield running


def send(running: RunningGateway, case: Nasty) -> httpx.Response:
    body = case.body(now_ms())
    headers = {"X-Api-Key": SERVER_KEY}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if case.streamed:

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), _CHUNK):
                yield body[start : start + _CHUNK]

        return running.http.post(case.path, content=chunks(), headers=headers)
    request = running.http.build_request("POST", case.path, content=body, headers=headers)
    assert case.content_type is not None or "content-type" not in request.headers
    return running.http.send(request)


def check_answer(case: Nasty, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == case.status, (case.name, response.status_code, response.text[:500])
    answer: dict[str, Any] = response.json()
    errors = [(error["index"], error["field"], error["problem"]) for error in answer["errors"]]
    assert errors == list(case.errors), case.name
    for error in answer["errors"]:
        assert set(error) == {"index", "field", "problem", "message"} and error["message"], error
    assert answer["detail"]
    if "accepted" in answer:
        assert answer["accepted"] == case.accepted == len(answer["event_ids"])
        assert answer["rejected"] == len({index for index, _, _ in errors if index is not None})
    else:
        # A request-level refusal: one problem, no index, the detail repeats it.
        assert case.accepted == 0 and len(errors) == 1 and errors[0][0] is None
        assert answer["errors"][0]["message"] == answer["detail"]
    return answer


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_each_nasty_request_gets_its_answer_and_good_data_still_flows(
    nasty_gateway: RunningGateway, case: Nasty
) -> None:
    check_answer(case, send(nasty_gateway, case))
    good = nasty_gateway.post("/v1/actions", event(now_ms()))
    assert good.status_code == 202, good.text


def test_the_gateway_is_healthy_after_the_corpus(nasty_gateway: RunningGateway) -> None:
    for case in CORPUS:
        send(nasty_gateway, case)
    assert nasty_gateway.http.get("/healthz").status_code == 200
    ready = nasty_gateway.http.get("/readyz").json()
    assert ready["ready"] and ready["in_flight_events"] == 0, ready
    metrics = nasty_gateway.http.get("/metrics").text
    assert 'status="500"' not in metrics


def test_accepted_nasty_events_reach_kafka_as_the_gateway_read_them(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    stored = [case for case in CORPUS if case.stored]
    expected = {}
    for case in stored:
        (event_id,) = check_answer(case, send(gateway, case))["event_ids"]
        expected[event_id] = case
    records = {record["event_id"]: record for record in read_topic(topics.user_actions, len(stored), 30)}
    assert set(records) == set(expected)
    for event_id, case in expected.items():
        record = records[event_id]
        assert {name: record[name] for name in case.stored} == case.stored, case.name


def test_a_saturated_worker_refuses_writes_at_once_and_recovers(start_gateway: GatewayFactory) -> None:
    """The event loop kept 90 % busy for a second (a standing queue, as beyond capacity): writes are refused
    with 503 and Retry-After rather than served late, and pass again once the loop caught up. One long
    stall alone is not a queue and refuses nothing."""
    running = start_gateway(max_loop_lag_ms=GatewaySettings().max_loop_lag_ms)
    wait_until_ready(running)
    loop = running.app.sink._loop
    assert loop is not None
    loop.call_soon_threadsafe(time.sleep, 0.15)
    assert running.post("/v1/actions", event(now_ms())).status_code == 202
    stalls = [12]

    def stall() -> None:
        time.sleep(0.09)
        stalls[0] -= 1
        if stalls[0]:
            loop.call_later(0.01, stall)

    loop.call_soon_threadsafe(stall)
    time.sleep(0.5)
    refused = running.post("/v1/actions", event(now_ms()))
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert [error["problem"] for error in refused.json()["errors"]] == ["overloaded"]
    deadline = time.monotonic() + 5
    while (status := running.post("/v1/actions", event(now_ms())).status_code) != 202:
        assert status == 503 and time.monotonic() < deadline, status
        time.sleep(0.05)
