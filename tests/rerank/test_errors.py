"""Bad requests get a specific status and a message that says what was wrong, where, and what to do.

The shared re-ranker allows at most 5 hotel ids and 2048-byte bodies.
"""

from __future__ import annotations

import socket
from typing import Any

import orjson
import pytest

from tests.rerank.conftest import RerankerFactory, RunningReranker


def problems(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert body["detail"] == body["errors"][0]["message"]
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"hotel_ids": []},
            [("hotel_ids", None, "empty", "hotel_ids is empty; send 1 to 5 hotel ids")],
        ),
        (
            {"hotel_ids": ["a", "b", "c", "d", "e", "f"]},
            [("hotel_ids", None, "too_many", "hotel_ids has 6 items; at most 5 are allowed, split the request")],
        ),
        (
            {"hotel_ids": ["a", "b", "a", "b"]},
            [
                ("hotel_ids", 2, "duplicate", "hotel_ids[2] 'a' repeats hotel_ids[0]; send each hotel once"),
                ("hotel_ids", 3, "duplicate", "hotel_ids[3] 'b' repeats hotel_ids[1]; send each hotel once"),
            ],
        ),
        (
            {"hotel_ids": "a"},
            [("hotel_ids", None, "wrong_type", "hotel_ids must be an array of strings, got a string")],
        ),
        (
            {"hotel_ids": ["a", 7, None, ""]},
            [
                ("hotel_ids", 1, "wrong_type", "hotel_ids[1] must be a string, got a number"),
                ("hotel_ids", 2, "wrong_type", "hotel_ids[2] must be a string, got null"),
                ("hotel_ids", 3, "empty", "hotel_ids[3] is an empty string; every hotel id must be non-empty"),
            ],
        ),
        (
            {"destination": "paris"},
            [("hotel_ids", None, "missing", "hotel_ids is required: an array of 1 to 5 hotel ids in the given order")],
        ),
        (
            {"hotel_ids": ["a"], "destination": 3, "query": ["x"]},
            [
                ("destination", None, "wrong_type", "destination must be a string or null, got a number"),
                ("query", None, "wrong_type", "query must be a string or null, got an array"),
            ],
        ),
        (
            {"hotel_ids": ["a", "b"], "positions": [1, 0]},
            [("positions", 1, "wrong_type", "positions[1] must be an integer >= 1, got 0")],
        ),
        (
            {"hotel_ids": ["a", "b"], "positions": [1, True]},
            [("positions", 1, "wrong_type", "positions[1] must be an integer >= 1, got a boolean")],
        ),
        (
            {"hotel_ids": ["a", "b"], "positions": [1]},
            [
                (
                    "positions",
                    None,
                    "length_mismatch",
                    "positions has 1 items for 2 hotel ids; send one position per hotel id",
                )
            ],
        ),
        (
            {"hotel_ids": ["a"], "positions": "1"},
            [
                (
                    "positions",
                    None,
                    "wrong_type",
                    "positions must be an array of integers >= 1 (one per hotel id) or null, got a string",
                )
            ],
        ),
        (
            {"hotelIds": ["a"]},
            [
                (
                    "hotelIds",
                    None,
                    "unknown_field",
                    "unknown field 'hotelIds'; the fields are "
                    "hotel_ids, destination, query, positions, prices, ratings, search_id",
                ),
                (
                    "hotel_ids",
                    None,
                    "missing",
                    "hotel_ids is required: an array of 1 to 5 hotel ids in the given order",
                ),
            ],
        ),
        (
            ["a", "b"],
            [
                (
                    None,
                    None,
                    "wrong_type",
                    'the body must be a JSON object like {"hotel_ids": ["h1", "h2"]}, got an array',
                )
            ],
        ),
    ],
)
def test_invalid_requests_are_refused_with_422_and_every_problem(
    shared_reranker: RunningReranker, body: Any, expected: list[tuple[str | None, int | None, str, str]]
) -> None:
    response = shared_reranker.http.post("/v1/rerank", json=body)

    assert response.status_code == 422
    found = [(item["field"], item["index"], item["problem"], item["message"]) for item in problems(response)]
    assert found == expected


def test_a_body_that_is_not_json_is_refused_with_400(shared_reranker: RunningReranker) -> None:
    response = shared_reranker.http.post(
        "/v1/rerank", content=b'{"hotel_ids": ["a",', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    [problem] = problems(response)
    assert problem["problem"] == "invalid_json"
    assert problem["message"].startswith("the body is not valid JSON (")
    assert problem["message"].endswith('); send an object like {"hotel_ids": ["h1", "h2"]}')


def test_a_body_over_the_limit_is_refused_with_413(shared_reranker: RunningReranker) -> None:
    body = orjson.dumps({"hotel_ids": ["x" * 500 + str(n) for n in range(5)]})
    assert len(body) > 2048

    response = shared_reranker.http.post("/v1/rerank", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert problems(response) == [
        {
            "field": None,
            "index": None,
            "problem": "body_too_large",
            "message": "the body exceeds 2048 bytes (max_body_bytes); send fewer hotel ids",
        }
    ]


def test_a_body_that_is_not_json_content_is_refused_with_415(shared_reranker: RunningReranker) -> None:
    response = shared_reranker.http.post("/v1/rerank", content=b"hotel_ids=a", headers={"content-type": "text/plain"})

    assert response.status_code == 415
    assert problems(response)[0]["message"] == "Content-Type must be application/json, got 'text/plain'"


def test_json_with_a_charset_is_accepted(shared_reranker: RunningReranker) -> None:
    response = shared_reranker.http.post(
        "/v1/rerank", content=b'{"hotel_ids": ["a"]}', headers={"content-type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 200


def test_unknown_routes_and_wrong_methods(shared_reranker: RunningReranker) -> None:
    missing = shared_reranker.http.get("/v1/ranking")
    wrong_method = shared_reranker.http.get("/v1/rerank")

    assert missing.status_code == 404
    assert problems(missing)[0]["message"] == (
        "no route GET /v1/ranking; the routes are POST /v1/rerank, GET /healthz, GET /readyz, GET /metrics"
    )
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert problems(wrong_method)[0]["message"] == "/v1/rerank accepts POST only, got GET"


def test_a_body_that_does_not_arrive_in_time_is_refused_with_408(start_reranker: RerankerFactory) -> None:
    reranker = start_reranker(body_timeout_seconds=0.3)
    host, port = str(reranker.http.base_url.host), reranker.http.base_url.port
    assert port is not None

    with socket.create_connection((host, port), timeout=5) as connection:
        head = b"POST /v1/rerank HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        connection.sendall(head + b'{"hotel_ids": [')  # and then nothing more
        answer = connection.recv(65536)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    body = orjson.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["errors"][0]["problem"] == "body_timeout"
    assert body["detail"] == "the body did not arrive within 0.3 s"
