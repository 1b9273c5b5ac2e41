"""A configurable plain CNN: stages of conv-BN-ReLU, max-pooling between stages.

Stage s (1-based) stacks `convs_per_stage` 3x3 convolutions of `filters[s-1]` channels
(`stage{s}_conv{i}`, `stage{s}_bn{i}`, `stage{s}_act{i}`), optional squeeze-and-excitation
(`stage{s}_se_*`), then, except after the last stage, a 2x2 max-pool `stage{s}_pool` and
optional `stage{s}_dropout`. The head pools globally, so any input size works.

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 10, (32, 32, 3), filters=(16, 32), convs_per_stage=1)
    >>> model.get_layer("stage2_act1").output.shape
    (None, 16, 16, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import check_dropout, check_fraction, check_min_size, is_int
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head, conv_bn_act, image_input, se_units
from kerascls.models.layers import squeeze_excite as apply_se
from kerascls.models.registry import register_model


def _per_stage(model: str, label: str, value: Any, stages: int) -> list[int]:
    """Expand an int to one per stage, or check a sequence has one positive int per stage."""
    values = [value] * stages if is_int(value) else value
    try:
        values = list(values)
    except TypeError:
        values = []
    ok = len(values) == stages and all(is_int(v) and v > 0 for v in values)
    if not ok:
        raise ModelError(
            f"{label} of model {model!r} must be a positive int or {stages} positive ints "
            f"(one per stage), got {value!r}"
        )
    return [int(v) for v in values]


@register_model("cnn", family="cnn")
@register_model("se_cnn", family="cnn", se_ratio=0.25)
def cnn(
    spec: BuildSpec,
    *,
    filters: Sequence[int] = (32, 64, 128),
    convs_per_stage: int | Sequence[int] = 2,
    batchnorm: bool = True,
    se_ratio: float = 0.0,
    stage_dropout: float = 0.0,
    dropout: float = 0.0,
) -> Any:
    """Plain VGG-style CNN with configurable stages, optional BN, SE and dropout.

    Args:
        spec: the build spec (given by `create_model`).
        filters: channels of each stage; its length is the number of stages (an int
            means one stage).
        convs_per_stage: 3x3 convolutions per stage (one int, or one per stage).
        batchnorm: put BatchNormalization after every convolution.
        se_ratio: squeeze-and-excitation at the end of each stage, its width a fraction of
            the stage's channels (0 = off; "se_cnn" uses 0.25).
        stage_dropout: dropout rate after each max-pool (0 = off).
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> create_model("se_cnn", 10, filters=(8, 16)).get_layer("stage2_se_excite").name
        'stage2_se_excite'
    """
    stages = len(filters) if isinstance(filters, Sequence) and filters else 1
    widths = _per_stage(spec.name, "filters", filters, stages)
    depths = _per_stage(spec.name, "convs_per_stage", convs_per_stage, stages)
    se_ratio = check_fraction(spec.name, "se_ratio", se_ratio)
    stage_dropout = check_dropout(spec.name, stage_dropout)
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 2 ** (stages - 1), f"{stages - 1} 2x2 max-pools")

    K = spec.keras
    inputs, x = image_input(spec)
    for s, (width, depth) in enumerate(zip(widths, depths, strict=True), start=1):
        for i in range(1, depth + 1):
            x = conv_bn_act(K, x, width, 3, prefix=f"stage{s}_", suffix=str(i), batchnorm=batchnorm)
        if se_ratio > 0:
            x = apply_se(K, x, units=se_units(width, se_ratio), prefix=f"stage{s}_")
        if s < stages:
            x = K.layers.MaxPooling2D(2, name=f"stage{s}_pool")(x)
            if stage_dropout > 0:
                x = K.layers.Dropout(stage_dropout, name=f"stage{s}_dropout")(x)
    outputs = classifier_head(spec, x, dropout=dropout)
    return K.Model(inputs, outputs, name=spec.name)
