"""The little ASGI plumbing the re-ranker needs: types, body reading, JSON responses.

A raw ASGI application rather than a framework app: three routes, and at a budget of a few hundred
microseconds per request a framework's request objects and middleware would cost more than the
scoring itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


class ClientDisconnected(Exception):
    """The client went away before its body arrived; there is nobody to answer."""


class BodyTooLarge(Exception):
    """The body exceeds the limit (HTTP 413)."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive, limit: int, timeout_seconds: float) -> bytes:
    """The whole request body; raises ``BodyTooLarge``, ``ClientDisconnected`` or ``TimeoutError``."""
    async with asyncio.timeout(timeout_seconds):
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, headers: Headers | None = None) -> None:
    start_headers: Headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if headers:
        start_headers.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})
