"""kerascls-serve: serve a trained or exported classifier over HTTP, with metrics.

kerascls-serve                                   newest run's best export on 127.0.0.1:8000
kerascls-serve --run logs/cifar10/resnet20-...   that run's best export
kerascls-serve --model model_int8.tflite --port 9000
kerascls-serve --candidate new.tflite --split 0.1      10% of traffic to the candidate
kerascls-serve --shadow new.tflite                     candidate on a copy of the traffic
kerascls-serve --workers 4                             4 server processes on one port

The best export is the run's INT8 TFLite file when kerascls-export wrote one that passed
its checks, else its next best export (ONNX INT8, other TFLite, ONNX, SavedModel), else
its best.keras. --model serves any .tflite, .onnx, .keras file or SavedModel folder.

Routes: POST /v1/predict (multipart files or a raw image body; header X-Client-Id makes
the A/B assignment sticky), GET /v1/models, /healthz, /readyz, /metrics (Prometheus).

--workers N runs N server processes on the port (uvicorn's workers), each with its own
models; the parent checks the models load, writes the settings to a JSON file the workers
read (KERASCLS_SERVE_SETTINGS names it) and gives them a fresh PROMETHEUS_MULTIPROC_DIR, so
/metrics adds up every worker's counts. SIGTERM or Ctrl-C stops accepting, finishes the
requests in flight (up to 5 s), then exits.

Exit status: 2 on errors (no run, no export, a model that does not load, a bad flag).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kerascls.cli.common import import_tensorflow_quietly, run_command

SETTINGS_ENV = "KERASCLS_SERVE_SETTINGS"  # the JSON file a worker reads its flags from
WORKER_APP = "kerascls.cli.serve:worker_app"  # the factory uvicorn's workers call
GRACEFUL_SHUTDOWN_S = 5  # finish the requests in flight for up to this long


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-serve",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", default=None, help="a run folder (default: the newest run)")
    which.add_argument("--model", default=None, help="a model file or SavedModel folder")
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the port, each with its own models (default: 1)",
    )
    parser.add_argument("--candidate", default=None, help="a second model for A/B (--split)")
    parser.add_argument(
        "--split",
        type=float,
        default=None,
        help="the candidate's share of traffic, 0-1 (default with --candidate: 0.1)",
    )
    parser.add_argument("--shadow", default=None, help="a model run on a copy of the traffic")
    parser.add_argument("--max-batch", type=int, default=16, help="images per model call (16)")
    parser.add_argument(
        "--max-wait-ms", type=float, default=2.0, help="wait for a batch to fill (2 ms)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=64, help="images waiting per model; then 503 (64)"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=16,
        help="predict requests served at once; past it 503 before reading the body (16)",
    )
    parser.add_argument("--no-batching", action="store_true", help="one model call per request")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a request may wait")
    parser.add_argument("--top-k", type=int, default=3, help="classes per image (default: 3)")
    parser.add_argument("--max-files", type=int, default=16, help="images per request (16)")
    parser.add_argument(
        "--max-body-mb", type=float, default=10.0, help="largest request body in MB (10)"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=40_000_000,
        help="largest image in pixels, read from its header before decoding (40,000,000)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="runtime threads per model (1: batching gives the parallelism, and the "
        "event loop and decoding need the other cores)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.split is not None and args.candidate is None:
        parser.error("--split needs --candidate")
    if args.split is not None and not 0.0 <= args.split <= 1.0:
        parser.error(f"--split {args.split} must be between 0 and 1")
    positive = ("max_batch", "max_queue", "max_in_flight", "top_k", "max_files", "max_pixels")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.timeout <= 0 or args.max_body_mb <= 0 or args.max_wait_ms < 0:
        parser.error("--timeout and --max-body-mb must be > 0, --max-wait-ms >= 0")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")


def _live_path(args: argparse.Namespace):
    from kerascls.runs import load_run
    from kerascls.serve import best_export

    if args.model:
        return Path(args.model)
    return best_export(load_run(args.run, logdir=args.logdir))


def _load(path, threads, what: str):
    """A ServedModel with its runner loaded now: a bad file fails before the server starts."""
    from kerascls.export.runners import load_runner
    from kerascls.serve import ServedModel

    if Path(path).is_dir() or Path(path).suffix == ".keras":  # SavedModel, Keras: TF runs them
        import_tensorflow_quietly()
    start = time.perf_counter()
    runner = load_runner(path, threads=threads)
    seconds = time.perf_counter() - start
    logging.getLogger("kerascls.serve").info(
        "%s: %s (%s, %s) loaded in %.2f s", what, path, runner.format, runner.precision, seconds
    )
    return ServedModel(path, runner=runner, load_seconds=seconds, threads=threads)


def _require_serving_packages() -> None:
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        from kerascls.errors import KerasclsError

        raise KerasclsError(
            f"kerascls-serve needs {err.name}: pip install -r requirements.txt (or pip "
            "install -e .[serve])"
        ) from None


def _check_sizes(live, **others) -> None:
    """Every other model must take the live model's image size."""
    for what, other in others.items():
        if other is not None and other.runner.input_size != live.runner.input_size:
            from kerascls.errors import KerasclsError

            raise KerasclsError(
                f"the {what} takes {other.runner.input_size} images but the live model takes "
                f"{live.runner.input_size}; serve models trained on one image size"
            )


def _settings(args: argparse.Namespace, has_candidate: bool):
    """The ServeSettings the flags ask for."""
    from kerascls.serve import Limits, ServeSettings

    batching = not args.no_batching
    return ServeSettings(
        max_batch=args.max_batch if batching else 1,
        max_wait_ms=args.max_wait_ms if batching else 0.0,
        max_queue=args.max_queue,
        max_in_flight=args.max_in_flight,
        timeout_s=args.timeout,
        top_k=args.top_k,
        split=(0.1 if args.split is None else args.split) if has_candidate else 0.0,
        limits=Limits(
            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
            max_files=args.max_files,
            max_pixels=args.max_pixels,
        ),
    )


def _app(args: argparse.Namespace):
    """The app the flags ask for, its models loaded (a bad file fails here)."""
    from kerascls.serve import create_app

    live = _load(_live_path(args), args.threads, "live")
    candidate = _load(args.candidate, args.threads, "candidate") if args.candidate else None
    shadow = _load(args.shadow, args.threads, "shadow") if args.shadow else None
    _check_sizes(live, candidate=candidate, shadow=shadow)
    settings = _settings(args, has_candidate=candidate is not None)
    return create_app(live, candidate=candidate, shadow=shadow, settings=settings), live.path


def worker_app():
    """The app of one worker of `--workers N` (uvicorn calls this factory in each worker
    process): the flags come from the JSON file that SETTINGS_ENV names, written by the
    parent. TensorFlow is imported only where the model's format needs it (_load)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("kerascls").setLevel(logging.INFO)
    with open(os.environ[SETTINGS_ENV]) as f:
        args = argparse.Namespace(**json.load(f))
    app, _ = _app(args)
    return app


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    _require_serving_packages()
    if args.workers > 1:
        return _serve_workers(args)
    app, path = _app(args)

    import uvicorn

    _announce(path, args)
    uvicorn.run(app, **_uvicorn_options(args))
    return 0


def _uvicorn_options(args: argparse.Namespace) -> dict:
    return {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level if args.log_level != "info" else "warning",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }


def _announce(path, args: argparse.Namespace) -> None:
    workers = f" with {args.workers} workers" if args.workers > 1 else ""
    print(
        f"serving {path} on http://{args.host}:{args.port}{workers} "
        f"(POST /v1/predict, GET /v1/models /healthz /readyz /metrics)",
        file=sys.stderr,
        flush=True,
    )


def _serve_workers(args: argparse.Namespace) -> int:
    """uvicorn's multi-process mode: `args.workers` processes on one port, each building
    its app with `worker_app`. The models are loaded here once first, so a bad file is an
    error now rather than workers failing (and being restarted) forever; then dropped."""
    app, path = _app(args)
    del app
    args.model, args.run = str(path), None  # every worker serves the file checked here
    import uvicorn

    folder = Path(tempfile.mkdtemp(prefix="kerascls-serve-"))
    metrics_dir = folder / "metrics"
    metrics_dir.mkdir()
    settings = folder / "settings.json"
    settings.write_text(json.dumps(vars(args)))
    saved = {name: os.environ.get(name) for name in (SETTINGS_ENV, "PROMETHEUS_MULTIPROC_DIR")}
    os.environ[SETTINGS_ENV] = str(settings)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # before any worker starts
    try:
        _announce(path, args)
        uvicorn.run(WORKER_APP, factory=True, workers=args.workers, **_uvicorn_options(args))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    # TensorFlow only for the formats that need it (_load): a .tflite or .onnx server
    # holds the runtime, the decoder and the web framework, not a 1 GB library
    return run_command(_main, argv, tensorflow=False)


if __name__ == "__main__":
    raise SystemExit(main())
