"""The fast-training CNN of `Recipe.preset("fast")`, after Keller Jordan's airbench94.

A frozen 2x2 patch-whitening convolution ("whiten", its kernel set from the training
images by `init_whitening`), then three groups of conv-pool-BN-act-conv-BN-act
(`block{s}_conv1`, `block{s}_pool`, `block{s}_bn1`, ...), global max-pooling and a
bias-free linear layer whose logits are scaled by 1/9. BatchNormalization has no learned
scale (only a bias), and every convolution starts as an identity on its first input
channels ("dirac" init), which lets the short schedule start from a useful network.

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("airbench", 10, (32, 32, 3), widths=(16, 32, 32))
    >>> model.get_layer("block3_act2").output.shape
    (None, 3, 3, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kerascls.errors import ModelError
from kerascls.models._checks import check_min_size, is_int
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import activation
from kerascls.models.layers.stem import image_input
from kerascls.models.registry import register_model

WHITEN_KERNEL = 2  # 2x2 patches: 12 numbers per patch, 24 filters (each eigenvector and -v)
BN_MOMENTUM = 0.6  # Keras' convention (PyTorch's 0.4): a short run needs fresh statistics
LOGIT_SCALE = 1 / 9


@register_model("airbench", family="cnn")
# airbench95's widths: the "long" preset's model (benchmarks/README.md, "The long recipe")
@register_model("airbench_wide", family="cnn", widths=(128, 384, 384))
def airbench(
    spec: BuildSpec,
    *,
    widths: Sequence[int] = (64, 256, 256),
    activation_name: str = "gelu",
) -> Any:
    """airbench94's network: patch whitening, three conv groups, max-pool head.

    Args:
        spec: the build spec (given by `create_model`).
        widths: channels of the three conv groups (airbench94: 64, 256, 256).
        activation_name: activation after the whitening conv and every BatchNorm ("gelu"
            as in airbench94; "relu" trains faster on a CPU, and less accurately:
            benchmarks/README.md).

    Returns:
        A functional model named `spec.name`; call `init_whitening(model, images)` before
        training (kerascls.fit does).

    Example:
        >>> from kerascls.models import create_model
        >>> create_model("airbench", 10, widths=(8, 16, 16)).count_params() > 0
        True
    """
    widths = list(widths) if isinstance(widths, Sequence) else []
    if len(widths) != 3 or not all(is_int(w) and w > 0 for w in widths):
        raise ModelError(f"widths of model {spec.name!r} must be 3 positive ints, got {widths!r}")
    check_min_size(spec, 16, "a 2x2 valid conv and three 2x2 max-pools")
    K = spec.keras
    inputs, x = image_input(spec)
    whiten = K.layers.Conv2D(
        2 * 3 * WHITEN_KERNEL**2, WHITEN_KERNEL, padding="valid", use_bias=True, name="whiten"
    )
    x = activation(K, whiten(x), activation_name, "whiten_act")
    # Keras 3: the 256-channel convolutions on 7x7 and 3x3 maps train their kernels
    # through matrix products (layers.gemm_grad_conv); tf_keras builds the stock layer.
    Conv2D = K.layers.Conv2D
    if K.__name__ == "keras":
        from kerascls.models.layers.gemm_grad_conv import GemmGradConv2D as Conv2D
    convs = []
    for s, width in enumerate(widths, start=1):
        for i in (1, 2):
            conv = Conv2D(width, 3, padding="same", use_bias=False, name=f"block{s}_conv{i}")
            convs.append(conv)
            x = conv(x)
            if i == 1:
                x = K.layers.MaxPooling2D(2, name=f"block{s}_pool")(x)
            x = _batch_norm(K, f"block{s}_bn{i}")(x)
            x = activation(K, x, activation_name, f"block{s}_act{i}")
    x = K.layers.GlobalMaxPooling2D(name="head_pool")(x)
    x = K.layers.Dense(spec.num_classes, use_bias=False, name="head_dense")(x)
    x = K.layers.Rescaling(LOGIT_SCALE, name="head_scale")(x)
    outputs = K.layers.Activation("softmax", dtype="float32", name="predictions")(x)
    model = K.Model(inputs, outputs, name=spec.name)
    for conv in convs:
        _dirac_init(conv)
    if K.__name__ == "keras":
        # The whitening kernel is data, not a parameter: frozen, its bias stays trainable.
        # (tf_keras variables cannot be frozen one by one; its twin only fine-tunes.)
        whiten.kernel.trainable = False
    return model


def _batch_norm(K: Any, name: str) -> Any:
    """BatchNorm with a bias but no scale, fused where the namespace has kerascls's layer."""
    if K.__name__ == "keras":
        from kerascls.models.layers.fused_batchnorm import FusedBatchNormalization as BN
    else:
        BN = K.layers.BatchNormalization
    return BN(momentum=BN_MOMENTUM, epsilon=1e-5, scale=False, name=name)


def _dirac_init(conv: Any) -> None:
    """Make output channel c of a 3x3 conv copy input channel c (c < inputs), as
    torch.nn.init.dirac_ on the first `inputs` filters; the rest keep their random init."""
    kernel = np.array(conv.get_weights()[0])
    channels = min(kernel.shape[2], kernel.shape[3])
    kernel[:, :, :, :channels] = 0.0
    centre = kernel.shape[0] // 2
    kernel[centre, centre, np.arange(channels), np.arange(channels)] = 1.0
    conv.set_weights([kernel])


def init_whitening(model: Any, images: np.ndarray, eps: float = 5e-4) -> None:
    """Set the "whiten" kernel to the ZCA-like eigenbasis of the images' 2x2 patches.

    The 12 eigenvectors of the patch covariance, each divided by the square root of its
    eigenvalue, and their negatives, make 24 filters whose outputs have unit variance and
    are decorrelated: the first layer starts where a trained one would end up.

    Args:
        model: a model with a layer named "whiten" after "standardize".
        images: raw 0-255 training images (n, h, w, 3); airbench uses 5,000.
        eps: added to the eigenvalues, so noise directions are not blown up.

    Example:
        >>> import numpy as np
        >>> from kerascls.models import create_model
        >>> model = create_model("airbench", 10, widths=(8, 8, 8))
        >>> init_whitening(model, np.random.default_rng(0).uniform(0, 255, (64, 32, 32, 3)))
        >>> model.get_layer("whiten").get_weights()[0].shape
        (2, 2, 3, 24)
    """
    import keras

    standardize = model.get_layer("standardize")
    x = keras.ops.convert_to_numpy(standardize(np.asarray(images, np.float32))).astype(np.float64)
    k = WHITEN_KERNEL
    _, h, w, c = x.shape
    # all k x k patches, flattened in (row, col, channel) order = the Conv2D kernel layout
    patches = np.stack(
        [x[:, i : h - k + 1 + i, j : w - k + 1 + j, :] for i in range(k) for j in range(k)],
        axis=3,
    ).reshape(-1, k * k * c)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    scaled = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)
    filters = np.concatenate([scaled, -scaled], axis=1).reshape(k, k, c, 2 * k * k * c)
    whiten = model.get_layer("whiten")
    weights = whiten.get_weights()
    weights[0] = filters.astype(np.float32)
    whiten.set_weights(weights)


def takes_whitening(model: Any) -> bool:
    """Whether `model` has a "whiten" layer that `init_whitening` should set before training."""
    try:
        model.get_layer("whiten")
    except ValueError:
        return False
    return True
