"""The HTTP API of kerascls-serve (FastAPI): predict, models, health, readiness, metrics.

    POST /v1/predict   images (multipart or a raw image body) -> top-k classes per image,
                       the model's name and version and the variant that answered
    GET  /v1/models    what each variant serves: format, precision, classes, input size,
                       the figures its export manifest recorded
    GET  /healthz      the process answers
    GET  /readyz       every model is loaded and warmed up (503 until then)
    GET  /metrics      Prometheus text format

Every answer names the process that gave it in the header x-kerascls-worker (its PID):
with several workers (kerascls-serve --workers N) that tells them apart.

Every refusal is a JSON error {"error": {"kind", "message", "status"}}: 4xx for bad
input, which never reaches the model; 503 with Retry-After when the server is full
(`max_in_flight` requests, checked before the body is read, or `max_queue` images
waiting for a model call) or a request waited `timeout_s` for its answer.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServedModel("exports/model_int8.tflite"))   # doctest: +SKIP
    >>> with TestClient(app) as client:                              # doctest: +SKIP
    ...     client.post("/v1/predict", files={"image": open("cat.jpg", "rb")}).json()
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from kerascls.serve.errors import install_error_handlers
from kerascls.serve.inputs import ApiError
from kerascls.serve.metrics import NO_VARIANT
from kerascls.serve.routes import PREDICT, ROUTES, router
from kerascls.serve.state import ServeSettings, ServeState, app_state, attach
from kerascls.serve.variants import CANDIDATE, CLIENT_HEADER, LIVE, SHADOW, ServedModel, Variant

__all__ = ["WORKER_HEADER", "ServeMiddleware", "ServeSettings", "ServeState", "create_app"]

WORKER_HEADER = "x-kerascls-worker"  # the PID of the process that answered


def create_app(
    live: ServedModel,
    *,
    candidate: ServedModel | None = None,
    shadow: ServedModel | None = None,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The server's FastAPI app; models load and warm up when it starts (its lifespan).

    The pieces: the routes (routes.py), the JSON error handlers (errors.py), the admission
    and bookkeeping middleware (below), and the state they share (state.py).
    """
    variants = {LIVE: Variant(LIVE, live)}
    for name, model in ((CANDIDATE, candidate), (SHADOW, shadow)):
        if model is not None:
            variants[name] = Variant(name, model)
    state = ServeState(variants, settings or ServeSettings())
    app = FastAPI(title="kerascls-serve", lifespan=_lifespan, docs_url="/docs", redoc_url=None)
    attach(app, state)
    app.add_middleware(ServeMiddleware, state=state)
    install_error_handlers(app)
    app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Prepare the models in the background while the server starts answering (/readyz
    says 503 until they are ready); at shutdown (after the server has finished the requests
    in flight) answer what is still queued, then stop the batchers and the decoding pool."""
    state = app_state(app)
    task = asyncio.get_running_loop().create_task(state.prepare())
    yield
    task.cancel()
    await state.stop()


class ServeMiddleware:
    """Admission and bookkeeping around every request (a plain ASGI middleware).

    Predict requests past `max_in_flight` are refused here with 503 and Retry-After,
    before routing and before their body is read: shedding must cost far less than
    serving, or an overloaded server spends its CPU refusing. Every request is then
    counted by route, status and variant, and timed.
    """

    def __init__(self, app: Any, state: ServeState) -> None:
        self.app, self.state, self.metrics = app, state, state.metrics
        self.worker = (WORKER_HEADER.encode(), str(os.getpid()).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        predict = route == PREDICT and scope.get("method") == "POST"
        if predict and self.state.in_flight >= self.state.max_in_flight:
            await self._shed(scope, send, start)
            return
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), self.worker]}
            await send(message)

        if predict:
            self.state.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            if predict:
                self.state.in_flight -= 1
            variant = scope.get("state", {}).get("variant", NO_VARIANT)
            self._count(route, str(status["code"]), variant, start)

    async def _shed(self, scope: dict, send: Any, start: float) -> None:
        state = self.state
        client = dict(scope.get("headers") or []).get(CLIENT_HEADER.encode())
        variant = state.router.assign(client.decode("latin-1") if client else None)
        error = ApiError(
            503,
            "overloaded",
            f"{state.in_flight} requests are being served (the limit is "
            f"{state.max_in_flight}); retry shortly",
        )
        body = json.dumps(error.body()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
            self.worker,
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.errors.labels(kind="overloaded", variant=variant).inc()
        self._count(PREDICT, "503", variant, start)

    def _count(self, route: str, status: str, variant: str, start: float) -> None:
        seconds = time.perf_counter() - start
        self.metrics.refresh_memory()
        self.metrics.requests.labels(route=route, status=status, variant=variant).inc()
        self.metrics.request_seconds.labels(route=route, status=status, variant=variant).observe(
            seconds
        )
