"""kerascls-export: turn the newest run's best model into deployable files, each verified.

kerascls-export --tflite --int8              full-INT8 TFLite, calibrated on the run's images
kerascls-export --tflite --onnx --savedmodel  float32 files for every runtime
kerascls-export --onnx --int8 --tensorrt --fp16   several formats and precisions at once
kerascls-export --jetson --fp16              ONNX + build_engine.sh to run on the Jetson

Files go into the run's exports/ folder with a sidecar JSON each (class names, input size,
preprocessing) and exports/manifest.json with the checks: the maximum difference from the
Keras model for float files, top-1 agreement and accuracy for quantized ones.
Exit status: 0 all passed, 1 a check failed (e.g. INT8 lost more than --max-drop), 2 an
error (bad flag, no run, a format that cannot be exported here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kerascls.cli.common import run_command

# The table imports no TensorFlow (see its docstring), so --help stays fast.
from kerascls.export.formats import FORMATS, PRECISIONS, formats_with


def _precision_help(precision: str, text: str) -> str:
    """The precision's text, plus the format flags that take it when not all of them do."""
    names = formats_with(precision)
    if len(names) == len(FORMATS):
        return text
    return f"{text} ({', '.join('--' + name for name in names)})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-export",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("formats (one or more)")
    for spec in FORMATS.values():
        group.add_argument(f"--{spec.name}", action="store_true", help=spec.description)
    group = parser.add_argument_group("precisions (default float32; several allowed)")
    for name, text in PRECISIONS.items():
        group.add_argument(f"--{name}", action="store_true", help=_precision_help(name, text))
    parser.add_argument(
        "--io",
        dest="io_dtype",
        default="int8",
        choices=("int8", "uint8", "float32"),
        help="input/output type of full-INT8 TFLite files (default int8)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=300,
        metavar="N",
        help="training images, stratified, that calibrate INT8 (default 300)",
    )
    parser.add_argument(
        "--verify-images",
        type=int,
        default=None,
        metavar="N",
        help="held-out images to check on (default: the whole validation split)",
    )
    parser.add_argument(
        "--max-drop",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="accuracy points an INT8 export may lose before the command fails (default 1.0)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the checks")
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="then time every export (latency p50/p95, throughput, accuracy): kerascls-bench",
    )
    parser.add_argument("--run", default=None, help="a run folder (default: the newest run)")
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument(
        "--model", default=None, help="a .keras file to export instead of the run's best.keras"
    )
    parser.add_argument("--out", default=None, help="output folder (default: <run>/exports)")
    return parser


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from kerascls.errors import KerasclsError
    from kerascls.export import ExportOptions, export_model, plan_exports
    from kerascls.export.report import print_manifest
    from kerascls.runs import load_run

    formats = [name for name in FORMATS if getattr(args, name)]
    precisions = [name for name in PRECISIONS if getattr(args, name)]
    plan = plan_exports(formats, precisions)  # a bad combination fails before any loading
    if args.calibration_images < 1:
        raise KerasclsError(
            f"--calibration-images must be at least 1, got {args.calibration_images}"
        )
    run = load_run(args.run, logdir=args.logdir)
    model = None
    if args.model:
        from kerascls.models import load_model

        model = load_model(args.model)
    options = ExportOptions(
        io_dtype=args.io_dtype,
        opset=args.opset,
        calibration_images=args.calibration_images,
        verify_images=args.verify_images,
        max_drop=args.max_drop,
        threads=args.threads,
    )
    print(f"exporting {args.model or run.checkpoint('best')} ({run.model_name}, {run.path})")
    manifest = export_model(
        run, plan, model=model, out_dir=args.out, options=options, source=args.model
    )
    print_manifest(manifest)
    if args.benchmark:
        from kerascls.cli.bench import main as bench_main

        # best.keras (the baseline) and every export the manifest lists, as kerascls-bench
        # does on its own; an --out folder elsewhere is named file by file.
        bench_args = ["--run", str(run.path)]
        if args.out:
            bench_args += [
                str(Path(e["path"]) if Path(e["path"]).is_absolute() else run.path / e["path"])
                for e in manifest.entries
                if e["status"] != "error"
            ]
        bench_main(bench_args)
    if manifest.errors:
        return 2
    return 1 if manifest.failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
