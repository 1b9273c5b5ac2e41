"""Compression of a trained CIFAR-10 run: QAT INT8, post-training INT8, pruning, distillation.

    python benchmarks/optimize_cifar10.py --run /work/runs/cifar10/resnet20-... --epochs 2

Prints one figure per line (`name value`), all on the run's validation split, then the
issue's targets as `target_* yes|no`:
  float_acc               the run's best.keras
  ptq_int8_acc            post-training full-INT8 TFLite (500 calibration images)
  qat_int8_acc            QAT (--epochs of fine-tuning) full-INT8 TFLite; qat_keras_acc is
                          the fake-quant Keras model, qat_tflite_agreement its top-1
                          agreement with the TFLite file
  pruned50_*              magnitude pruning to 50% (--epochs of fine-tuning): sparsity of the
                          pruned kernels, accuracy, gzip -9 sizes of the float32 weights before
                          and after and their ratio, and the pruned model's INT8 TFLite
  distilled_acc / alone_acc   --student trained --distill-epochs epochs from the teacher
                          (T=4, alpha=0.9) and on the labels alone (alpha=0), same recipe
Targets: QAT INT8 within 0.5 pt of float and above PTQ INT8; 50% sparsity with <= 1 pt
lost and gzip >= 1.8x smaller; the distilled student above the student alone.
Nothing is written under logs/. `--skip qat,prune,distill` leaves parts out; `--qat-lr`,
`--prune-lr` and `--prune-epochs` change the fine-tuning from the API's defaults;
`--no-bn-recalibration` keeps the BatchNormalization statistics fine-tuning ends with.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerascls.evaluate import predict_arrays, top1_agreement
from kerascls.export.tflite import convert_tflite
from kerascls.optimize import distill, gzip_size, prune, qat, resolve_source
from kerascls.optimize.int8_check import tflite_probabilities


def figure(name: str, value: object) -> None:
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    print(f"{name} {text}", flush=True)


def given(**options: object) -> dict[str, object]:
    """The options set on the command line (not None)."""
    return {name: value for name, value in options.items() if value is not None}


def target(name: str, ok: bool) -> None:
    figure(f"target_{name}", "yes" if ok else "no")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="trained run folder (default: newest under --logdir)")
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--epochs", type=int, default=2, help="QAT and pruning fine-tuning")
    parser.add_argument("--distill-epochs", type=int, default=30, help="student training")
    parser.add_argument("--student", default="mobilenetv3_small")
    parser.add_argument("--batch-size", type=int, default=64)
    # None keeps qat()'s and prune()'s own defaults, so they are not written down twice.
    parser.add_argument("--qat-lr", type=float, help="QAT peak learning rate")
    parser.add_argument("--prune-lr", type=float, help="pruning peak learning rate")
    parser.add_argument("--prune-epochs", type=int, help="pruning epochs (default: --epochs)")
    parser.add_argument(
        "--prune-self-distill", action="store_true", help="prune on the dense model's outputs"
    )
    parser.add_argument(
        "--no-bn-recalibration",
        action="store_true",
        help="keep the BatchNormalization statistics fine-tuning ends with (QAT, pruning)",
    )
    parser.add_argument("--skip", default="", help="comma-separated: qat,prune,distill")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    source = resolve_source(args.run, logdir=args.logdir)
    figure("run", source.run.path)
    images, labels = source.validation_arrays()
    figure("validation_images", len(labels))
    float_acc = top1_agreement(predict_arrays(source.model, images), labels)
    figure("float_acc", float_acc)

    started = time.perf_counter()
    ptq = convert_tflite(source.model, "int8", calibration=source.calibration_images(500))
    ptq_acc = top1_agreement(tflite_probabilities(ptq, images), labels)
    figure("ptq_int8_acc", ptq_acc)
    figure("ptq_seconds", round(time.perf_counter() - started, 1))

    common = {"epochs": args.epochs, "batch_size": args.batch_size, "data": source.data}
    recalibrate = {"recalibrate_bn": not args.no_bn_recalibration}
    if "qat" not in skip:
        started = time.perf_counter()
        result = qat(source.run, **common, **recalibrate, **given(lr=args.qat_lr))
        m = result.metrics
        figure("qat_keras_acc", m["qat_accuracy"])
        figure("qat_int8_acc", m["int8_accuracy"])
        figure("qat_finetuned_float_acc", m["finetuned_float_accuracy"])
        figure("qat_tflite_agreement", m["top1_agreement"])
        figure("qat_tflite_max_prob_diff", m["max_prob_diff"])
        figure("qat_int8_bytes", len(result.tflite))
        figure("qat_seconds", round(time.perf_counter() - started, 1))
        target("qat_within_0.5pt_of_float", m["int8_accuracy"] >= float_acc - 0.005)
        target("qat_above_ptq", m["int8_accuracy"] > ptq_acc)

    if "prune" not in skip:
        started = time.perf_counter()
        options = {**common, **given(epochs=args.prune_epochs, lr=args.prune_lr)}
        options.update(recalibrate, self_distill=args.prune_self_distill)
        m = prune(source.run, sparsity=0.5, **options).metrics
        figure("pruned50_sparsity", m["sparsity"])
        figure("pruned50_acc", m["pruned_accuracy"])
        figure("pruned50_gzip_weights_bytes_before", m["gzip_bytes_before"])
        figure("pruned50_gzip_weights_bytes_after", m["gzip_bytes_after"])
        figure("pruned50_gzip_ratio", m["gzip_ratio"])
        figure("pruned50_int8_acc", m["int8_accuracy"])
        figure("pruned50_int8_gzip_bytes", m["int8_gzip_bytes"])
        figure("ptq_int8_gzip_bytes_unpruned", gzip_size(ptq))
        figure("pruned50_seconds", round(time.perf_counter() - started, 1))
        target("pruned50_within_1pt", m["pruned_accuracy"] >= float_acc - 0.01)
        target("pruned50_gzip_1.8x", m["gzip_ratio"] >= 1.8)

    if "distill" not in skip:
        budget = {**common, "epochs": args.distill_epochs, "student": args.student}
        started = time.perf_counter()
        distilled = distill(source.run, alpha=0.9, temperature=4.0, **budget).metrics
        figure("distilled_acc", distilled["student_accuracy"])
        figure("distill_seconds", round(time.perf_counter() - started, 1))
        alone = distill(source.run, alpha=0.0, **budget).metrics
        figure("alone_acc", alone["student_accuracy"])
        figure("student_params", distilled["student_params"])
        figure("teacher_params", distilled["teacher_params"])
        target("distilled_beats_alone", distilled["student_accuracy"] > alone["student_accuracy"])


if __name__ == "__main__":
    main()
