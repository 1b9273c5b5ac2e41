"""Where and how a run computes: seeds, the distribution strategy and mixed precision."""

from __future__ import annotations

import json
import logging
import os
import time

import keras
import tensorflow as tf

from kerascls.errors import KerasclsError

logger = logging.getLogger(__name__)


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
        from kerascls.train.cluster import configure_failure_detection

        configure_failure_detection()
        return _multi_worker_strategy()
    raise KerasclsError(f"unknown strategy {name!r}: use default, mirrored or multiworker")


_MULTI_WORKER: tf.distribute.Strategy | None = None


def _multi_worker_strategy() -> tf.distribute.Strategy:
    # One per process: TensorFlow's collective runtime is set up once, when the first
    # MultiWorkerMirroredStrategy is built, and must not be built again.
    global _MULTI_WORKER
    if _MULTI_WORKER is None:
        _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy()
    return _MULTI_WORKER


def mixed_precision_policy(enabled: bool | str) -> str:
    """The Keras dtype policy for `Recipe.mixed_precision`.

    True: "mixed_float16" on a GPU, "mixed_bfloat16" on a CPU. "auto": the same where the
    hardware has the instructions (a GPU, or a CPU with AVX512_BF16 or AMX) and "float32"
    elsewhere. False: "float32".

    bf16 pays only on CPUs with bf16 instructions: without them it trains several times
    slower than float32, with them faster (benchmarks/README.md), so True on a CPU without
    them gets a warning.

    Example:
        >>> mixed_precision_policy(False)
        'float32'
    """
    if not enabled:
        return "float32"
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    has_bf16 = cpu_has_bf16()
    if enabled == "auto":
        return "mixed_bfloat16" if has_bf16 else "float32"
    if has_bf16 is False:
        logger.warning(
            "mixed precision on this CPU uses bfloat16, which it has no instructions for "
            "(no avx512_bf16 or amx_bf16 in /proc/cpuinfo): training will be several times "
            "slower than float32; leave mixed_precision off here"
        )
    return "mixed_bfloat16"


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU has bfloat16 instructions (AVX512_BF16 or AMX); None if unknown."""
    try:
        with open(cpuinfo) as f:
            flags = set(f.read().split())
    except OSError:
        return None  # not Linux: do not guess
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def describe_cpu(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, core count and the instructions that decide bf16 speed.

    Benchmarks print it beside every figure: TensorFlow and PyTorch gain very differently
    from bf16 on CPUs with AMX, with AVX512_BF16 only, and with neither.

    Example:
        >>> "cores" in describe_cpu()
        True
    """
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        import platform

        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line]
    flags = set(text.split())
    has = [label for flag, label in _BF16_FLAGS if flag in flags]
    return (
        f"{names[0] if names else 'unknown CPU'}, {os.cpu_count()} cores, "
        f"{' + '.join(has) if has else 'no bf16 instructions (no AVX512_BF16, no AMX)'}"
    )


_BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512_BF16"), ("avx512f", "AVX-512"))


def process_started() -> float:
    """The `time.perf_counter()` reading at this process's start.

    A time budget counts from when the user pressed Enter: Python's and TensorFlow's
    imports (several seconds) are part of the run they wait for. Read from Linux's /proc;
    elsewhere, now.

    Example:
        >>> 0 <= time.perf_counter() - process_started() < 3600
        True
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        # field 22 of stat, the start time in clock ticks after boot (fields[0] is field 3)
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter()
    return time.perf_counter() - max(age, 0.0)
