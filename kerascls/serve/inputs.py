"""Uploads: read a predict request's images within limits, decode them as training does.

A request carries its images either as multipart/form-data (one file part per image, any
field name) or as a raw body with an image/* or application/octet-stream content type.
Everything that can go wrong is an `ApiError` with an HTTP status, a short `kind` and a
one-line message, which the app turns into a JSON error; none of it reaches the model:

    413 body_too_large    the body passes --max-body-mb (checked as it streams in)
    413 too_many_files    more than --max-files images in one request
    413 image_too_large   an image whose header declares more than --max-pixels pixels
                          (a decompression bomb), refused before it is decoded
    415 unsupported_media_type   neither multipart nor an image content type
    400 empty_body / no_images / bad_multipart / invalid_image

Images are decoded and resized by `kerascls.data.pixels.decode_image_bytes_lean`: the
pixels of training's decoder and resize (tested equal, pixel for pixel), without TensorFlow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np


class ApiError(Exception):
    """A request the server refuses: HTTP status, a machine-readable kind, a message."""

    def __init__(
        self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"kind": self.kind, "message": self.message, "status": self.status}}


@dataclass(frozen=True)
class Limits:
    """What one predict request may hold."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_files: int = 16
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class Upload:
    """One image as received: its file name (or "body") and its bytes."""

    name: str
    data: bytes


RAW_TYPES = ("application/octet-stream",)


async def read_uploads(request: Any, limits: Limits) -> list[Upload]:
    """The images of a predict request (a Starlette `Request`), within `limits`.

    Raises:
        ApiError: see the module docstring.
    """
    content_type = request.headers.get("content-type", "")
    main = content_type.split(";")[0].strip().lower()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(int(declared), limits)
    if main == "multipart/form-data":
        return await _multipart(request, limits)
    if main.startswith("image/") or main in RAW_TYPES:
        body = b"".join([chunk async for chunk in _limited(request, limits)])
        if not body:
            raise ApiError(400, "empty_body", "the request body is empty: send an image")
        return [Upload("body", body)]
    shown = main or "no content type"
    raise ApiError(
        415,
        "unsupported_media_type",
        f"cannot take {shown}: send the image as multipart/form-data (curl -F "
        "image=@cat.jpg) or as the raw body with Content-Type image/jpeg, image/png, ... "
        "or application/octet-stream",
    )


def _too_large(size: int, limits: Limits) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the request body is over {size:,} bytes; the limit is {limits.max_body_bytes:,} "
        "(send fewer or smaller images)",
    )


async def _limited(request: Any, limits: Limits) -> AsyncIterator[bytes]:
    """The body's chunks, stopping with 413 as soon as they pass the limit."""
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limits.max_body_bytes:
            raise _too_large(total, limits)
        yield chunk


async def _multipart(request: Any, limits: Limits) -> list[Upload]:
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(
        request.headers,
        _limited(request, limits),
        max_files=limits.max_files,
        max_fields=32,
    )
    try:
        form = await parser.parse()
    except MultiPartException as err:
        if "too many files" in str(err).lower():
            raise ApiError(
                413,
                "too_many_files",
                f"one request may hold at most {limits.max_files} images; send the others "
                "in further requests",
            ) from None
        raise ApiError(400, "bad_multipart", f"cannot parse the multipart body: {err}") from None
    uploads = []
    try:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads.append(Upload(value.filename or "upload", await value.read()))
    finally:
        await form.close()
    if not uploads:
        raise ApiError(400, "no_images", "the multipart body holds no file; send -F image=@cat.jpg")
    return uploads


def decode_uploads(uploads: list[Upload], size: tuple[int, int], limits: Limits) -> np.ndarray:
    """uint8 (n, H, W, 3) pixels of the uploads at the model's input size.

    Raises:
        ApiError: 413 image_too_large, or 400 invalid_image naming the upload.
    """
    # the training pipeline's pixels without TensorFlow (kerascls/data/pixels.py, tested
    # pixel for pixel against it): a server of .tflite and .onnx files never loads TF
    from kerascls.data.images import ImageTooLargeError
    from kerascls.data.pixels import decode_image_bytes_lean
    from kerascls.errors import DataError

    images = []
    for i, upload in enumerate(uploads):
        name = upload.name if upload.name == "body" else f"image {i} ({upload.name})"
        name = "the request body" if upload.name == "body" else name
        try:
            images.append(
                decode_image_bytes_lean(upload.data, size, max_pixels=limits.max_pixels, name=name)
            )
        except ImageTooLargeError as err:
            raise ApiError(413, "image_too_large", str(err)) from None
        except DataError as err:
            raise ApiError(400, "invalid_image", str(err)) from None
    return np.stack(images)
