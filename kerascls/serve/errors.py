"""The server's refusals: every error is a JSON body {"error": {"kind", "message", "status"}}.

`install_error_handlers(app)` routes each kind of exception to one answer: an `ApiError`
as it is (bad input, a full queue, ...), an unknown route or method as not_found or
method_not_allowed, a query parameter that does not parse as bad_request (400, not
FastAPI's 422), and anything else as a 500 "internal" whose traceback goes to the log,
never to the client. Each answer is counted in kerascls_errors_total by kind and variant.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kerascls.serve.inputs import ApiError
from kerascls.serve.metrics import NO_VARIANT
from kerascls.serve.state import state_of

logger = logging.getLogger(__name__)

HTTP_KINDS = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every exception a request raises in `app` as a JSON error (see above)."""
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, internal_error)


async def api_error(request: Request, err: ApiError) -> JSONResponse:
    """The error's JSON body, status and headers; counted by kind and variant."""
    variant = getattr(request.state, "variant", NO_VARIANT)
    state_of(request).metrics.errors.labels(kind=err.kind, variant=variant).inc()
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
    kind = HTTP_KINDS.get(err.status_code, "http_error")
    return await api_error(request, ApiError(err.status_code, kind, str(err.detail)))


async def bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
    where = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in err.errors()
    )
    return await api_error(request, ApiError(400, "bad_request", where or "bad request"))


async def internal_error(request: Request, err: Exception) -> JSONResponse:
    logger.exception("internal error on %s", request.url.path)
    return await api_error(request, ApiError(500, "internal", "internal server error"))
