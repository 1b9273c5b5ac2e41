"""The training pipeline's pixels without TensorFlow: Pillow and NumPy only.

kerascls-serve serves .tflite and .onnx models without importing TensorFlow, yet must give
a model exactly the pixels training gave it. `decode_image_bytes_lean` is
`kerascls.data.images.decode_image_bytes` (same checks, same messages) rebuilt on Pillow
and NumPy:

- JPEG: TensorFlow decodes with libjpeg-turbo's fast integer IDCT (INTEGER_FAST) and
  "fancy" (triangle) chroma upsampling; Pillow offers the fast IDCT only in draft mode,
  which also turns fancy upsampling off. So the file is decoded by Pillow in draft mode to
  YCbCr (fast IDCT, chroma repeated), the chroma planes are taken back to their own
  resolution and upsampled here with libjpeg-turbo's integer formulas (h2v1, h2v2, h1v2),
  then converted to RGB with libjpeg's fixed-point tables. Grey and CMYK JPEGs need no
  upsampling: Pillow's draft decode is TensorFlow's (CMYK then converted to RGB with
  TensorFlow's truncating formula, not Pillow's rounding one).
- 16-bit PNG keeps the high byte (TensorFlow's 16 to 8-bit conversion); Pillow's
  `convert("RGB")` would clip 16-bit grey instead.
- Everything else (PNG 8-bit and palette, GIF first frame, WEBP, BMP) is Pillow's
  `convert("RGB")`: grey repeated, alpha dropped, as `kerascls.data.decode._to_rgb`. Files
  the training pipeline itself hands to Pillow (TIFF, palette BMP: `needs_pil`) go through
  the very same `convert("RGB")`.
- The resize is TensorFlow's `tf.image.resize(..., "bilinear", antialias=True)` (a
  scale-and-translate with a triangle kernel widened by the scale when shrinking), in
  float32 with TensorFlow's weights and summation order, then rounded and clipped.

tests/test_decode_parity.py compares this with the training path on real photos.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.full((48, 64), 200, np.uint8)).save(buffer, "PNG")
    >>> image = decode_image_bytes_lean(buffer.getvalue(), (32, 32))
    >>> image.shape, image.dtype, int(image[0, 0, 0])
    ((32, 32, 3), dtype('uint8'), 200)
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from kerascls.data.images import check_upload
from kerascls.errors import DataError


def decode_image_bytes_lean(
    data: bytes,
    size: tuple[int, int] | None = None,
    *,
    max_pixels: int | None = None,
    name: str = "the image",
) -> np.ndarray:
    """`kerascls.data.images.decode_image_bytes` without TensorFlow: the same pixels.

    Args:
        data: the encoded file (jpg, png, bmp, gif, webp, tiff).
        size: (height, width) to resize to, or None to keep the image's own size.
        max_pixels: refuse images whose header declares more pixels than this.
        name: what to call the image in error messages.

    Returns:
        uint8 RGB array (height, width, 3).

    Raises:
        ImageTooLargeError: the header declares more than `max_pixels` pixels.
        DataError: empty, not an image, truncated or otherwise undecodable.
    """
    info = check_upload(data, max_pixels, name)
    try:
        image = decode_pixels(data, info.needs_pil)
    except (OSError, ValueError, SyntaxError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot decode {name} as an image ({reason[:200]})") from None
    return image if size is None else resize_uint8(image, (int(size[0]), int(size[1])))


def decode_pixels(data: bytes, use_pil: bool = False) -> np.ndarray:
    """Decode a file's bytes to uint8 RGB (H, W, 3) as `kerascls.data.decode.decode_bytes`.

    Args:
        data: the encoded file.
        use_pil: the file is one the training pipeline decodes with Pillow (`needs_pil`).
    """
    with Image.open(io.BytesIO(data)) as image:
        if use_pil:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
        if image.format in ("JPEG", "MPO"):
            return _decode_jpeg(image)
        if image.mode.startswith("I;16"):  # 16-bit grey PNG: TensorFlow keeps the high byte
            grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _decode_jpeg(image: Image.Image) -> np.ndarray:
    """libjpeg-turbo as TensorFlow runs it: fast integer IDCT, fancy chroma upsampling."""
    layers = getattr(image, "layer", [])
    ycc = (
        image.mode == "RGB"
        and len(layers) == 3
        and image.info.get("adobe_transform", 1) != 0  # transform 0: stored as RGB
    )
    if ycc:
        image.draft("YCbCr", None)
    image.decoderconfig = (1, 1)  # (scale, draft): draft = fast IDCT, no fancy upsampling
    if image.mode == "CMYK":
        return _cmyk_to_rgb(np.asarray(image), adobe="adobe" in image.info)
    if not ycc:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    planes = np.asarray(image)
    luma, chroma = planes[..., 0], [planes[..., 1], planes[..., 2]]
    factors = _chroma_factors(layers, image.width)
    if factors is not None:
        step_x, step_y = factors
        upsample = {(2, 1): _fancy_h2v1, (1, 2): _fancy_h1v2, (2, 2): _fancy_h2v2}[factors]
        height, width = luma.shape
        chroma = [upsample(plane[::step_y, ::step_x])[:height, :width] for plane in chroma]
    return _ycc_to_rgb(luma, chroma[0], chroma[1])


def _cmyk_to_rgb(cmyk: np.ndarray, adobe: bool) -> np.ndarray:
    """TensorFlow's CMYK conversion (jpeg_mem.cc), truncating where Pillow rounds.

    Pillow has already inverted Adobe's inverted CMYK; TensorFlow works on the stored
    values: with the Adobe marker R = K * C / 255, without (255 - K) * (255 - C) / 255.
    """
    stored = cmyk.astype(np.int32)
    if adobe:
        stored = 255 - stored
        colour, black = stored[..., :3], stored[..., 3:]
    else:
        colour, black = 255 - stored[..., :3], 255 - stored[..., 3:]
    return (colour * black // 255).astype(np.uint8)


def _chroma_factors(layers: list, width: int) -> tuple[int, int] | None:
    """(x, y) chroma subsampling that libjpeg upsamples with its "fancy" filter, or None.

    libjpeg-turbo (jdsample.c) filters only 2x1, 1x2 and 2x2 subsampling, and only when
    the subsampled plane is more than 2 samples wide; other cases repeat the samples, as
    the draft decode already did.
    """
    (_, luma_h, luma_v, _), (_, cb_h, cb_v, _), (_, cr_h, cr_v, _) = layers[:3]
    max_h, max_v = max(luma_h, cb_h, cr_h), max(luma_v, cb_v, cr_v)
    if (cb_h, cb_v) != (cr_h, cr_v) or (luma_h, luma_v) != (max_h, max_v):
        return None
    if max_h % cb_h or max_v % cb_v:
        return None
    factors = (max_h // cb_h, max_v // cb_v)
    chroma_width = -(-width * cb_h // max_h)
    if factors not in ((2, 1), (1, 2), (2, 2)) or chroma_width <= 2:
        return None
    return factors


def _neighbours(plane: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The previous and next sample along `axis`, the edge sample repeated."""
    first = np.take(plane, [0], axis=axis)
    last = np.take(plane, [plane.shape[axis] - 1], axis=axis)
    size = plane.shape[axis]
    before = np.concatenate([first, np.take(plane, range(size - 1), axis=axis)], axis=axis)
    after = np.concatenate([np.take(plane, range(1, size), axis=axis), last], axis=axis)
    return before, after


def _interleave(even: np.ndarray, odd: np.ndarray, axis: int) -> np.ndarray:
    return np.stack([even, odd], axis=axis + 1).reshape(
        *even.shape[:axis], even.shape[axis] * 2, *even.shape[axis + 1 :]
    )


def _fancy_h2v1(plane: np.ndarray) -> np.ndarray:
    """jdsample.c h2v1_fancy_upsample: (3 * near + far + 1 or 2) >> 2."""
    plane = plane.astype(np.int32)
    before, after = _neighbours(plane, 1)
    return _interleave((3 * plane + before + 1) >> 2, (3 * plane + after + 2) >> 2, 1)


def _fancy_h1v2(plane: np.ndarray) -> np.ndarray:
    """jdsample.c h1v2_fancy_upsample: the same filter along the columns."""
    plane = plane.astype(np.int32)
    before, after = _neighbours(plane, 0)
    return _interleave((3 * plane + before + 1) >> 2, (3 * plane + after + 2) >> 2, 0)


def _fancy_h2v2(plane: np.ndarray) -> np.ndarray:
    """jdsample.c h2v2_fancy_upsample: column sums 3 * near + far, then 3:1 across."""
    plane = plane.astype(np.int32)
    above, below = _neighbours(plane, 0)
    sums = _interleave(3 * plane + above, 3 * plane + below, 0)
    before, after = _neighbours(sums, 1)
    return _interleave((3 * sums + before + 8) >> 4, (3 * sums + after + 7) >> 4, 1)


def _fix(value: float) -> int:
    return int(value * (1 << 16) + 0.5)


# jdcolor.c build_ycc_rgb_table: 16-bit fixed point, arithmetic right shifts
_CENTRED = np.arange(256, dtype=np.int64) - 128
_CR_R = (_fix(1.40200) * _CENTRED + (1 << 15)) >> 16
_CB_B = (_fix(1.77200) * _CENTRED + (1 << 15)) >> 16
_CR_G = -_fix(0.71414) * _CENTRED
_CB_G = -_fix(0.34414) * _CENTRED + (1 << 15)


# the green term for each (Cb, Cr) pair, so a pixel costs lookups and additions only
_G = ((_CB_G[:, None] + _CR_G[None, :]) >> 16).astype(np.int16)
_CR_R16, _CB_B16 = _CR_R.astype(np.int16), _CB_B.astype(np.int16)


def _ycc_to_rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """jdcolor.c ycc_rgb_convert, table for table."""
    luma = luma.astype(np.int16)
    cb, cr = cb.astype(np.intp), cr.astype(np.intp)
    rgb = np.empty((*luma.shape, 3), np.int16)
    np.add(luma, np.take(_CR_R16, cr), out=rgb[..., 0])
    np.add(luma, _G[cb, cr], out=rgb[..., 1])
    np.add(luma, np.take(_CB_B16, cb), out=rgb[..., 2])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def resize_uint8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`kerascls.data.decode.resize_uint8` in NumPy: the same uint8 pixels.

    Unchanged when `image` already is `size`; otherwise TensorFlow's antialiased bilinear
    resize (rows first, then columns, float32), rounded half to even and clipped.

    Example:
        >>> resize_uint8(np.zeros((5, 7, 3), np.uint8), (4, 4)).shape
        (4, 4, 3)
    """
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    resized = _resample(image.astype(np.float32), height, axis=0)
    resized = _resample(resized, width, axis=1)
    return np.clip(np.round(resized), 0.0, 255.0).astype(np.uint8)


def _resample(image: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One axis of scale_and_translate: each output a weighted sum over its span, summed
    in TensorFlow's order (so that halves round the same way)."""
    starts, weights = _spans(image.shape[axis], out_size)
    shape = [1, 1, 1]
    shape[axis] = out_size
    total = np.zeros((*image.shape[:axis], out_size, *image.shape[axis + 1 :]), np.float32)
    for k in range(weights.shape[1]):
        taken = np.take(image, starts + k, axis=axis, mode="clip")
        total += weights[:, k].reshape(shape) * taken
    return total


@functools.lru_cache(maxsize=64)
def _spans(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, weights) per output sample, as scale_and_translate_op.cc ComputeSpansCore
    computes them for the triangle kernel with antialiasing: float32 throughout."""
    f32 = np.float32
    inv_scale = f32(1.0) / (f32(out_size) / f32(in_size))
    kernel_scale = max(inv_scale, f32(1.0))  # widen the kernel when shrinking
    radius = kernel_scale  # the triangle kernel's radius is 1
    span = min(2 * int(np.ceil(radius)) + 1, in_size)
    starts = np.zeros(out_size, np.int64)
    weights = np.zeros((out_size, span), np.float32)
    for x in range(out_size):
        centre = (f32(x) + f32(0.5)) * inv_scale
        if centre < 0 or centre > in_size:
            continue
        start = min(max(int(np.ceil(centre - radius - f32(0.5))), 0), in_size - 1)
        end = min(max(int(np.floor(centre + radius - f32(0.5))), 0), in_size - 1) + 1
        source = np.arange(start, end, dtype=f32)
        position = (source + f32(0.5) - centre) * (f32(1.0) / kernel_scale)
        kernel = np.maximum(f32(0), f32(1) - np.abs(position))
        total = f32(0)
        for value in kernel:  # TensorFlow's running float32 sum
            total = f32(total + value)
        if abs(total) >= 1000 * np.finfo(np.float32).tiny:
            kernel = kernel * (f32(1) / total)
        starts[x] = start
        weights[x, : end - start] = kernel
    return starts, weights
