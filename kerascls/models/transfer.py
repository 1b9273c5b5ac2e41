"""Transfer learning from keras.applications backbones: a frozen base and a new head.

The model is: "image" (raw 0-255 pixels) -> "standardize" (the backbone's own
preprocessing, see below) -> optional "resize" (to `resize_to`) -> "backbone" (the
keras.applications network without its top, one nested layer, called in inference mode so
its BatchNormalization statistics never change) -> "head_pool" -> "head_dropout" ->
"head_dense" -> "predictions".

Each backbone keeps the preprocessing its ImageNet weights were trained with, so
`create_model`'s `mean` and `std` are ignored here:

- MobileNetV3 and EfficientNet include their preprocessing as their first layers;
  "standardize" is an Identity.
- ResNet50 expects "caffe" input: BGR channel order minus the ImageNet BGR mean.
  "standardize" subtracts the mean in RGB order (a Normalization with variance 1), and the
  RGB->BGR swap is folded into the backbone's first convolution by reversing the input
  channels of its kernel ("conv1_conv") after the weights are loaded: the same numbers
  as keras.applications.resnet50.preprocess_input followed by the original network, with
  no extra layer (and no custom layer to register before loading a saved model).

Example:
    >>> from kerascls.models import create_model, unfreeze_top_layers
    >>> model = create_model("transfer_mobilenetv3small", 5, (96, 96, 3), weights=None)
    >>> model.get_layer("backbone").trainable
    False
    >>> unfreeze_top_layers(model, 10) > 0
    True
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.error
import urllib.parse
from collections.abc import Sequence
from typing import Any

from kerascls.errors import ModelError, OfflineError
from kerascls.models._checks import check_choice, check_dropout, check_min_size, is_int
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head
from kerascls.models.registry import register_model

# keras.applications refuses inputs smaller than this (without the top).
MIN_BACKBONE_SIZE = 32
# ImageNet channel means of "caffe" preprocessing, in RGB order (Keras lists them as BGR).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)

# backbone -> (keras.applications constructor, preprocessing, extra constructor arguments)
_BACKBONES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "resnet50": ("ResNet50", "caffe", {}),
    "mobilenetv3small": ("MobileNetV3Small", "included", {"include_preprocessing": True}),
    "efficientnetb0": ("EfficientNetB0", "included", {}),
}
# The file each keras.applications constructor fetches for weights="imagenet" without its
# top (keras/src/applications/*.py); used only when a failure does not quote the URL.
_NO_TOP_FILES = {
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenetv3small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    "efficientnetb0": "efficientnetb0_notop.h5",
}
# what keras.utils.get_file raises: "URL fetch failure on <url>: <code> -- <reason>"
_FETCH_FAILURE = re.compile(r"URL fetch failure on (\S+?): (.*)")


def _is_download_failure(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a failed fetch of the weights file."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, urllib.error.URLError | ConnectionError | TimeoutError):
            return True
        if "URL fetch failure" in str(seen):  # what keras.utils.get_file raises
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_weights(model: str, weights: Any) -> None:
    if weights is None or weights == "imagenet":
        return
    if not (isinstance(weights, str | os.PathLike) and os.path.isfile(weights)):
        raise ModelError(
            f"weights of model {model!r} must be 'imagenet', None or the path of a weights "
            f"file, got {weights!r}"
        )


def _resize_target(model: str, resize_to: Any) -> tuple[int, int] | None:
    if resize_to is None:
        return None
    size = (resize_to, resize_to) if is_int(resize_to) else resize_to
    ok = (
        isinstance(size, Sequence)
        and len(size) == 2
        and all(is_int(v) and v >= MIN_BACKBONE_SIZE for v in size)
    )
    if not ok:
        raise ModelError(
            f"resize_to of model {model!r} must be None, an int or (height, width), each >= "
            f"{MIN_BACKBONE_SIZE}, got {resize_to!r}"
        )
    return (int(size[0]), int(size[1]))


def fold_bgr_into_first_conv(backbone: Any, layer_name: str = "conv1_conv") -> None:
    """Reverse the input channels of the first convolution so it accepts RGB, not BGR.

    Args:
        backbone: a keras.applications ResNet whose weights expect BGR input.
        layer_name: the first convolution's name.

    Example:
        >>> import keras
        >>> net = keras.applications.ResNet50(include_top=False, weights=None,
        ...                                   input_shape=(32, 32, 3))
        >>> fold_bgr_into_first_conv(net)
    """
    import keras

    conv = backbone.get_layer(layer_name)
    conv.kernel.assign(keras.ops.flip(conv.kernel, axis=2))


def keras_cache_dir(subdir: str = "models") -> str:
    """The folder where keras.utils.get_file keeps (and first looks for) downloaded files.

    The same resolution as get_file's: `$KERAS_HOME` (read when Keras was imported) or
    `~/.keras`, and `/tmp/.keras` when that folder is not writable (or does not exist).

    Example:
        >>> keras_cache_dir().endswith("models")
        True
    """
    try:
        from keras.src.backend.config import keras_home  # what get_file itself calls

        home = keras_home()
    except ImportError:  # a Keras that moved it: the documented rule
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(base, subdir)


def _offline_message(name: str, error: BaseException, was_cached: bool) -> str:
    """One line: which weights file could not be fetched, and where to put it by hand."""
    constructor = _BACKBONES[name][0]
    url, reason = None, type(error).__name__
    seen: BaseException | None = error
    while seen is not None:
        match = _FETCH_FAILURE.search(str(seen))
        if match:
            url, reason = match.group(1), match.group(2).split(" -- ")[-1].strip()
            break
        reason = str(seen).splitlines()[0] if str(seen) else reason
        seen = seen.__cause__ or seen.__context__
    file_name = os.path.basename(urllib.parse.urlsplit(url).path) if url else ""
    file_name = file_name or _NO_TOP_FILES[name]
    folder = keras_cache_dir()
    source = f" (from {url})" if url else ""
    # a file that was there failed Keras' checksum: get_file removed it, tried to download
    damaged = " (the copy there failed Keras' checksum and was removed)" if was_cached else ""
    return (
        f"could not download the ImageNet weights of {constructor} (no network: {reason}): "
        f"put {file_name}{source} into {folder}{os.sep}{damaged}, or pass weights=None "
        f"(train without --pretrained) to start from random weights"
    )


def _load_backbone(name: str, weights: Any, input_shape: tuple[int, int, int]) -> Any:
    """Build the keras.applications backbone, turning a failed download into OfflineError."""
    import keras

    constructor, _, extra = _BACKBONES[name]
    was_cached = os.path.exists(os.path.join(keras_cache_dir(), _NO_TOP_FILES[name]))
    try:
        # Keras' own model name: EfficientNet names its weights file after it, and asked
        # for "backbone_notop.h5" the download fails (a 404) even with a network.
        net = getattr(keras.applications, constructor)(
            include_top=False, weights=weights, input_shape=input_shape, **extra
        )
    except Exception as error:
        if weights == "imagenet" and _is_download_failure(error):
            raise OfflineError(_offline_message(name, error, was_cached)) from error
        raise
    net.name = "backbone"  # the name kerascls finds it by (Grad-CAM paths, unfreezing)
    return net


@register_model("transfer_resnet50", family="transfer", supports_tf_keras=False,
                backbone="resnet50")  # fmt: skip
@register_model("transfer_mobilenetv3small", family="transfer", supports_tf_keras=False,
                backbone="mobilenetv3small")  # fmt: skip
@register_model("transfer_efficientnetb0", family="transfer", supports_tf_keras=False,
                backbone="efficientnetb0")  # fmt: skip
def transfer(
    spec: BuildSpec,
    *,
    backbone: str = "resnet50",
    weights: str | None = "imagenet",
    resize_to: int | Sequence[int] | None = None,
    dropout: float = 0.2,
    freeze_backbone: bool = True,
) -> Any:
    """An ImageNet backbone from keras.applications with a new classifier head.

    `mean`/`std` given to `create_model` are ignored: the backbone's own preprocessing is
    applied inside the model, which takes raw 0-255 pixels like every kerascls model.

    Args:
        spec: the build spec (given by `create_model`).
        backbone: "resnet50", "mobilenetv3small" or "efficientnetb0".
        weights: "imagenet" (downloaded once into `keras_cache_dir()`, ~/.keras/models),
            None (random), or the path of a weights file for the backbone without its top.
        resize_to: resize inputs inside the model to this size (an int or (height,
            width); e.g. 96 or 224) before the backbone; needed below 32x32 and useful for
            small images, since the ImageNet features were learnt at 224x224.
        dropout: dropout rate before the logits (0 = off).
        freeze_backbone: freeze the backbone (train the head only); unfreeze later with
            `unfreeze_top_layers`. Its BatchNormalization layers stay frozen either way.

    Returns:
        A functional model named `spec.name` whose layer "backbone" is the nested network.

    Raises:
        OfflineError: weights="imagenet" and the weights are neither cached nor downloadable.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("transfer_resnet50", 10, (32, 32, 3), weights=None,
        ...                      resize_to=64)
        >>> model.get_layer("backbone").output.shape
        (None, 2, 2, 2048)
    """
    import keras

    weights, size, dropout = _checked(spec, backbone, weights, resize_to, dropout)
    net = _backbone(backbone, weights, (*size, 3) if size else spec.input_shape, freeze_backbone)
    inputs, x = _standardized_input(spec, _BACKBONES[backbone][1], size)
    # training=False, as the Keras transfer-learning guide writes it. In Keras 3 a
    # functional model's training=True reaches nested layers anyway (Functional's
    # operation_fn overrides it), so what keeps BatchNormalization in inference mode, its
    # statistics intact while fine-tuning, is that its layers stay frozen
    # (`_freeze_batchnorm`, `unfreeze_top_layers`).
    x = net(x, training=False)
    return keras.Model(inputs, classifier_head(spec, x, dropout=dropout), name=spec.name)


def _checked(
    spec: BuildSpec, backbone: str, weights: Any, resize_to: Any, dropout: Any
) -> tuple[str | None, tuple[int, int] | None, float]:
    """`transfer`'s arguments checked: (weights, the size to resize to or None, dropout)."""
    check_choice(spec.name, "backbone", backbone, tuple(_BACKBONES))
    _check_weights(spec.name, weights)
    if weights not in (None, "imagenet"):
        weights = os.fspath(weights)
    size = _resize_target(spec.name, resize_to)
    dropout = check_dropout(spec.name, dropout)
    if size is None:
        check_min_size(spec, MIN_BACKBONE_SIZE, "keras.applications' minimum; or set resize_to")
    return weights, size, dropout


def _backbone(
    backbone: str, weights: str | None, input_shape: tuple[int, ...], freeze: bool
) -> Any:
    """The keras.applications network, its BatchNormalization frozen (and all of it with
    `freeze`); a caffe-style network with weights takes RGB in its first convolution."""
    net = _load_backbone(backbone, weights, input_shape)
    if _BACKBONES[backbone][1] == "caffe" and weights is not None:
        fold_bgr_into_first_conv(net)
    net.trainable = not freeze
    _freeze_batchnorm(net)
    return net


def _standardized_input(
    spec: BuildSpec, preprocessing: str, size: tuple[int, int] | None
) -> tuple[Any, Any]:
    """The "image" input, and it after the backbone's preprocessing ("standardize") and
    the resizing to `size`."""
    import keras

    inputs = keras.Input(shape=spec.input_shape, dtype="float32", name="image")
    if preprocessing == "caffe":
        x = keras.layers.Normalization(
            mean=list(CAFFE_MEAN_RGB), variance=[1.0, 1.0, 1.0], name="standardize"
        )(inputs)
    else:
        x = keras.layers.Identity(name="standardize")(inputs)
    if size:
        x = keras.layers.Resizing(*size, name="resize")(x)
    return inputs, x


def _freeze_batchnorm(net: Any) -> None:
    """Freeze every BatchNormalization layer of `net`: a frozen one runs in inference mode."""
    import keras

    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def backbone_of(model: Any) -> Any:
    """The nested backbone of a transfer model: its layer "backbone", else its one nested model.

    Raises:
        ModelError: the model has no single nested backbone.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("transfer_mobilenetv3small", 5, (32, 32, 3), weights=None)
        >>> backbone_of(model).name
        'backbone'
    """
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    named = [layer for layer in nested if layer.name == "backbone"]
    if len(named) != 1 and len(nested) != 1:
        raise ModelError(
            f"model {model.name!r} has {len(nested)} nested models, not one backbone: "
            "fine-tuning phases need a transfer_* model (e.g. --pretrained)"
        )
    return named[0] if named else nested[0]


def unfreeze_top_layers(model: Any, n: int) -> int:
    """Make the top `n` layers of a transfer model's backbone trainable, BN layers excepted.

    Follows the Keras transfer-learning guide: the backbone becomes trainable, every layer
    below the top `n` stays frozen, and BatchNormalization layers stay frozen (a frozen
    BatchNormalization runs in inference mode, so its statistics never change). Compile the
    model again afterwards, with a low learning rate, or, within one `fit`, use
    `kerascls.train.transfer_learning.FineTunePhases`.

    Args:
        model: a model from a "transfer_*" builder (or any model with one nested
            `keras.Model` layer, preferably named "backbone").
        n: how many layers, counted from the top of `backbone.layers`, to unfreeze.

    Returns:
        The number of layers with weights that became trainable.

    Raises:
        ModelError: `n` is not an int >= 0, or the model has no single nested backbone.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("transfer_efficientnetb0", 10, weights=None)
        >>> unfreeze_top_layers(model, 0)
        0
    """
    import keras

    if not is_int(n) or n < 0:
        raise ModelError(f"n must be an int >= 0, got {n!r}")
    net = backbone_of(model)
    net.trainable = True
    top = net.layers[max(len(net.layers) - n, 0) :] if n else []  # n > layers: all of them
    for layer in net.layers:
        layer.trainable = False
    count = 0
    for layer in top:
        if isinstance(layer, keras.layers.BatchNormalization):
            continue
        layer.trainable = True
        count += bool(layer.weights)
    return count
