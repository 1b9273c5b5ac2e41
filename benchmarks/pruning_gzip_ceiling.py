"""How small can gzip make a pruned model? Zero-shot masks on a trained run's weights.

    python benchmarks/pruning_gzip_ceiling.py --run logs/cifar10/resnet20-...

The issue's pruning target asks for a gzip size 1.8x smaller at 50% sparsity. This script
measures, without any fine-tuning, what magnitude masks of a given sparsity and structure
do to the gzip -9 size of the float32 weights (the same measure as `prune`) and to the
validation accuracy:

  block 1   unstructured, what tfmot's `prune_low_magnitude` does to a convolution;
  block B   whole runs of B neighbouring output channels (B contiguous float32 values in
            the HWIO kernel), ranked by their largest magnitude: the zeros fall in runs
            of 4B bytes, which is the best case for gzip's matcher.

One line per mask: `sparsity block gzip_ratio zero_shot_accuracy`. Fine-tuning recovers
accuracy (see optimize_cifar10.py) but hardly moves the gzip ratio, which is set by the
count and placement of the zeros.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from kerascls.evaluate import predict_arrays, top1_agreement
from kerascls.optimize.pruning import PRUNED_LAYERS, gzip_size, weights_bytes
from kerascls.optimize.source import resolve_source


def magnitude_mask(kernel: np.ndarray, sparsity: float, block: int) -> np.ndarray:
    """True where a weight survives; blocks run along the last (output-channel) axis."""
    if block == 1 or kernel.shape[-1] % block:  # e.g. the 10-way Dense: unstructured
        return np.abs(kernel) > np.quantile(np.abs(kernel), sparsity)
    blocks = np.abs(kernel).reshape(-1, kernel.shape[-1] // block, block).max(-1)
    keep = blocks > np.quantile(blocks, sparsity)
    return np.repeat(keep, block, axis=-1).reshape(kernel.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained run folder")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.5, 0.55])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    source = resolve_source(args.run)
    model = source.model
    images, labels = source.validation_arrays()
    dense = model.get_weights()
    dense_gzip = gzip_size(weights_bytes(model))

    def accuracy() -> float:  # of `model` as its weights are now
        return top1_agreement(predict_arrays(model, images), labels)

    print(f"dense gzip_bytes {dense_gzip} accuracy {accuracy():.4f}")
    for sparsity in args.sparsity:
        for block in args.blocks:
            masked = []
            for layer in model.layers:
                weights = layer.get_weights()
                if type(layer).__name__ in PRUNED_LAYERS:
                    weights[0] = weights[0] * magnitude_mask(weights[0], sparsity, block)
                masked.extend(weights)
            model.set_weights(masked)
            ratio = dense_gzip / gzip_size(weights_bytes(model))
            print(
                f"sparsity {sparsity} block {block} gzip_ratio {ratio:.3f} "
                f"zero_shot_accuracy {accuracy():.4f}"
            )
            model.set_weights(dense)


if __name__ == "__main__":
    main()
