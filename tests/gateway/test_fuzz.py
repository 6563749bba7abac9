"""Whatever a client sends, the gateway answers with a 2xx or a 4xx that explains itself, never a 5xx."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import RunningGateway, now_ms
from tests.gateway.strategies import json_values, mutated_events, valid_events

NOW_MS = now_ms()
#: 300 in `make test`; `make fuzz` runs 10,000.
EXAMPLES = int(os.environ.get("RANKFEED_FUZZ_EXAMPLES", "300"))
_ANSWERS = {202, 400, 413, 415, 422}

bodies = st.one_of(
    valid_events(NOW_MS).map(lambda event: json.dumps(event).encode()),
    mutated_events(NOW_MS).map(lambda event: json.dumps(event).encode()),
    st.lists(st.one_of(valid_events(NOW_MS), mutated_events(NOW_MS)), max_size=5).map(
        lambda events: json.dumps(events).encode()
    ),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


def check(response: Any) -> None:
    assert response.status_code in _ANSWERS, (response.status_code, response.text)
    answer = response.json()
    assert answer["errors"] or response.status_code == 202
    if response.status_code in (202, 422) and "accepted" in answer:
        assert answer["accepted"] == len(answer["event_ids"])
        assert answer["accepted"] + answer["rejected"] >= 1
    for error in answer["errors"]:
        assert set(error) == {"index", "field", "problem", "message"} and error["message"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, path=st.sampled_from(["/v1/actions", "/v1/actions/batch"]), ndjson=st.booleans())
def test_no_body_makes_the_gateway_fail(shared_gateway: RunningGateway, body: bytes, path: str, ndjson: bool) -> None:
    content_type = "application/x-ndjson" if ndjson and path.endswith("batch") else "application/json"
    response = shared_gateway.post(path, content=body, headers={"Content-Type": content_type})
    check(response)
