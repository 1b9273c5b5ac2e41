"""kerascls-predict: classify image files with a trained or exported model.

kerascls-predict cat.jpg photos/                 newest run's best.keras, CSV to stdout
kerascls-predict photos/ --model logs/.../exports/model_int8.tflite --format json
kerascls-predict photos/ --top-k 5 --out predictions.csv

The model may be a .keras file, a SavedModel folder, .tflite, .onnx or a TensorRT .engine.
Class names come from the file's metadata (written by kerascls-export), else from its run
(--run, or the run folder the file sits in), else they are numbered class_0, class_1, ...

CSV columns: path, top1, p1, top2, p2, ...; JSON: {"model", "format", "precision",
"class_names", "predictions": [{"path", "top_k": [{"class", "index", "probability"}]}],
"failed": [{"path", "error"}]}.

Exit status: 0 when every image was predicted; 1 when some images could not be read (each
is named in a warning on stderr, the others are still predicted and written); 2 on errors
(no model, no readable image, a bad flag).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from kerascls.cli.common import run_command
from kerascls.runs.atomic import write_text_atomic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-predict",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--model", default=None, help="model file or SavedModel folder (default: best.keras)"
    )
    parser.add_argument("--run", default=None, help="a run folder (default: the newest run)")
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument("--top-k", type=int, default=3, help="classes per image (default: 3)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    parser.add_argument("--out", default=None, help="output file (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the runtime")
    return parser


def _run_holding(model: Path):
    """The run folder an exported file sits in (<run>/best.keras, <run>/exports/x), if any."""
    from kerascls.runs import load_run

    for folder in (model.parent, model.parent.parent):
        if (folder / "run.json").is_file():
            return load_run(folder)
    return None


def _model_and_run(args: argparse.Namespace):
    from kerascls.runs import load_run

    if args.model:
        model = Path(args.model)
        return model, (load_run(args.run) if args.run else _run_holding(model.resolve()))
    run = load_run(args.run, logdir=args.logdir)
    return run.checkpoint("best"), run


def _csv_text(predictions, top_k: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["path"]
    for i in range(1, top_k + 1):
        header += [f"top{i}", f"p{i}"]
    writer.writerow(header)
    for prediction in predictions:
        row = [str(prediction.path)]
        for name, probability in prediction.top_k:
            row += [name, f"{probability:.6f}"]
        writer.writerow(row)
    return buffer.getvalue()


def _json_text(runner, class_names, predictions, failures) -> str:
    index = {name: i for i, name in enumerate(class_names)}
    document = {
        "model": str(runner.path),
        "format": runner.format,
        "precision": runner.precision,
        "class_names": class_names,
        "predictions": [
            {
                "path": str(p.path),
                "top_k": [
                    {"class": name, "index": index[name], "probability": round(prob, 6)}
                    for name, prob in p.top_k
                ],
            }
            for p in predictions
        ],
        "failed": [{"path": str(f.path), "error": f.reason} for f in failures],
    }
    return json.dumps(document, indent=2) + "\n"


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    write_text_atomic(out, text)  # a reader never sees half a file


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_k < 1 or args.batch_size < 1:
        parser.error("--top-k and --batch-size must be >= 1")

    import logging

    from kerascls.data.images import find_images
    from kerascls.export.runners import load_runner, predict_files
    from kerascls.export.runners.files import class_names_or_numbers

    if args.threads:  # before TensorFlow runs anything: its thread pools are fixed then
        from kerascls.export.runners.keras_runner import limit_tensorflow_threads

        limit_tensorflow_threads(args.threads)
    find_images(args.images)  # a mistyped path fails before the model is loaded
    model, run = _model_and_run(args)
    runner = load_runner(model, threads=args.threads)
    names = class_names_or_numbers(
        runner.class_names or (run.class_names if run else None), runner.num_classes
    )
    predictions, failures = predict_files(
        runner, args.images, class_names=names, top_k=args.top_k, batch_size=args.batch_size
    )
    log = logging.getLogger("kerascls.predict")
    for failure in failures:
        log.warning("skipped: %s", failure.reason)
    k = len(predictions[0].top_k)
    if args.format == "csv":
        _write(_csv_text(predictions, k), args.out)
    else:
        _write(_json_text(runner, names, predictions, failures), args.out)
    if args.out:
        print(f"model: {runner.path} ({runner.format}, {runner.precision})")
        print(f"wrote {len(predictions)} predictions to {args.out}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
