"""Named recipes: `Recipe.preset(name)`, `kerascls-train --recipe NAME`, and the example's.

- "fast": the default recipe, `Recipe()` itself, which `kerascls-train` and
  examples/cifar10.py train: airbench94's algorithm on kerascls's pieces (the "airbench"
  model, patch whitening, scale-free BatchNorm with 64x bias steps, Nesterov SGD at batch
  1024 on a short triangular schedule, label smoothing 0.2, lookahead averaging, flips
  and 2-pixel reflected translations).
- "long": the same on airbench95's wider network ("airbench_wide", widths 128/384/384, at
  its lower learning rate) for twice the steps (`length_scale` 2: 20 epochs on CIFAR-10,
  twice fast's planned length on a small folder). 28 minutes on 2 CPU cores for 90.44%,
  against fast's 89.17% in 6; 40 epochs of it gave no more (90.46%, benchmarks/README.md,
  "The long recipe"). "fast-long" is its old name. With `--teachers 3` (three `fast`
  runs trained first, then distilled from: kerascls/train/teachers.py) it is the best
  use of an hour measured on CIFAR-10 (benchmarks/README.md).
- "resnet20": the ResNet-20 recipe (SGD, warm-up + cosine, pad-crop-flip + 16x16 cutout,
  120 epochs). Its optimisation is also what a run that names another CNN
  (`--model resnet56`) gets instead of airbench's (`preset_for_model`).
- "vit" (vit_tiny) and "convnext" (convnext_nano): the transformer-era defaults for
  training from scratch at 32x32: AdamW, weight decay 0.05 (not on
  LayerNorm/LayerScale "gamma"/"beta" or biases), 5-epoch linear warm-up then cosine,
  label smoothing 0.1, pad-crop-flip + cutout, batch 128. Starting points taken from
  DeiT/ConvNeXt scaled to CIFAR-size runs, and tried only at short time budgets
  (benchmarks/compare_models.py): on a CPU these models are compute-bound, several times
  slower per image than airbench, so minutes of CIFAR-10 are a fraction of an epoch.
  Their long-run accuracy is not measured.
  The other models (efficientnet_b0, vit_small, convnext_tiny) have no preset: use these
  with `model=...` overridden (the comparison trains efficientnet_b0 and
  mobilenetv3_small with "convnext").

Figures for each are in benchmarks/README.md: "Time to accuracy on CIFAR-10", "The
ResNet-20 recipe" and "Architectures at one time budget".

Example:
    >>> RECIPES["fast"].batch_size, RECIPES["resnet20"].model
    (1024, 'resnet20')
    >>> RECIPES["convnext"].optimizer, RECIPES["convnext"].model
    ('adamw', 'convnext_nano')
"""

from __future__ import annotations

import dataclasses

from kerascls.train.recipe import Recipe, register_presets

# The default recipe (Recipe()'s own field values, kerascls/train/recipe.py) is "fast".
_FAST = Recipe()

# What a model that is not airbench needs instead of the default's airbench-specific knobs:
# plain SGD at batch 128 with warm-up + cosine, BatchNorm biases at the base learning rate,
# no lookahead (this is the ResNet-20 recipe's optimisation, bar its epochs and cutout).
_CLASSIC_SGD = dict(
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-3,
    bias_lr_scale=1.0,
    schedule="cosine",
    warmup_epochs=2.0,
    label_smoothing=0.1,
    lookahead=False,
    mixed_precision=False,
)

RECIPES: dict[str, Recipe] = {
    "fast": _FAST,
    # airbench95's width at its learning rate (10 instead of 11.5 per 1024 images; the same
    # decay per step, so lr x weight_decay stays fast's), twice fast's length, the warm-up
    # kept at 23% of it. Width is what paid in the ablation (benchmarks/README.md): +0.8
    # points at 20 epochs, where 40 epochs of the base width gained 0.2.
    "long": dataclasses.replace(
        _FAST,
        model="airbench_wide",
        lr=round(_FAST.lr * 10.0 / 11.5, 4),  # 1.3043
        weight_decay=round(_FAST.weight_decay * _FAST.lr / (_FAST.lr * 10.0 / 11.5), 5),
        length_scale=2.0,
        warmup_epochs=_FAST.warmup_epochs * 2,
    ),
    "resnet20": Recipe(
        model="resnet20",
        # pad 4 + crop + flip, and a 16x16 cutout (DeVries & Taylor 2017's CIFAR size)
        augment={"crop_padding": 4, "horizontal_flip": True, "cutout": 16},
        epochs=120,  # better than 60 (benchmarks/README.md, "The ResNet-20 recipe")
        # a guard against a stalled run, watching from half-way through the cosine only
        early_stopping_patience=10,
        **_CLASSIC_SGD,
    ),
}

# the long preset's name until 2026-12 (then 24 epochs of fast's own network)
RECIPES["fast-long"] = RECIPES["long"]

# AdamW + warm-up cosine, as DeiT (ViT) and ConvNeXt train; the peak lr is the one these
# papers' rules give for batch 128 on small data (DeiT: 5e-4 per 512 is too slow from
# scratch on CIFAR-size sets; 1e-3 is the usual CIFAR choice). Tried at short time budgets
# only (see the module docstring).
_TRANSFORMER_ERA = Recipe(
    model="vit_tiny",
    bias_lr_scale=1.0,
    lookahead=False,
    mixed_precision=False,
    augment={"crop_padding": 4, "horizontal_flip": True, "cutout": 8},
    batch_size=128,
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.05,  # AdamW's decoupled decay, the DeiT/ConvNeXt value
    schedule="cosine",
    warmup_epochs=5.0,
    label_smoothing=0.1,
    clipnorm=1.0,  # attention logits can spike early in training without it
    epochs=100,
)
RECIPES["vit"] = _TRANSFORMER_ERA
RECIPES["convnext"] = dataclasses.replace(_TRANSFORMER_ERA, model="convnext_nano")

# --pretrained: fine-tune an ImageNet backbone as the Keras transfer-learning guide does.
# The new head alone on the frozen backbone for the first 30% of the run (cheap: no
# gradient through the backbone), then the whole backbone, BatchNorm frozen, at a tenth
# of the learning rate. Adam at 1e-3 suits a fresh head on fixed features; photo
# augmentation; float32 (the backbones are not the bf16-tuned airbench).
RECIPES["pretrained"] = Recipe(
    model="transfer_mobilenetv3small",
    pretrained="mobilenetv3small",
    augment="standard",
    batch_size=64,
    optimizer="adam",
    lr=1e-3,
    weight_decay=0.0,
    schedule="cosine",
    warmup_epochs=0.5,
    label_smoothing=0.1,
    bias_lr_scale=1.0,
    lookahead=False,
    mixed_precision=False,
    fine_tune_switch=0.3,
    fine_tune_unfreeze=None,
    fine_tune_lr_factor=0.1,
)


def preset_for_model(model: str) -> str:
    """The preset whose optimisation suits `model`, for a run that names a model but no
    recipe: the default ("fast") is airbench's, tuned to its scale-free BatchNorm.

    Example:
        >>> [preset_for_model(name) for name in ("airbench", "airbench_wide", "resnet56")]
        ['fast', 'long', 'resnet20']
    """
    from kerascls.models import get_model_info  # an unknown name: its one-line error

    if model in _PRESET_OF_MODEL:
        return _PRESET_OF_MODEL[model]
    return _PRESET_OF_FAMILY.get(get_model_info(model).family, "resnet20")


# the models whose recipe is airbench's (its scale-free BatchNorm), and at which width
_PRESET_OF_MODEL = {"airbench": "fast", "airbench_wide": "long"}
# the registry's model families that have a preset of their own; other CNNs: "resnet20"
_PRESET_OF_FAMILY = {"transfer": "pretrained", "vit": "vit", "convnext": "convnext"}

# What `Recipe.preset(name)` and `Recipe.for_model(model)` look up: registered with the
# record, which does not import its own presets (kerascls/train/__init__.py imports this).
register_presets(RECIPES, preset_for_model)
