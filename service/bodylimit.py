"""Request body limits, enforced on the ASGI stream before anything authenticates, reads or parses a body.

Without this, FastAPI buffers a whole JSON body (and a console form) before a dependency can refuse the
token: one anonymous 200 MiB POST cost the server 400 MB. Here a declared Content-Length over the limit
is refused without reading a byte, and a chunked (or lying) body is cut off the moment it crosses the
limit: the app's own answer to the half-read body is dropped and 413 goes out instead.

Limits (API.md): a part (``PUT /v1/uploads/{id}/parts/{n}``) at most ``max_part_size`` (64 MiB), which
is streamed into storage and never buffered whole; every other body (JSON, console forms) at most 1 MiB,
far above the largest real one (a redaction plan).
"""

from __future__ import annotations

import re
from typing import Any

from service.errors import BadRequest, TooLarge, problem_response

MiB = 1024 * 1024
BODY_LIMIT = 1 * MiB
# The API's parts, and the console uploader's (the same ingest service behind both).
_PART = re.compile(r"/(?:v1|ui/upload)/uploads/[^/]+/parts/[^/]+/?$")

Scope = dict[str, Any]


class BodyTooLarge(TooLarge):
    """Raised from ``receive`` when the body crosses its limit. A 413 Problem, so wherever it surfaces
    (a storage write, an ``except Exception`` that logs) it is the same refusal."""


class BodyLimit:
    def __init__(self, app: Any, *, part_limit: int, body_limit: int = BODY_LIMIT) -> None:
        self.app = app
        self.part_limit = part_limit
        self.body_limit = body_limit

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope.get("method") == "PUT" and _PART.search(scope.get("path", "")):
            return self.part_limit, "part-too-large"
        return self.body_limit, "body-too-large"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, slug = self.limit_for(scope)
        refusal = BodyTooLarge(f"The request body is larger than {limit} bytes.", slug=slug, limit_bytes=limit)
        declared = _content_length(scope)
        if declared == -1:
            await problem_response(BadRequest("Content-Length is not a number.", slug="invalid-content-length"))(
                scope, receive, send)
            return
        if declared is not None and declared > limit:
            await problem_response(refusal)(scope, receive, send)
            return

        received = 0
        tripped = started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, tripped
            if tripped:
                raise refusal  # the app tries again: still nothing more is read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    raise refusal
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if tripped and not started:
                return  # the app's answer to a body it could not finish (often a 400) is replaced below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Once the body is cut off, whatever the app raised about it (the refusal itself, wrapped in
            # a middleware's task group, or a "stream consumed" that followed) is that refusal.
            if not tripped or started:
                raise
        if tripped and not started:
            await problem_response(refusal)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent (chunked), -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None
