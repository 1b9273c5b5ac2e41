"""The routes of kerascls-serve: predict, models, health, readiness, metrics.

Each route reads the app's `ServeState` from the request (`state_of`); `create_app`
includes `router` in the app. What each route answers is described in app.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from kerascls.evaluate.ranking import top_k_indices
from kerascls.serve.batcher import PredictTimeoutError, QueueFullError
from kerascls.serve.inputs import ApiError, Limits, Upload, decode_uploads, read_uploads
from kerascls.serve.state import ServeState, state_of
from kerascls.serve.variants import CLIENT_HEADER, LIVE, Variant

PREDICT = "/v1/predict"
ROUTES = (PREDICT, "/v1/models", "/healthz", "/readyz", "/metrics")

router = APIRouter()


@router.post(PREDICT)
async def predict(request: Request, top_k: int | None = None) -> JSONResponse:
    """Top-k classes of each uploaded image, from the variant the client is assigned."""
    state = state_of(request)
    name = state.router.assign(request.headers.get(CLIENT_HEADER))
    request.state.variant = name
    variant = state.variants[name]
    if not variant.ready:
        raise ApiError(
            503, "not_ready", state.error or "the model is loading", {"Retry-After": "1"}
        )
    in_flight = state.metrics.in_flight.labels(variant=name)
    in_flight.inc()
    try:
        uploads = await _read(request, state.settings.limits)
        images = await asyncio.get_running_loop().run_in_executor(
            state.decode_pool,
            decode_uploads,
            uploads,
            variant.runner.input_size,
            state.settings.limits,
        )
        probabilities = await _model_call(variant, images, state.settings.timeout_s)
        top1 = state.record_predictions(name, probabilities)
        if name == LIVE:
            state.shadow(images, top1)
        k = max(1, min(top_k or state.settings.top_k, variant.runner.num_classes))
        return JSONResponse(answer(variant, uploads, probabilities, k))
    finally:
        in_flight.dec()


async def _read(request: Request, limits: Limits) -> list[Upload]:
    try:
        return await read_uploads(request, limits)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "the client went away") from None


async def _model_call(variant: Variant, images: np.ndarray, timeout_s: float) -> np.ndarray:
    """The variant's probabilities for `images`; a full queue or a timeout is a 503."""
    try:
        return await variant.batcher.predict(images, timeout_s)
    except QueueFullError as err:
        raise ApiError(503, "queue_full", str(err), {"Retry-After": str(err.retry_after)}) from None
    except PredictTimeoutError as err:
        raise ApiError(503, "timeout", str(err), {"Retry-After": "1"}) from None


def answer(
    variant: Variant, uploads: list[Upload], probabilities: np.ndarray, k: int
) -> dict[str, Any]:
    """The predict route's JSON body: per upload its k most probable classes, best first
    (equal probabilities in class-index order, `top_k_indices`)."""
    d = variant.description
    names = d["class_names"]
    predictions = []
    orders = top_k_indices(probabilities, k)
    for upload, row, order in zip(uploads, probabilities, orders, strict=True):
        ranked = [
            {"class": names[i], "index": int(i), "probability": round(float(row[i]), 6)}
            for i in order
        ]
        predictions.append({"file": upload.name, "top_k": ranked})
    return {
        "model": {"name": d["name"], "version": d["version"]},
        "variant": variant.name,
        "format": d["format"],
        "precision": d["precision"],
        "predictions": predictions,
    }


@router.get("/v1/models")
async def models(request: Request) -> dict[str, Any]:
    """What each variant serves, the traffic split and the batching settings."""
    state = state_of(request)
    listed = [_described(variant) for variant in state.variants.values()]
    return {"models": listed, "split": state.router.split, "batching": _batching(state)}


def _described(variant: Variant) -> dict[str, Any]:
    described = dict(variant.description) or {"file": str(variant.model.path)}
    described.update(
        variant=variant.name, ready=variant.ready, load_seconds=variant.model.load_seconds
    )
    return described


def _batching(state: ServeState) -> dict[str, Any]:
    settings = state.settings
    return {
        "max_batch": settings.max_batch,
        "max_wait_ms": settings.max_wait_ms,
        "max_queue": settings.max_queue,
        "max_in_flight": state.max_in_flight,
        "batch_sizes": list(state.buckets),
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 once every variant is loaded and warmed up, else 503 (with the error, if any)."""
    state = state_of(request)
    body: dict[str, Any] = {
        "ready": state.ready,
        "variants": {v.name: v.ready for v in state.variants.values()},
    }
    if state.error:
        body["error"] = state.error
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """The app's metrics in Prometheus text format (every worker's, with --workers)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry = state_of(request).metrics.exposition
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
