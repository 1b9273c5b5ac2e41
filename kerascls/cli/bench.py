"""kerascls-bench: compare a run's model files: size, batch-1 latency, throughput, accuracy.

kerascls-bench                              best.keras + every export of the newest run
kerascls-bench exports/model.onnx exports/model_int8.tflite --run logs/cifar10/resnet20-...
kerascls-bench --threads 1 --repeats 500   single-threaded, more timed calls

Every model runs on the run's validation images. Latency is one image at a time
(predict_one; median and 95th percentile after a warm-up); throughput is images/s at
--batch-size; "agree" is top-1 agreement with the first model (best.keras by default).
With no files, exports that cannot run here (TensorRT engines without a GPU) are skipped
with a warning. The table is printed and written as CSV (default:
<run>/exports/benchmark.csv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kerascls.cli.common import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-bench",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="model files (default: the run's models)"
    )
    parser.add_argument("--run", default=None, help="a run folder (default: the newest run)")
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per runtime")
    parser.add_argument(
        "--repeats", type=int, default=200, help="timed batch-1 calls per model (default: 200)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="batch size of the throughput pass"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use a stratified sample of N validation images"
    )
    parser.add_argument(
        "--csv", default=None, help="CSV output (default: <run>/exports/benchmark.csv)"
    )
    return parser


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("threads", "repeats", "batch_size", "limit"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")

    from kerascls.errors import KerasclsError
    from kerascls.export.bench import BENCHMARK_FILE, benchmark_run, format_table, write_csv

    if args.threads:  # before TensorFlow runs anything: its thread pools are fixed then
        from kerascls.export.runners.keras_runner import limit_tensorflow_threads

        limit_tensorflow_threads(args.threads)
    from kerascls.runs import load_run

    run = load_run(args.run, logdir=args.logdir)
    print(f"run: {run.path}")
    rows = benchmark_run(
        run,
        args.files or None,
        limit=args.limit,
        threads=args.threads,
        repeats=args.repeats,
        batch_size=args.batch_size,
    )
    if not rows:
        raise KerasclsError("no model could be benchmarked on this machine")
    print(f"{rows[0]['images']} validation images, {args.repeats} timed batch-1 calls each")
    print(format_table(rows))
    target = Path(args.csv) if args.csv else run.path / "exports" / BENCHMARK_FILE
    print(f"wrote {write_csv(rows, target)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
