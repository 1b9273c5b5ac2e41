"""Augmentation settings: ImageDataGenerator's parameters plus the modern ones, and presets.

`AugmentConfig` keeps the names and meanings people know from Keras 2's
`ImageDataGenerator` (which Keras 3 removed), so an old recipe carries over unchanged, and
adds pad-and-crop, cutout, random erasing, RandAugment, MixUp and CutMix. It is only a
description (JSON-able for run.json); `kerascls.data.augmenter.Augmenter` applies it to
batches inside tf.data.

Two deliberate differences from ImageDataGenerator, both for the better:
- `channel_shift_range` draws one offset per channel (IDG drew one offset for all three
  channels, which is a brightness shift despite the name, and clipped to the image's own
  range); results are clipped to [0, 255].
- an integer `width_shift_range` / `height_shift_range` >= 1 means a uniform shift of up to
  that many pixels (IDG drew from `range(n)` with a random sign).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FILL_MODES = ("nearest", "reflect", "wrap", "constant")


@dataclass(frozen=True)
class AugmentConfig:
    """What to do to each training batch; every field off by default.

    ImageDataGenerator parameters (same names, same meaning):

    Args:
        rotation_range: degrees; rotate by a uniform angle in [-r, r].
        width_shift_range: horizontal shift, a fraction of the width if < 1, else pixels;
            uniform in [-r, r].
        height_shift_range: vertical shift, as `width_shift_range`.
        shear_range: shear angle in degrees (counter-clockwise), uniform in [-r, r].
        zoom_range: z for [1 - z, 1 + z], or a (low, high) pair; width and height factors
            are drawn independently. As in IDG, a factor > 1 zooms out (content shrinks).
        horizontal_flip: mirror left-right with probability 0.5.
        alternating_flip: with horizontal_flip, airbench's alternating flips instead: each
            image is mirrored on every other epoch, from a fixed per-image coin (the parity
            of its pixel sum), so that two epochs in a row see both orientations of every
            image. Needs the epoch: only a repeating pipeline (`make_pipeline(...,
            repeat=True)`, as `fit` builds) has it; elsewhere flips stay random.
        vertical_flip: mirror top-bottom with probability 0.5.
        brightness_range: (low, high): multiply pixels by a uniform factor from it
            (IDG's multiplicative meaning, not Keras' additive RandomBrightness).
        channel_shift_range: add a uniform offset in [-r, r] (0-255 scale) to each channel.
        fill_mode: how rotation/shift/shear/zoom fill pixels from outside the image:
            "nearest", "reflect", "wrap" or "constant".
        cval: the fill value for fill_mode="constant".

    Modern augmentations:

    Args:
        crop_padding: pad by this many pixels and crop a random window of the original
            size; the standard CIFAR augmentation (4 for 32x32).
        crop_fill: what the padding holds: "constant" (zeros, the ResNet paper's) or
            "reflect" (a mirror of the border, airbench's, with crop_padding=2).
        cutout: side in pixels of a square set to mid-grey (127.5) at a random centre
            (DeVries & Taylor 2017; 16 for CIFAR). 0: off.
        random_erasing: probability that Keras' RandomErasing replaces a random rectangle of
            an image with noise (Zhong et al. 2020). 0: off.
        randaugment_ops: RandAugment (Keras layer): how many operations to chain. 0: off.
            Keras picks which operations once per batch, their parameters per image.
        randaugment_magnitude: RandAugment strength in [0, 1]; each op's strength is drawn
            up to it (Keras' `factor`).
        mixup_alpha: MixUp Beta(alpha, alpha) parameter; > 0 turns MixUp on.
        cutmix_alpha: CutMix Beta(alpha, alpha) parameter in (0, 1] (Keras' CutMix limit);
            > 0 turns CutMix on. With both MixUp and CutMix on, each batch gets one of the
            two at random.

    MixUp and CutMix mix labels, so they need one-hot labels (`soft_labels` is True):
    `make_pipeline` refuses them unless `one_hot=True`, and the model needs a loss that
    takes one-hot targets (CategoricalCrossentropy).

    Example:
        >>> config = AugmentConfig(rotation_range=15, horizontal_flip=True, zoom_range=0.1)
        >>> config.soft_labels, AugmentConfig.from_preset("cifar").crop_padding
        (False, 4)
    """

    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    shear_range: float = 0.0
    zoom_range: float | tuple[float, float] = 0.0
    horizontal_flip: bool = False
    alternating_flip: bool = False
    vertical_flip: bool = False
    brightness_range: tuple[float, float] | None = None
    channel_shift_range: float = 0.0
    fill_mode: str = "nearest"
    cval: float = 0.0
    crop_padding: int = 0
    crop_fill: str = "constant"
    cutout: int = 0
    random_erasing: float = 0.0
    randaugment_ops: int = 0
    randaugment_magnitude: float = 0.5
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "rotation_range",
            "width_shift_range",
            "height_shift_range",
            "shear_range",
            "channel_shift_range",
            "crop_padding",
            "cutout",
            "randaugment_ops",
            "mixup_alpha",
            "cutmix_alpha",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.alternating_flip and not self.horizontal_flip:
            raise ValueError("alternating_flip=True needs horizontal_flip=True")
        if self.crop_fill not in ("constant", "reflect"):
            raise ValueError(f"crop_fill={self.crop_fill!r} must be 'constant' or 'reflect'")
        if self.fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode={self.fill_mode!r} must be one of {FILL_MODES}")
        low, high = self.zoom_bounds
        if not 0 < low <= high:
            raise ValueError(
                f"zoom_range={self.zoom_range} must give factors 0 < low <= high "
                "(a float z < 1 means [1 - z, 1 + z])"
            )
        if self.brightness_range is not None:
            low, high = self.brightness_range
            if not 0 <= low <= high:
                raise ValueError(
                    f"brightness_range={self.brightness_range} must be (low, high) with "
                    "0 <= low <= high, e.g. (0.8, 1.2)"
                )
        for name in ("random_erasing", "randaugment_magnitude"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1]")
        if self.cutmix_alpha > 1:
            raise ValueError(f"cutmix_alpha={self.cutmix_alpha} must be in (0, 1] (or 0: off)")

    @property
    def zoom_bounds(self) -> tuple[float, float]:
        """(low, high) zoom factors, from a float z or a pair, as ImageDataGenerator."""
        if isinstance(self.zoom_range, (tuple, list)):
            low, high = self.zoom_range
            return float(low), float(high)
        return 1.0 - self.zoom_range, 1.0 + self.zoom_range

    @property
    def has_affine(self) -> bool:
        """True when rotation, shift, shear or zoom is on (one combined affine transform)."""
        shifts = self.rotation_range or self.width_shift_range or self.height_shift_range
        return bool(shifts or self.shear_range or self.zoom_bounds != (1.0, 1.0))

    @property
    def soft_labels(self) -> bool:
        """True when MixUp or CutMix is on: labels must be one-hot and come out mixed."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    @property
    def is_identity(self) -> bool:
        """True when no operation is turned on."""
        switches = (
            self.has_affine,
            self.horizontal_flip,
            self.vertical_flip,
            self.brightness_range is not None,
            self.channel_shift_range,
            self.crop_padding,
            self.cutout,
            self.random_erasing,
            self.randaugment_ops,
            self.soft_labels,
        )
        return not any(switches)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AugmentConfig:
        """Inverse of `to_dict`; unknown keys are an error that names them."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown augmentation setting(s) {unknown}; known: {sorted(fields)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> AugmentConfig:
        """A named preset (see `AUGMENT_PRESETS`), optionally with some fields changed.

        Example:
            >>> AugmentConfig.from_preset("cifar", cutout=16).cutout
            16
        """
        if name not in AUGMENT_PRESETS:
            raise ValueError(
                f"unknown augmentation preset {name!r}; known: {list(AUGMENT_PRESETS)}"
            )
        return dataclasses.replace(AUGMENT_PRESETS[name], **overrides)


AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    # No augmentation.
    "none": AugmentConfig(),
    # The classic CIFAR recipe (ResNet paper): 4-pixel zero padding, random 32x32 crop, flip.
    "cifar": AugmentConfig(crop_padding=4, horizontal_flip=True),
    # A mild ImageDataGenerator-style recipe that suits most photo datasets.
    "standard": AugmentConfig(
        rotation_range=15,
        width_shift_range=0.1,
        height_shift_range=0.1,
        zoom_range=0.1,
        horizontal_flip=True,
    ),
    # CIFAR recipe plus RandAugment and random erasing, for longer training runs.
    "strong": AugmentConfig(
        crop_padding=4,
        horizontal_flip=True,
        randaugment_ops=2,
        randaugment_magnitude=0.5,
        random_erasing=0.25,
    ),
}


def resolve_augment(augment: AugmentConfig | str | Mapping[str, Any] | None) -> AugmentConfig:
    """Turn what a caller may pass as `augment` into an `AugmentConfig`.

    Args:
        augment: a config, a preset name, a dict of fields (e.g. from run.json), or None
            (no augmentation).

    Example:
        >>> resolve_augment("cifar") == AUGMENT_PRESETS["cifar"], resolve_augment(None).is_identity
        (True, True)
    """
    if augment is None:
        return AUGMENT_PRESETS["none"]
    if isinstance(augment, AugmentConfig):
        return augment
    if isinstance(augment, str):
        return AugmentConfig.from_preset(augment)
    if isinstance(augment, Mapping):
        return AugmentConfig.from_dict(augment)
    raise TypeError(
        f"augment must be an AugmentConfig, a preset name or a dict, got {type(augment).__name__}"
    )
