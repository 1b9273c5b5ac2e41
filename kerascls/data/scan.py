"""The up-front check of image files: which ones are readable images, and how big they are.

A folder dataset is checked once, when it is loaded, so that a bad file costs one warning
instead of a crash in the middle of epoch 7. Each file is opened with Pillow and checked:
JPEGs are decoded at 1/8 scale (catches truncated files, cheap even for large photos), other
formats are `verify()`-ed (structure and checksums, no decode). This runs in a thread pool:
file reads and Pillow's decoding release the GIL, so 50,000 small files take seconds.

The check also records what the pipeline needs later: each image's size (the default image
size is the most common one) and whether TensorFlow's own decoders read it correctly or
Pillow has to (see `needs_pil`), and a content hash of the file (BLAKE2b of the bytes it has
read anyway) from which `kerascls.data.fingerprint` builds the dataset's fingerprint.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image

# Containers tf.io.decode_image reads natively. MPO is how Pillow names the multi-picture
# JPEGs many cameras write; TensorFlow decodes their first picture as a JPEG.
_TF_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}
# TensorFlow's BMP decoder ignores palettes (it returns the palette indices as grey levels)
# and rejects 1-bit files; only these BMP modes decode correctly.
_TF_BMP_MODES = {"RGB", "RGBA", "L"}

_CHUNK = 256  # files per thread-pool task: large enough to amortise the task overhead


@dataclass(frozen=True)
class ImageInfo:
    """What the check learnt about one readable image file.

    Args:
        size: (height, width) in pixels.
        needs_pil: True when TensorFlow cannot decode the file correctly and Pillow must.
        digest: hex BLAKE2b-128 of the file's bytes ("" when checked from an open file).
        nbytes: the file's size in bytes (0 when checked from an open file).
    """

    size: tuple[int, int]
    needs_pil: bool
    digest: str = ""
    nbytes: int = 0


def needs_pil(image_format: str | None, mode: str) -> bool:
    """True when tf.io.decode_image would fail on, or misread, an image of this kind.

    Example:
        >>> needs_pil("PNG", "P"), needs_pil("BMP", "P"), needs_pil("TIFF", "RGB")
        (False, True, True)
    """
    if image_format not in _TF_FORMATS:
        return True
    return image_format == "BMP" and mode not in _TF_BMP_MODES


def check_image(path: str | BinaryIO) -> ImageInfo | str:
    """Check one file; return its `ImageInfo`, or a short reason why it is not usable.

    `path` may also be an open binary file (`io.BytesIO(data)` for bytes received over
    the network): the same checks run on it.

    Example:
        >>> check_image("/no/such.png")
        'FileNotFoundError: No such file or directory'
    """
    try:
        digest, nbytes = "", 0
        if isinstance(path, str | os.PathLike):
            # Read the whole file once and hash it: the fingerprint costs one sequential
            # read (Pillow alone reads only the header and, for JPEGs, the last two bytes).
            with open(path, "rb") as f:
                data = f.read()
            digest = hashlib.blake2b(data, digest_size=16).hexdigest()
            nbytes = len(data)
            if not data:
                return "empty file"
            path = io.BytesIO(data)
        with Image.open(path) as image:
            info = ImageInfo(
                size=(image.height, image.width),
                needs_pil=needs_pil(image.format, image.mode),
                digest=digest,
                nbytes=nbytes,
            )
            if image.format in ("JPEG", "MPO"):
                _check_jpeg(image)
            else:
                image.verify()  # PNG: checks every chunk's CRC
        if info.size[0] < 1 or info.size[1] < 1:
            return "image has no pixels"
        return info
    except Exception as error:  # any failure means "not a usable image"; the reason is kept
        # OSError's str() repeats the path, which the warning names anyway.
        message = getattr(error, "strerror", None) or str(error).split("\n")[0]
        if message.startswith("cannot identify image file"):
            return "empty file" if _is_empty(path) else "not an image Pillow can read"
        return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _check_jpeg(image: Image.Image) -> None:
    # verify() does not look at JPEG data, yet truncated JPEGs (interrupted downloads) are the
    # commonest bad file. A complete JPEG ends with the EOI marker: checking two bytes is
    # enough for almost every file; only files without it (truncated, or with trailing bytes)
    # are decoded, at 1/8 scale (draft), which raises on truncation and is cheap even for
    # large photos.
    image.fp.seek(-2, os.SEEK_END)
    if image.fp.read(2) != b"\xff\xd9":
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def _is_empty(path: str | BinaryIO) -> bool:
    try:
        if not isinstance(path, str | os.PathLike):
            return path.seek(0, os.SEEK_END) == 0
        return os.path.getsize(path) == 0
    except (OSError, ValueError):
        return False


def check_images(paths: Sequence[str], workers: int | None = None) -> list[ImageInfo | str]:
    """Check many files in a thread pool; results are in the order of `paths`.

    Args:
        paths: image file paths.
        workers: threads to use; default 4 per CPU core, at most 32 (the work is mostly
            waiting on file reads).

    Returns:
        One `ImageInfo` or reason string per path.

    Example:
        >>> check_images(["/no/such.png"])
        ['FileNotFoundError: No such file or directory']
    """
    if workers is None:
        workers = min(32, 4 * (os.cpu_count() or 1))
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    # Pillow warns (DecompressionBombWarning) about very large images: a big photo is fine
    # here, and a real decompression bomb still raises an error, reported as unreadable.
    # (Set once around the pool: warnings.catch_warnings is not thread-safe.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if len(chunks) <= 1 or workers <= 1:
            return [check_image(path) for path in paths]
        with ThreadPoolExecutor(workers, thread_name_prefix="kerascls-scan") as pool:
            results = pool.map(lambda chunk: [check_image(path) for path in chunk], chunks)
            return [result for chunk_results in results for result in chunk_results]


def describe_bad_files(bad: Sequence[tuple[str, str]], limit: int = 10) -> str:
    """One line naming bad files with their reasons, capped at `limit` names.

    Example:
        >>> describe_bad_files([("a.jpg", "empty file"), ("b.png", "truncated")], limit=1)
        'a.jpg (empty file) and 1 more'
    """
    named = ", ".join(f"{path} ({reason})" for path, reason in bad[:limit])
    more = len(bad) - limit
    return f"{named} and {more} more" if more > 0 else named
