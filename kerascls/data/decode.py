"""Decode one image file into a uint8 RGB tensor of a fixed size, inside tf.data.

TensorFlow's decoders run in the tf.data graph without the GIL, so they are used for every
file they read correctly (JPEG including CMYK, PNG including palette, 16-bit and alpha, GIF,
WEBP, RGB BMP). The few files they cannot read (palette or 1-bit BMP, other containers) were
flagged by the up-front check and go through Pillow in a `tf.numpy_function`.

Every result becomes 3-channel RGB: grey is repeated, alpha is dropped (as Pillow's
`convert("RGB")` does, no compositing), and images that are not `image_size` are resized
with antialiased bilinear interpolation (aspect ratio is not kept, as in Keras'
`image_dataset_from_directory`). EXIF orientation is not applied.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf
from PIL import Image


def _to_rgb(image: tf.Tensor) -> tf.Tensor:
    # decode_image(channels=0) keeps the file's channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    # (asking for channels=3 fails on WEBP with alpha, so convert here instead).
    channels = tf.shape(image)[-1]
    image = tf.cond(
        channels < 3,
        lambda: tf.tile(image[..., :1], [1, 1, 3]),
        lambda: image[..., :3],
    )
    image.set_shape([None, None, 3])
    return image


def _pil_decode(path: bytes) -> np.ndarray:
    with Image.open(path.decode()) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _pil_decode_bytes(data: bytes | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):  # tf.numpy_function hands a 0-d object array over
        data = data.item()
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize_uint8(image: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """Resize a uint8 (H, W, 3) image to `image_size`, leaving it untouched if it already is.

    Example:
        >>> resize_uint8(tf.zeros((5, 7, 3), tf.uint8), (4, 4)).shape
        TensorShape([4, 4, 3])
    """
    height, width = image_size
    shape = tf.shape(image)

    def resize() -> tf.Tensor:
        resized = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    # Exact pixels when no resize is needed (the common case: all images one size).
    same = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
    image = tf.cond(same, lambda: image, resize)
    image.set_shape([height, width, 3])
    return image


def decode_file(path: tf.Tensor, use_pil: tf.Tensor | bool = False) -> tf.Tensor:
    """Read and decode one image file to uint8 RGB (H, W, 3) at its own size.

    Args:
        path: scalar string tensor, the file path.
        use_pil: scalar bool (tensor or Python): decode with Pillow instead of TensorFlow
            (`kerascls.data.scan.needs_pil` says when). A Python False leaves Pillow out of
            the graph altogether.
    """

    def with_tf() -> tf.Tensor:
        return decode_bytes(tf.io.read_file(path))

    def with_pil() -> tf.Tensor:
        image = tf.numpy_function(_pil_decode, [path], tf.uint8, stateful=False)
        image.set_shape([None, None, 3])
        return image

    if use_pil is False:
        return with_tf()
    return tf.cond(tf.convert_to_tensor(use_pil), with_pil, with_tf)


def decode_bytes(data: tf.Tensor, use_pil: bool = False) -> tf.Tensor:
    """Decode the bytes of one image file to uint8 RGB (H, W, 3) at its own size.

    `decode_file` is this applied to the file's contents; a server that receives the file
    over the network gets the same pixels.

    Args:
        data: scalar string tensor, the encoded file.
        use_pil: decode with Pillow instead of TensorFlow (`kerascls.data.scan.needs_pil`).

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> Image.fromarray(np.zeros((5, 7), np.uint8)).save(buffer, "PNG")
        >>> decode_bytes(tf.constant(buffer.getvalue())).shape
        TensorShape([5, 7, 3])
    """
    if use_pil:
        image = tf.numpy_function(_pil_decode_bytes, [data], tf.uint8, stateful=False)
        image.set_shape([None, None, 3])
        return image
    image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    return _to_rgb(image)


def decode_image(
    path: tf.Tensor, image_size: tuple[int, int], use_pil: tf.Tensor | bool = False
) -> tf.Tensor:
    """Read and decode one image file to uint8 RGB of shape (*image_size, 3).

    Args:
        path: scalar string tensor, the file path.
        image_size: (height, width) of the result.
        use_pil: as in `decode_file`.

    Returns:
        uint8 tensor (height, width, 3). A file that fails to decode raises an error that
        the pipeline drops with `ignore_errors()`, so it never ends an epoch.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = tempfile.mkdtemp() + "/cat.png"
        >>> Image.fromarray(np.zeros((48, 64), np.uint8)).save(path)  # grey, 64 wide
        >>> image = decode_image(tf.constant(path), (32, 32))
        >>> image.shape, image.dtype
        (TensorShape([32, 32, 3]), tf.uint8)
    """
    return resize_uint8(decode_file(path, use_pil), image_size)
