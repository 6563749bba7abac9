"""The examples in rankfeed/rerank/README.md run, and the answers it shows are the service's real answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from rankfeed.rerank import scoring
from rankfeed.rerank.settings import RerankSettings
from tests.rerank.conftest import FeaturePublisher, RerankerFactory, RunningReranker, features_record

README = Path(scoring.__file__).with_name("README.md")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def python_example() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(blocks("python")[0], namespace)  # the asserts in the example are part of the test
    return namespace


def test_the_python_example_runs() -> None:
    namespace = python_example()

    assert [hotel.hotel_id for hotel in namespace["ranking"]] == ["h-3", "h-17", "h-88"]


def test_the_request_and_answer_shown_are_what_the_service_answers(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    # The topic holds the rows of the Python example.
    for (hotel_id, destination), row in python_example()["features"].items():
        examined, clicks, books, quick_backs, _impressions, _updated_at = row
        publisher.publish(
            features_record(
                hotel_id,
                destination=destination,
                examined_impressions=examined,
                clicks=clicks,
                books=books,
                quick_backs=quick_backs,
            )
        )
    reranker = start_reranker()
    reranker.wait_until_ready()
    request, shown_answer, _error = (orjson.loads(block) for block in blocks("json")[:3])

    answer = reranker.http.post("/v1/rerank", json=request).json()

    assert [{**item, "score": round(item["score"], 4)} for item in answer["ranking"]] == shown_answer["ranking"]
    assert re.fullmatch(r"\d+:\d+(,\d+:\d+)*", answer["features_version"])
    assert re.fullmatch(r"\d+:\d+(,\d+:\d+)*", shown_answer["features_version"])


def test_the_error_shown_is_what_the_service_answers(shared_reranker: RunningReranker) -> None:
    shown_error = orjson.loads(blocks("json")[2])

    response = shared_reranker.rerank(["h-17", "h-3", "h-17"])

    assert response.status_code == 422
    assert response.json() == shown_error


def test_every_setting_in_the_readme_table_exists() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| setting | default |") :].split("\n\n", 1)[0]
    names = [name for line in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", line.split("|")[1])]

    assert len(names) == 13
    assert [name for name in names if name not in RerankSettings.model_fields] == []
