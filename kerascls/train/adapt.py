"""Recipes fitted to the data: what a recipe written for CIFAR-10 becomes on a small folder.

The named recipes are tuned on 45,000 32x32 images: the fast one trains at batch 1024 with
2-pixel translations. On a folder of 300 photos that is one step an epoch (ten steps in
all) and translations too small to matter. `adapt_recipe_to_data` changes what does not
fit, and says so in one line each (printed at the start of the run, kept in run.json):

- batch_size: at most a power of two with 8 steps an epoch (never more than the training
  split); SGD's learning rate scales linearly with it (Goyal et al., 2017), Adam's and
  AdamW's by its square root;
- augment: on images of 64 pixels and more, a CIFAR-style pad-crop-flip becomes the
  "standard" photo preset (shifts, zoom, rotation, flip) that ImageDataGenerator users
  know.

Fields named in `recipe.set_by_user` (the command line puts there the flags the user
passed) are left as given, except that no batch is ever larger than the training split.

Example:
    >>> from kerascls.train.presets import RECIPES
    >>> recipe, notes = adapt_recipe_to_data(RECIPES["fast"], 300, image_size=(32, 32))
    >>> recipe.batch_size, round(recipe.lr, 4)
    (32, 0.0469)
"""

from __future__ import annotations

import dataclasses
import math

from kerascls.data.augment_config import AUGMENT_PRESETS, resolve_augment
from kerascls.train.recipe import Recipe

MIN_STEPS_PER_EPOCH = 8
MIN_BATCH_SIZE = 8
PHOTO_SIZE = 64  # images at least this large get the photo augmentation


def adapt_recipe_to_data(
    recipe: Recipe, num_train: int, image_size: tuple[int, int]
) -> tuple[Recipe, list[str]]:
    """The recipe with its batch size and augmentation fitted to the training split.

    Args:
        recipe: the recipe as written (a preset with the user's flags).
        num_train: images in the training split.
        image_size: (height, width) the images are resized to.

    Returns:
        (the fitted recipe, one line per change); the same recipe and no lines when nothing
        had to change or `recipe.adapt_to_data` is False.
    """
    if not recipe.adapt_to_data:
        return recipe, []
    changes: dict[str, object] = {}
    notes: list[str] = []

    batch = _fitted_batch(recipe, num_train)
    if batch != recipe.batch_size:
        changes["batch_size"] = batch
        why = f"{num_train} training images"
        if "lr" not in recipe.set_by_user and "batch_size" not in recipe.set_by_user:
            ratio = batch / recipe.batch_size
            lr = recipe.lr * (ratio if recipe.optimizer == "sgd" else math.sqrt(ratio))
            changes["lr"] = lr
            notes.append(
                f"batch size {recipe.batch_size} -> {batch} ({why}), "
                f"learning rate {recipe.lr:g} -> {lr:.4g} with it"
            )
        else:
            notes.append(f"batch size {recipe.batch_size} -> {batch} ({why})")

    if "augment" not in recipe.set_by_user:
        augment, note = _fitted_augment(recipe.augment, image_size)
        if note:
            changes["augment"] = augment
            notes.append(note)
    return dataclasses.replace(recipe, **changes), notes


def _fitted_augment(augment, image_size: tuple[int, int]) -> tuple[object, str | None]:
    """Photo augmentation for photos; a cutout at most half the image's side."""
    config = resolve_augment(augment)
    if min(image_size) >= PHOTO_SIZE and _is_small_image_crop(config):
        return "standard", (
            f"augmentation -> 'standard' (shifts, zoom, rotation, flip): a "
            f"{config.crop_padding}-pixel crop suits 32x32 images, not "
            f"{image_size[0]}x{image_size[1]}"
        )
    side = min(image_size) // 2
    if config.cutout > side:
        fitted = dataclasses.replace(config, cutout=side).to_dict()
        return (
            fitted,
            f"cutout {config.cutout} -> {side} pixels: half of {min(image_size)}-pixel images",
        )
    return augment, None


def _fitted_batch(recipe: Recipe, num_train: int) -> int:
    batch = min(recipe.batch_size, max(num_train, 1))  # never larger than the split
    if "batch_size" in recipe.set_by_user:
        return batch
    most = num_train // MIN_STEPS_PER_EPOCH
    if batch <= most:
        return batch
    # the largest power of two with MIN_STEPS_PER_EPOCH steps, within [MIN_BATCH_SIZE, batch]
    power = 2 ** int(math.log2(most)) if most >= 1 else 1
    return max(min(power, batch), min(MIN_BATCH_SIZE, batch))


def _is_small_image_crop(config) -> bool:
    """Only pad-crop (and flips): the augmentation written for 32x32 images."""
    geometric_only = dataclasses.replace(
        config, crop_padding=0, crop_fill="constant", horizontal_flip=False
    )
    plain = dataclasses.replace(AUGMENT_PRESETS["none"], crop_fill="constant")
    return config.crop_padding > 0 and geometric_only == plain
