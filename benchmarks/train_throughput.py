"""Training throughput of ResNet-20 through `fit`, beside PyTorch's on the same CPU.

    python benchmarks/train_throughput.py --data-dir ../cifar10 [--torch ../torchenv/bin/python]

Prints one figure per line (`name value`), then ratios. Figures, all at batch 128:
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
  torch_*              ../shared/bench/torch_resnet20.py, run in the same session

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

from kerascls.data import from_arrays, load_image_folder, make_pipeline
from kerascls.models import create_model
from kerascls.train.fit import build_loss, build_metrics
from kerascls.train.recipe import Recipe
from kerascls.train.runtime import cpu_has_bf16
from kerascls.train.schedules import build_optimizer

HERE = Path(__file__).resolve().parent
TORCH_BENCH = HERE.parent.parent / "shared" / "bench" / "torch_resnet20.py"


class EpochRates(keras.callbacks.Callback):
    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images_per_epoch, self.rates = images_per_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.images_per_epoch / (time.perf_counter() - self.start))


def fit_rate(
    dataset, steps: int, epochs: int, batch: int, steps_per_execution: int, policy: str
) -> float:
    """Median images/s of `fit` over `epochs` timed epochs, after one warm-up epoch."""
    recipe = Recipe(batch_size=batch, steps_per_execution=steps_per_execution)
    keras.mixed_precision.set_global_policy(policy)
    model = create_model("resnet20", 10, (32, 32, 3), mean=[125.0] * 3, std=[60.0] * 3)
    keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer=build_optimizer(recipe, steps),
        loss=build_loss(recipe),
        metrics=build_metrics(10),
        steps_per_execution=steps_per_execution,
    )
    timer = EpochRates(steps * batch)
    model.fit(
        dataset.repeat(), steps_per_epoch=steps, epochs=epochs + 1, callbacks=[timer], verbose=0
    )
    return statistics.median(timer.rates[1:])


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
    args = parser.parse_args()
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

    figures = {}
    policies = [("float32", "")]
    if args.bf16 or cpu_has_bf16() is not False:
        policies.append(("mixed_bfloat16", "_bf16"))
    else:
        print("# bf16 not measured: this CPU has no bf16 instructions (--bf16 to force)")
    for policy, suffix in policies:
        for source, dataset in (("memory", memory_ds), ("folder", folder_ds)):
            name = f"keras_{source}{suffix}_img_s"
            figures[name] = fit_rate(
                dataset, args.steps, args.epochs, args.batch, args.steps_per_execution, policy
            )
            print(f"{name} {figures[name]:.0f}", flush=True)
    figures["keras_memory_spe8_img_s"] = fit_rate(
        memory_ds, args.steps, args.epochs, args.batch, 8, "float32"
    )
    print(f"keras_memory_spe8_img_s {figures['keras_memory_spe8_img_s']:.0f}", flush=True)
    figures.update(onednn_off_figure(args))

    if Path(args.torch).exists() and TORCH_BENCH.exists():
        out = subprocess.run(
            [args.torch, str(TORCH_BENCH), "--threads", "2", "--batch", str(args.batch)],
            capture_output=True,
            text=True,
        )
        for line in out.stdout.splitlines():
            print(line, flush=True)
            name, value = line.split()
            figures[name] = float(value)
    else:
        print(f"# PyTorch peer not run: no interpreter at {args.torch}", file=sys.stderr)

    if "keras_memory_onednn_off_img_s" in figures:
        off = figures["keras_memory_onednn_off_img_s"]
        print(f"ratio_memory_onednn_on_vs_off {figures['keras_memory_img_s'] / off:.2f}")
    for _, suffix in policies:
        memory, folder = (
            figures[f"keras_memory{suffix}_img_s"],
            figures[f"keras_folder{suffix}_img_s"],
        )
        if "torch_train_cl_img_s" in figures:
            torch_cl = figures["torch_train_cl_img_s"]
            print(f"ratio_memory{suffix}_vs_torch_cl {memory / torch_cl:.2f}")
            print(f"ratio_folder{suffix}_vs_torch_cl {folder / torch_cl:.2f}")
        print(f"ratio_folder{suffix}_vs_memory {folder / memory:.2f}")


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
