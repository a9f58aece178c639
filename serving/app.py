"""The FastAPI app: ``POST /recommend`` and ``GET /health``, bearer auth, 4xx for bad input.

The routes only parse, authorise, :func:`mtrec.serving.api.prepare` the request against the
model the slot holds and hand it to the batcher, which ranks it with the requests waiting
beside it (:mod:`mtrec.serving.batching`). A request that fails validation gets a 400
(malformed JSON) or 422 (anything else) with a one-line ``error``; an unexpected failure gets
a 500 and is logged, and the server goes on.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mtrec.serving.api import RecommendRequest, RequestError, needs_encoding, prepare
from mtrec.serving.batching import Batcher
from mtrec.serving.settings import ServeSettings
from mtrec.serving.slot import ModelSlot

log = logging.getLogger("mtrec.serving")
MAX_BODY_BYTES = 1_000_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Unauthorized(Exception):
    """A request without the configured bearer token (401)."""


def create_app(slot: ModelSlot, settings: ServeSettings) -> FastAPI:
    """The service answering from ``slot`` (already loaded), as ``settings`` say."""
    token = settings.token.get_secret_value().encode() if settings.token is not None else None
    docs = token is None  # the schema pages answer without a token: only when none is needed
    batcher = Batcher()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(
        title="mtrec recommendations",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=lifespan,
    )
    started = time.time()

    async def authorise(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            raise Unauthorized

    @app.post("/recommend", dependencies=[Depends(authorise)])
    async def recommend(request: RecommendRequest) -> Response:
        served = slot.current  # read once: a swap during this request does not affect it
        if needs_encoding(served, request):  # the text encoder: off the event loop
            query = await run_in_threadpool(prepare, served, request, settings.max_k)
        else:
            query = prepare(served, request, settings.max_k)
        # Ranked by the batcher's worker, with whatever else is waiting (see batching.py).
        result = await asyncio.wrap_future(batcher.submit(served, request, query))
        return Response(result.model_dump_json(), media_type="application/json")

    @app.get("/health", dependencies=[Depends(authorise)])
    async def health() -> dict[str, Any]:
        status = slot.status()
        return {
            "status": "ok",
            "model_version": status.version,
            "loaded_at": status.loaded_at,
            "uptime_s": round(time.time() - started, 3),
            "swaps": status.swaps,
            "last_check": status.last_check,
            "last_error": status.last_error,
            "poll_seconds": slot.poll_seconds,
            "batches": batcher.batches,
            "answered": batcher.answered,
        }

    @app.exception_handler(Unauthorized)
    async def unauthorised(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = list(error.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            detail = next(str(p.get("ctx", {}).get("error", "")) for p in problems)
            return JSONResponse({"error": f"malformed JSON: {detail}".rstrip(": ")}, 400)
        return JSONResponse({"error": "; ".join(_describe(p) for p in problems)}, 422)

    @app.exception_handler(RequestError)
    async def unanswerable(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": str(error)}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return JSONResponse(
            {"error": str(error.detail)}, error.status_code, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> JSONResponse:
        log.exception("request failed", exc_info=error)
        return JSONResponse({"error": "internal error"}, 500)

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    return app


def _describe(problem: Any) -> str:
    """One validation problem in a line: ``unknown field 'x'``, ``k: ...``."""
    location = [str(part) for part in problem.get("loc", ()) if part != "body"]
    where = ".".join(location) or "body"
    if problem.get("type") == "extra_forbidden":
        return f"unknown field {where!r}"
    if problem.get("type") == "missing":
        return f"missing field {where!r}"
    return f"{where}: {problem.get('msg', 'invalid')}"


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, by the declared length or by what
    arrives, so one huge request cannot exhaust the server's memory."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a body without a declared length, or a false one
                raise StarletteHTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def _too_large(send: Send, max_bytes: int) -> None:
    body = f'{{"error": "request body over {max_bytes} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
