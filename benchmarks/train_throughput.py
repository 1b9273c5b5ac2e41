"""Training throughput through `fit`, beside PyTorch's on the same CPU, like for like.

    python benchmarks/train_throughput.py --data-dir ../cifar10 [--torch ../torchenv/bin/python]

Prints the CPU first (AMX or not), one figure per line (`name value`), then ratios. Every
Keras figure is compared with the PyTorch figure of the same net in the same precision:
float32 with float32, Keras' mixed_bfloat16 with torch's bf16 autocast.

The airbench net (the `fast` recipe's model), synthetic batches of 1,024:
  keras_airbench[_bf16]_img_s   `create_model("airbench")` through `fit` with the fast
                       recipe's optimizer (Nesterov SGD, 64x BatchNorm-bias steps), loss
                       and lookahead
  torch_airbench_train[_bf16]_img_s   airbench94's own step (benchmarks/torch_airbench_step.py)

ResNet-20, all at batch 128:
  keras_memory_img_s   fit on an in-memory uint8 array (no augmentation), the same work as
                       PyTorch's loop (which trains on one fixed random batch)
  keras_folder_img_s   fit on the JPEG folder pipeline with the "cifar" augmentation, after
                       the first epoch has filled the cache of decoded images
  keras_memory_onednn_off_img_s   the in-memory figure again in a child process with
                       TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's own Eigen kernels): what
                       kerascls's default of turning oneDNN on gives on this CPU
  keras_memory_spe8_img_s   the in-memory figure with steps_per_execution=8
  *_bf16_*             the same under the mixed_bfloat16 policy (bf16 compute, float32
                       weights); measured only on CPUs with AVX512_BF16/AMX (or --bf16):
                       without them bf16 is several times slower and takes that long
  torch_train_cl[_bf16]_img_s   ../shared/bench/torch_resnet20.py (channels_last; --bf16
                       adds the autocast figure), run in the same session

Each kerascls figure is the median of per-epoch rates over `--epochs` timed epochs of
`--steps` steps each, after one untimed epoch (tracing, cache fill).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As `import kerascls` does; set here because keras (and TensorFlow) load first below.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras
import numpy as np
import tensorflow as tf

from kerascls.data import from_arrays, load_image_folder, make_pipeline
from kerascls.models import create_model
from kerascls.train.fit import build_loss, build_metrics
from kerascls.train.lookahead import Lookahead
from kerascls.train.recipe import Recipe
from kerascls.train.runtime import cpu_has_bf16, describe_cpu
from kerascls.train.schedules import build_optimizer

HERE = Path(__file__).resolve().parent
TORCH_BENCH = HERE.parent.parent / "shared" / "bench" / "torch_resnet20.py"
TORCH_AIRBENCH = HERE / "torch_airbench_step.py"


class EpochRates(keras.callbacks.Callback):
    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images_per_epoch, self.rates = images_per_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.images_per_epoch / (time.perf_counter() - self.start))


def compiled_model(name: str, recipe: Recipe, policy: str, steps: int) -> keras.Model:
    """A CIFAR-shaped `name` built under `policy`, compiled as kerascls's fit compiles it."""
    keras.mixed_precision.set_global_policy(policy)
    model = create_model(name, 10, (32, 32, 3), mean=[125.0] * 3, std=[60.0] * 3)
    keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer=build_optimizer(recipe, steps),
        loss=build_loss(recipe),
        metrics=build_metrics(10),
        steps_per_execution=recipe.steps_per_execution,
    )
    return model


def fit_rate(
    dataset, steps: int, epochs: int, batch: int, steps_per_execution: int, policy: str
) -> float:
    """Median images/s of `fit` over `epochs` timed epochs, after one warm-up epoch."""
    recipe = Recipe(batch_size=batch, steps_per_execution=steps_per_execution)
    model = compiled_model("resnet20", recipe, policy, steps)
    timer = EpochRates(steps * batch)
    model.fit(
        dataset.repeat(), steps_per_epoch=steps, epochs=epochs + 1, callbacks=[timer], verbose=0
    )
    return statistics.median(timer.rates[1:])


def airbench_rate(steps: int, epochs: int, policy: str) -> float:
    """Median images/s of the fast recipe's training step on one random batch of 1,024."""
    recipe = Recipe.preset("fast")
    model = compiled_model("airbench", recipe, policy, steps)
    images, labels = synthetic_images(recipe.batch_size)
    batch = (images, keras.utils.to_categorical(labels, 10))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    timer = EpochRates(steps * recipe.batch_size)
    lookahead = Lookahead(total_steps=steps * (epochs + 1))
    model.fit(
        dataset, steps_per_epoch=steps, epochs=epochs + 1, callbacks=[timer, lookahead], verbose=0
    )
    return statistics.median(timer.rates[1:])


def peer_figures(command: list[str]) -> dict[str, float]:
    """`name value` lines of a PyTorch peer script, echoed and parsed."""
    out = subprocess.run(command, capture_output=True, text=True)
    figures = {}
    for line in out.stdout.splitlines():
        print(line, flush=True)
        name, value = line.split()
        figures[name] = float(value)
    if out.returncode != 0:
        print(f"# peer failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return figures


def print_ratio(name: str, figures: dict[str, float], ours: str, peer: str) -> None:
    if ours in figures and peer in figures:
        print(f"{name} {figures[ours] / figures[peer]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 image folder (train/<class>/)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--torch", default=str(HERE.parent.parent / "torchenv" / "bin" / "python"))
    parser.add_argument("--bf16", action="store_true", help="measure bf16 on any CPU")
    parser.add_argument(
        "--memory-only", action="store_true", help=argparse.SUPPRESS
    )  # the oneDNN-off child: one in-memory figure, nothing else
    parser.add_argument("--airbench-steps", type=int, default=5)
    args = parser.parse_args()
    print(f"# CPU: {describe_cpu()}", flush=True)
    print(f"# TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}", flush=True)
    if args.memory_only:
        dataset = memory_dataset(synthetic_images(args.steps * args.batch), args.batch)
        rate = fit_rate(dataset, args.steps, args.epochs, args.batch, 1, "float32")
        print(f"keras_memory_img_s {rate:.0f}", flush=True)
        return

    folder = load_image_folder(args.data_dir, validation_size=5000, seed=0)
    folder_ds = make_pipeline(
        folder.train, args.batch, training=True, augment="cifar", one_hot=True
    )
    for _ in folder_ds:  # one full pass decodes every file into the cache
        pass
    # The same images as an in-memory array: decode them once through the eval pipeline.
    images = np.concatenate(
        [x.numpy() for x, _ in make_pipeline(folder.train, 512, training=False)]
    ).astype("uint8")
    memory_ds = memory_dataset((images, folder.train.labels), args.batch)

    figures: dict[str, float] = {}
    policies = [("float32", "")]
    if args.bf16 or cpu_has_bf16() is not False:
        policies.append(("mixed_bfloat16", "_bf16"))
    else:
        print("# bf16 not measured: this CPU has no bf16 instructions (--bf16 to force)")
    torch_ok = Path(args.torch).exists()
    if not torch_ok:
        print(f"# PyTorch peers not run: no interpreter at {args.torch}", file=sys.stderr)
    for policy, suffix in policies:
        name = f"keras_airbench{suffix}_img_s"
        figures[name] = airbench_rate(args.airbench_steps, args.epochs, policy)
        print(f"{name} {figures[name]:.0f}", flush=True)
        if torch_ok:  # the peer right after, so both see the same machine
            command = [args.torch, str(TORCH_AIRBENCH), "--steps", str(args.airbench_steps)]
            figures.update(peer_figures(command + (["--bf16"] if suffix else [])))
    for policy, suffix in policies:
        for source, dataset in (("memory", memory_ds), ("folder", folder_ds)):
            name = f"keras_{source}{suffix}_img_s"
            figures[name] = fit_rate(
                dataset, args.steps, args.epochs, args.batch, args.steps_per_execution, policy
            )
            print(f"{name} {figures[name]:.0f}", flush=True)
    if torch_ok and TORCH_BENCH.exists():
        command = [args.torch, str(TORCH_BENCH), "--threads", "2", "--batch", str(args.batch)]
        figures.update(peer_figures(command + (["--bf16"] if len(policies) > 1 else [])))
    figures["keras_memory_spe8_img_s"] = fit_rate(
        memory_ds, args.steps, args.epochs, args.batch, 8, "float32"
    )
    print(f"keras_memory_spe8_img_s {figures['keras_memory_spe8_img_s']:.0f}", flush=True)
    figures.update(onednn_off_figure(args))

    print(
        f"# ratios, like for like (Keras / PyTorch, same net, same precision); CPU: "
        f"{describe_cpu()}"
    )
    for _, suffix in policies:
        torch_suffix = "_bf16" if suffix else ""
        print_ratio(
            f"ratio_airbench{suffix}_vs_torch_airbench{torch_suffix}",
            figures,
            f"keras_airbench{suffix}_img_s",
            f"torch_airbench_train{torch_suffix}_img_s",
        )
        for source in ("memory", "folder"):
            print_ratio(
                f"ratio_{source}{suffix}_vs_torch_cl{torch_suffix}",
                figures,
                f"keras_{source}{suffix}_img_s",
                f"torch_train_cl{torch_suffix}_img_s",
            )
        print_ratio(
            f"ratio_folder{suffix}_vs_memory",
            figures,
            f"keras_folder{suffix}_img_s",
            f"keras_memory{suffix}_img_s",
        )
    print_ratio(
        "ratio_memory_onednn_on_vs_off",
        figures,
        "keras_memory_img_s",
        "keras_memory_onednn_off_img_s",
    )


def synthetic_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and labels: the speed of a step does not depend on the pixels."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype="uint8"), rng.integers(0, 10, count)


def memory_dataset(arrays: tuple[np.ndarray, np.ndarray], batch: int):
    """The in-memory pipeline: uint8 arrays, shuffled and batched, no augmentation."""
    images, labels = arrays
    names = [str(i) for i in range(10)]
    memory = from_arrays(images, labels, class_names=names, validation_size=0)
    return make_pipeline(memory.train, batch, training=True, augment="none", one_hot=True)


def onednn_off_figure(args: argparse.Namespace) -> dict[str, float]:
    """The in-memory figure with oneDNN off, from a child process (the switch is read once,
    when TensorFlow loads)."""
    command = [sys.executable, __file__, "--data-dir", args.data_dir, "--memory-only"]
    command += ["--steps", str(args.steps), "--epochs", str(args.epochs)]
    command += ["--batch", str(args.batch)]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("keras_memory_img_s"):
            rate = float(line.split()[1])
            print(f"keras_memory_onednn_off_img_s {rate:.0f}", flush=True)
            return {"keras_memory_onednn_off_img_s": rate}
    print(f"# oneDNN-off figure failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return {}


if __name__ == "__main__":
    main()
