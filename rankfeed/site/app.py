"""The demo site as a small ASGI application: its pages, the tracker bundle, its configuration and a search API.

``GET /api/search?q=paris`` answers the catalogue's hotels of that city, ordered by the re-rank endpoint
when it answers within ``rerank_timeout_seconds`` and in catalogue order otherwise; the answer says which.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson

from rankfeed import asgi as http
from rankfeed.asgi import Receive, Scope, Send
from rankfeed.site.settings import PAGES_DIR, TRACKER_BUNDLE, SiteSettings

log = logging.getLogger(__name__)

#: Every file the site serves, by path: nothing else on disk is reachable.
_FILES: dict[str, tuple[Path, bytes]] = {
    "/": (PAGES_DIR / "index.html", b"text/html; charset=utf-8"),
    "/hotel": (PAGES_DIR / "hotel.html", b"text/html; charset=utf-8"),
    "/demo.js": (PAGES_DIR / "demo.js", b"text/javascript; charset=utf-8"),
    "/style.css": (PAGES_DIR / "style.css", b"text/css; charset=utf-8"),
    "/rankfeed.min.js": (TRACKER_BUNDLE, b"text/javascript; charset=utf-8"),
}
_NO_STORE = [(b"cache-control", b"no-store")]
#: Pages may be revalidated but not "no-store": that would keep them out of the back-forward cache.
_REVALIDATE = [(b"cache-control", b"no-cache")]


@cache
def catalogue() -> dict[str, list[dict[str, Any]]]:
    """The demo's hotels by city (lower case), in the catalogue's own order."""
    loaded: dict[str, list[dict[str, Any]]] = json.loads((PAGES_DIR / "hotels.json").read_text(encoding="utf-8"))
    return loaded


class Site:
    def __init__(self, settings: SiteSettings) -> None:
        self.settings = settings
        config = {
            "endpoint": f"{settings.gateway_url.rstrip('/')}/v1/actions/batch",
            "writeKey": settings.write_key,
            "tracker": settings.tracker_options,
        }
        self._config = b"window.RANKFEED_CONFIG = " + orjson.dumps(config) + b";\n"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await http.lifespan(receive, send, _nothing, _nothing)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if scope["method"] != "GET":
            await http.respond(send, 405, http.json_body({"detail": "the demo site answers GET only"}))
        elif path == "/config.js":
            await http.respond(send, 200, self._config, _NO_STORE, b"text/javascript; charset=utf-8")
        elif path == "/api/search":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("q", [""])[0]
            await http.respond(send, 200, http.json_body(await self.search(query)), _NO_STORE)
        elif path in _FILES:
            file, content_type = _FILES[path]
            if not file.exists():
                detail = f"{file.name} is missing: build the tracker with `make tracker`"
                await http.respond(send, 503, http.json_body({"detail": detail}))
                return
            await http.respond(send, 200, file.read_bytes(), _REVALIDATE, content_type)
        else:
            await http.respond(send, 404, http.json_body({"detail": f"no page {path}"}))

    async def search(self, query: str) -> dict[str, Any]:
        """The hotels of the city named by ``query``, ranked, and what ranked them."""
        city = query.strip().lower()
        hotels = catalogue().get(city, [])
        ranked_by = "catalogue"
        if hotels and self.settings.rerank_url:
            order = await self._rerank([hotel["hotel_id"] for hotel in hotels], city)
            if order is not None:
                by_id = {hotel["hotel_id"]: hotel for hotel in hotels}
                hotels, ranked_by = [by_id[hotel_id] for hotel_id in order], "rerank"
        return {"query": query, "city": city, "hotels": hotels, "ranked_by": ranked_by}

    async def _rerank(self, hotel_ids: list[str], destination: str) -> list[str] | None:
        url = f"{self.settings.rerank_url}/v1/rerank"
        try:
            async with httpx.AsyncClient(timeout=self.settings.rerank_timeout_seconds) as client:
                answer = await client.post(url, json={"hotel_ids": hotel_ids, "destination": destination})
            if answer.status_code != 200:
                return None
            return [item["hotel_id"] for item in answer.json()["ranking"]]
        except httpx.HTTPError:
            return None  # the re-rank endpoint is not up: the catalogue's order


async def _nothing() -> None:
    return None


def create_app() -> Site:
    from rankfeed.settings import load_settings

    return Site(load_settings(SiteSettings))
