"""Where and how a run computes: seeds, the distribution strategy and mixed precision."""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from kerascls.errors import KerasclsError


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras so that a run can be repeated."""
    keras.utils.set_random_seed(seed)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy that `name` asks for.

    "default" runs on one device; "mirrored" copies the model onto every local GPU (or
    every logical CPU device when there is no GPU); "multiworker" reads the cluster from
    the TF_CONFIG environment variable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise KerasclsError(
                "strategy 'multiworker' needs the TF_CONFIG environment variable "
                "(cluster and task); set it on every worker, or use strategy 'mirrored'"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as err:
            raise KerasclsError(f"TF_CONFIG is not valid JSON ({err})") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise KerasclsError(f"unknown strategy {name!r}: use default, mirrored or multiworker")


def mixed_precision_policy(enabled: bool) -> str:
    """ "mixed_float16" on a GPU, "mixed_bfloat16" on a CPU, "float32" when disabled."""
    if not enabled:
        return "float32"
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
