"""The snippet of the README's "Frontend" section runs in Chromium and its events reach Kafka through a gateway."""

from __future__ import annotations

import re
from collections import Counter

from playwright.sync_api import Browser

from rankfeed.settings import REPO_ROOT, Topics
from rankfeed.site.settings import LOCAL_SITE_WRITE_KEY
from tests.tracker.conftest import TopicLog, Visits

SHOWN_ENDPOINT = "https://events.example.com/v1/actions/batch"
SHOWN_KEY = "pk_live_0123456789abcdef"


def snippet() -> str:
    section = (REPO_ROOT / "README.md").read_text(encoding="utf-8").split("## Frontend", 1)[1]
    found = re.search(r"```html\n(.*?)```", section, flags=re.DOTALL)
    assert found, "the Frontend section shows an html snippet"
    return found.group(1)


def test_the_readme_snippet_sends_its_search_and_click(
    browser: Browser, bootstrap_servers: str, topics: Topics
) -> None:
    shown = snippet()
    assert SHOWN_ENDPOINT in shown and SHOWN_KEY in shown
    visits = Visits(browser, bootstrap_servers)
    raw = TopicLog(bootstrap_servers, topics.user_actions)
    try:
        visit = visits.open(topics)
        visit.gateway.start()
        page = visit.open("/")  # the site's origin, which the gateway's publishable key allows
        endpoint = f"http://127.0.0.1:{visit.gateway.port}/v1/actions/batch"
        html = shown.replace(SHOWN_ENDPOINT, endpoint).replace(SHOWN_KEY, LOCAL_SITE_WRITE_KEY)
        page.set_content(html.replace("createTracker({", "createTracker({ onEvent: window.rankfeedTracked,"))
        counts = visit.finish(raw)
    finally:
        visits.close()
        raw.close()
    actions = Counter(event["action_type"] for event in visit.tracked)
    assert (actions["search"], actions["click"]) == (1, 1)
    assert counts == Counter(dict.fromkeys(visit.event_ids, 1))
