"""kerascls-optimize: compress a trained run into a new run (QAT INT8, pruning, distillation).

kerascls-optimize --qat                          # newest run under logs/: QAT + INT8 TFLite
kerascls-optimize --prune 0.5 --run logs/cifar10/resnet20-20261122-101500
kerascls-optimize --distill logs/cifar10/resnet20-20261122-101500 --student mobilenetv3_small
"""

from __future__ import annotations

import argparse
import json

from kerascls.cli.common import run_command


def _sparsity(text: str) -> float:
    """A fraction ("0.5") or a percentage with its sign ("50%"); checked in (0, 1) here, so
    a bad value fails before any data is loaded."""
    from kerascls.errors import KerasclsError
    from kerascls.optimize.pruning import check_sparsity

    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return check_sparsity(value / 100 if percent else value)
    except KerasclsError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one `error: ...` line (exit 2), like every
    other kerascls error, instead of the usage block."""

    def error(self, message: str):
        from kerascls.errors import KerasclsError

        raise KerasclsError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kerascls-optimize", description=__doc__.splitlines()[0])
    method = parser.add_mutually_exclusive_group(required=True)
    method.add_argument(
        "--qat", action="store_true", help="quantization-aware training, then full-INT8 TFLite"
    )
    method.add_argument(
        "--prune",
        type=_sparsity,
        metavar="SPARSITY",
        help="magnitude pruning to this fraction of zero weights (0.5 or 50%%)",
    )
    method.add_argument(
        "--distill", metavar="TEACHER_RUN", help="train --student from this teacher run"
    )
    parser.add_argument("--run", help="run folder to optimize (default: the newest under --logdir)")
    parser.add_argument("--logdir", default="logs", help="where runs are found and written")
    parser.add_argument("--epochs", type=int, help="default: 2 (QAT, pruning), 30 (distillation)")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--student", default="mobilenetv3_small", help="student model name")
    parser.add_argument(
        "--student-kwargs", default="{}", help="student options as JSON, e.g. '{\"alpha\": 0.5}'"
    )
    parser.add_argument("--temperature", type=float, default=4.0, help="distillation T")
    parser.add_argument("--alpha", type=float, default=0.9, help="weight of the teacher term")
    parser.add_argument("--no-int8", action="store_true", help="pruning: skip the INT8 TFLite")
    parser.add_argument(
        "--self-distill",
        action="store_true",
        help="pruning: fine-tune on the unpruned model's predictions instead of the labels",
    )
    return parser


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)

    from kerascls.errors import KerasclsError
    from kerascls.runs import load_run

    if args.distill and args.run:
        raise KerasclsError("--distill names the teacher run itself; drop --run")
    parent = load_run(args.distill or args.run, logdir=args.logdir)
    common = {"batch_size": args.batch_size, "verbose": 2}
    if args.lr is not None:
        common["lr"] = args.lr
    if args.qat:
        from kerascls.optimize import qat

        result = qat(parent, epochs=args.epochs or 2, **common)
    elif args.prune is not None:
        from kerascls.optimize import prune

        result = prune(
            parent,
            sparsity=args.prune,
            epochs=args.epochs or 2,
            int8=not args.no_int8,
            self_distill=args.self_distill,
            **common,
        )
    else:
        from kerascls.optimize import distill

        try:
            student_kwargs = json.loads(args.student_kwargs)
        except json.JSONDecodeError as err:
            raise KerasclsError(f"--student-kwargs is not valid JSON: {err}") from None
        result = distill(
            parent,
            student=args.student,
            student_kwargs=student_kwargs,
            epochs=args.epochs or 30,
            temperature=args.temperature,
            alpha=args.alpha,
            **common,
        )
    run = result.save(args.logdir)
    for key, value in result.metrics.items():
        if not isinstance(value, dict):
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"\nrun folder: {run.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
