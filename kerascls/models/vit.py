"""Vision Transformers (Dosovitskiy et al. 2021; DeiT sizes): ViT-Tiny and ViT-Small.

"standardize" -> "patch_embed" (a p x p stride-p convolution) -> "patch_tokens" (the grid
flattened to tokens) -> optional "cls_token" -> "pos_embed" (learned) -> `depth`
pre-norm blocks "block{i}_*" (LayerNorm, multi-head self-attention, residual; LayerNorm,
MLP with GELU, residual) -> "final_norm" -> the shared head.

Choices, and why:
- Patch size: `patch_size=None` picks the largest of 16, 8, 4, 2, 1 that divides both
  sides and leaves at least 8 patches per side: 16 at 224x224 (14x14 grid, the paper's
  ViT-*/16), 8 at 64x64 and 96x96, 4 at 32x32 (8x8 grid), 2 at 28x28. Fewer than 8x8
  patches leaves attention too little to do; smaller patches than needed cost
  quadratically in tokens.
- Pooling: `pool="avg"` (default) averages the patch tokens: the last block's tokens are
  reshaped to the patch grid ("patch_grid", a 4-D map), so the shared head pools them and
  Grad-CAM finds "patch_grid" as its target layer like any CNN's. `pool="token"` uses a
  class token (the paper's ViT and the reference parameter counts): its final state,
  as a 1x1 map ("cls_map"), goes to the same head.
- Position embeddings are a `PositionEmbedding` layer: weights stored for another grid
  are interpolated bicubically when loaded (`model.load_weights`), so a model trained at
  one size can be fine-tuned at another with the same patch size.
- GELU is the tanh approximation (`layers.tokens.gelu_tanh`): the exact one does not
  export to ONNX Runtime (Erfc).
- No stochastic depth or dropout yet: from-scratch training on small data wants strong
  augmentation and AdamW (see the "vit" recipe in kerascls.train.presets).

Parameter counts at 1000 classes, 224x224, `pool="token"`: vit_tiny 5,717,416 and
vit_small 22,050,664, as timm's vit_tiny/small_patch16_224 (ViT-Ti 5.7M, ViT-S 22.1M).

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("vit_tiny", 10, (32, 32, 3), depth=2)
    >>> model.get_layer("patch_grid").output.shape
    (None, 8, 8, 192)
"""

from __future__ import annotations

from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import check_choice, check_dropout, is_int
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head, image_input
from kerascls.models.layers.tokens import ClassToken, PositionEmbedding, gelu_tanh
from kerascls.models.registry import register_model

_PATCH_CANDIDATES = (16, 8, 4, 2, 1)
_MIN_PATCHES_PER_SIDE = 8
LN_EPSILON = 1e-6  # the reference implementation's


def auto_patch_size(height: int, width: int) -> int:
    """The patch size `patch_size=None` picks for a `height` x `width` input.

    Example:
        >>> auto_patch_size(32, 32), auto_patch_size(224, 224), auto_patch_size(64, 64)
        (4, 16, 8)
    """
    for p in _PATCH_CANDIDATES:
        if height % p == 0 and width % p == 0 and min(height, width) // p >= _MIN_PATCHES_PER_SIDE:
            return p
    return 1


def _check_positive(model: str, label: str, value: Any) -> int:
    if not is_int(value) or value < 1:
        raise ModelError(f"{label} of model {model!r} must be a positive integer, got {value!r}")
    return int(value)


def _block(K: Any, x: Any, *, dim: int, heads: int, mlp_dim: int, prefix: str) -> Any:
    """One pre-norm transformer block: x + MHSA(LN(x)), then x + MLP(LN(x))."""
    y = K.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{prefix}norm1")(x)
    y = K.layers.MultiHeadAttention(heads, dim // heads, name=f"{prefix}attn")(y, y)
    x = K.layers.Add(name=f"{prefix}add1")([x, y])
    y = K.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{prefix}norm2")(x)
    y = K.layers.Dense(mlp_dim, activation=gelu_tanh, name=f"{prefix}mlp_fc1")(y)
    y = K.layers.Dense(dim, name=f"{prefix}mlp_fc2")(y)
    return K.layers.Add(name=f"{prefix}add2")([x, y])


@register_model("vit_tiny", family="vit", supports_tf_keras=False, dim=192, heads=3, mlp_dim=768)
@register_model("vit_small", family="vit", supports_tf_keras=False, dim=384, heads=6, mlp_dim=1536)
def vit(
    spec: BuildSpec,
    *,
    dim: int = 192,
    depth: int = 12,
    heads: int = 3,
    mlp_dim: int = 768,
    patch_size: int | None = None,
    pool: str = "avg",
    dropout: float = 0.0,
) -> Any:
    """Vision Transformer with learned position embeddings and average or class-token pooling.

    Args:
        spec: the build spec (given by `create_model`).
        dim: token width (192 Tiny, 384 Small).
        depth: number of transformer blocks (12 in the paper; fewer for quick tests).
        heads: attention heads; must divide `dim`.
        mlp_dim: hidden width of each block's MLP (4 x dim).
        patch_size: side of the square patches; must divide height and width. None picks
            one from the input size (see `auto_patch_size`).
        pool: "avg" (mean of the patch tokens) or "token" (a class token).
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional Keras 3 model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("vit_small", 10, (32, 32, 3), depth=1, pool="token")
        >>> model.get_layer("pos_embed").output.shape
        (None, 65, 384)
    """
    dim = _check_positive(spec.name, "dim", dim)
    depth = _check_positive(spec.name, "depth", depth)
    heads = _check_positive(spec.name, "heads", heads)
    mlp_dim = _check_positive(spec.name, "mlp_dim", mlp_dim)
    if dim % heads:
        raise ModelError(f"heads of model {spec.name!r} must divide dim={dim}, got {heads!r}")
    check_choice(spec.name, "pool", pool, ("avg", "token"))
    dropout = check_dropout(spec.name, dropout)
    patch_size, grid = _patch_grid(spec, patch_size)

    K = spec.keras
    inputs, x = image_input(spec)
    prefix = 1 if pool == "token" else 0
    x = _tokens(K, x, grid, dim=dim, patch_size=patch_size, prefix=prefix)
    for i in range(1, depth + 1):
        x = _block(K, x, dim=dim, heads=heads, mlp_dim=mlp_dim, prefix=f"block{i}_")
    x = K.layers.LayerNormalization(epsilon=LN_EPSILON, name="final_norm")(x)
    x = _feature_map(K, x, grid, dim=dim, prefix=prefix)
    outputs = classifier_head(spec, x, dropout=dropout)
    return K.Model(inputs, outputs, name=spec.name)


def _patch_grid(spec: BuildSpec, patch_size: Any) -> tuple[int, tuple[int, int]]:
    """The patch size (None: `auto_patch_size`) and the (rows, columns) of patches."""
    if patch_size is None:
        patch_size = auto_patch_size(spec.height, spec.width)
    patch_size = _check_positive(spec.name, "patch_size", patch_size)
    if spec.height % patch_size or spec.width % patch_size:
        raise ModelError(
            f"patch_size of model {spec.name!r} must divide the input sides "
            f"{spec.height}x{spec.width}, got {patch_size!r}"
        )
    return patch_size, (spec.height // patch_size, spec.width // patch_size)


def _tokens(
    K: Any, x: Any, grid: tuple[int, int], *, dim: int, patch_size: int, prefix: int
) -> Any:
    """The image as patch tokens (after a class token with `prefix`), position-embedded."""
    x = K.layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embed")(x)
    x = K.layers.Reshape((grid[0] * grid[1], dim), name="patch_tokens")(x)
    if prefix:
        x = ClassToken(name="cls_token")(x)
    return PositionEmbedding(grid, num_prefix=prefix, name="pos_embed")(x)


def _feature_map(K: Any, x: Any, grid: tuple[int, int], *, dim: int, prefix: int) -> Any:
    """The tokens back as a feature map for the shared head: the patch grid, or with a
    class token only that token, as a 1x1 map (the head's pooling is then a no-op)."""
    if prefix:
        x = K.layers.Cropping1D((0, grid[0] * grid[1]), name="cls_select")(x)
        return K.layers.Reshape((1, 1, dim), name="cls_map")(x)
    return K.layers.Reshape((grid[0], grid[1], dim), name="patch_grid")(x)
