"""The little ASGI plumbing the gateway and the re-ranker share: types, headers, body reading, JSON responses.

Both are raw ASGI applications rather than framework apps: a handful of routes each, and on their
hot paths a framework's request objects and middleware stack cost more than the work itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

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


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive, limit: int, timeout_seconds: float) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes and slow senders past ``timeout_seconds``.

    Raises ``BodyTooLarge``, ``ClientDisconnected`` or ``TimeoutError``.
    """
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    async with asyncio.timeout(timeout_seconds):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def respond(
    send: Send, status: int, body: bytes, headers: Headers | None = None, content_type: bytes = JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def json_body(value: Any) -> bytes:
    return orjson.dumps(value)


def uvicorn_options(host: str, port: int, log_config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """uvicorn settings both services run with: uvloop and httptools (measured fastest here), no
    access log (it would cost more than the work; the gateway writes its own), a deep backlog."""
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "log_config": log_config,
        "backlog": 2048,
        **overrides,
    }


async def lifespan(
    receive: Receive, send: Send, startup: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]
) -> None:
    """The ASGI lifespan protocol: ``startup`` before the first request, ``shutdown`` after the last.

    A startup that raises is reported to the server (``lifespan.startup.failed``), which then exits
    instead of serving a half-started app.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup()
            except Exception as error:  # noqa: BLE001 - reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
