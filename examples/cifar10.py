"""
Title: CIFAR-10 in minutes on a CPU: airbench94's recipe in Keras, from pixels to a run folder
Description: patch whitening, scale-free BatchNorm, a short triangular schedule, lookahead,
    TensorBoard, checkpoints and an evaluation report, with kerascls.

Run it:

    python examples/cifar10.py                          # downloads CIFAR-10 (170 MB)
    python examples/cifar10.py --data-dir ../cifar10    # an image folder with train/<class>/
    python examples/cifar10.py --time-budget 15m        # the best it can do in 15 minutes
    python examples/cifar10.py --recipe long            # a wider net: 90.4% in 28 minutes
    python examples/cifar10.py --recipe resnet20        # the ResNet-20 recipe (2.7 hours)
    python examples/cifar10.py --resume                 # continue an interrupted run
    python examples/cifar10.py --mlflow                 # also track it in MLflow (mlflow ui)
    tensorboard --logdir logs

What to expect on 2 CPU cores: on a Xeon with AMX (bf16), 89.83% ± 0.54 (3 seeds) on 5,000
held-out images after 10 epochs and about 6 minutes of training, 0.86-1.01x the time
airbench94 took under PyTorch's bf16 autocast in the same run (88.76%); on an EPYC without
AMX, 23 minutes (2026-12-04, before this round's speed-ups). Figures and the comparison
with airbench94, like for like: benchmarks/README.md (`python benchmarks/time_to_accuracy.py`).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up INFO lines

from kerascls.cli.common import import_tensorflow_quietly, run_command
from kerascls.cli.train import (
    add_training_flags,
    extra_callbacks,
    print_next_steps,
    recipe_from_flags,
)

# TensorFlow's C++ start-up lines (absl, oneDNN, "failed call to cuInit" on machines with
# no GPU) are printed before any log level applies: import it now with them hidden.
import_tensorflow_quietly()

from kerascls.train import fit, resume
from kerascls.train.runtime import process_started

"""
## The recipe

Every knob of a run lives in one dataclass, `Recipe`; the named ones are in
kerascls/train/presets.py. The default, "fast", is airbench94's algorithm on kerascls's
pieces:

- the "airbench" CNN: a 2x2 convolution whose filters are set to whiten the image
  patches of 5,000 training images (and not trained), then three groups of
  conv-pool-BN-GELU-conv-BN-GELU of 64, 256 and 256 channels; BatchNorm without a
  learned scale, its biases trained with 64x larger steps;
- batch 1024, Nesterov SGD, a triangular learning-rate schedule of 10 epochs, label
  smoothing 0.2, and lookahead weight averaging every 5 steps;
- random flips and translations by up to 2 pixels (mirrored borders);
- bfloat16 compute where the CPU has AVX512_BF16 or AMX instructions (the model trains
  2.5x faster in bf16 than in float32 on such a CPU), float32 elsewhere; the saved
  models load as float32 for evaluation and export.

Channel mean/std are measured on the training split and built into the model as its
first layer, so the trained model takes raw 0-255 pixels. run.json records the whole
recipe, so a run can be resumed or repeated exactly.
"""

"""
## Train

`fit` loads the data (CIFAR-10 from keras.datasets, or the image folder given with
--data-dir, 5,000 images held out for validation), measures the channel statistics,
builds the model from the registry, and trains with TensorBoard logging, best/last
checkpoints, a CSV history and BackupAndRestore (so `--resume` continues a killed run
from its last finished epoch). At the end it evaluates best.keras on the test split (the
validation split when the data has no test split) and prints accuracy, top-5, macro-F1,
the accuracy with flip test-time augmentation, and a per-class table.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train an image classifier on CIFAR-10.")
    add_training_flags(parser, None)  # the default recipe, Recipe(): "fast"
    args = parser.parse_args(argv)
    if args.resume:  # the run's own recipe, from its run.json; other flags do not apply
        run = resume(
            None if args.resume is True else args.resume,
            logdir=args.logdir,
            callbacks=extra_callbacks(args),
        )
    else:
        # a --time-budget counts from the process's start, imports included
        recipe = recipe_from_flags(args)
        run = fit(recipe, callbacks=extra_callbacks(args), started=process_started())
    print_next_steps(run)


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))
