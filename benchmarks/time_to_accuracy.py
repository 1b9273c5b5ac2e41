"""Time to accuracy on CIFAR-10: kerascls's fast recipe against airbench94 on this CPU.

Both train on the same 45,000 JPEGs and are scored on the same 5,000 held-out images
(kerascls's stratified, seeded hold-out; the peer gets them as --train/--test folders of
links). The peer is airbench94_cpu.py, Keller Jordan's airbench94 ported to the CPU
(shared/bench/; it needs PyTorch: `python3 -m venv ../torchenv &&
../torchenv/bin/pip install torch==2.13.0 numpy pillow`). kerascls runs as a user runs
it: `python examples/cifar10.py --data-dir DIR`, then `kerascls-export --tflite --int8`.

Precision, like for like: kerascls's fast recipe computes in bf16 where the CPU has
AVX512_BF16 or AMX ("auto"), float32 elsewhere, and the peer runs in the same precision
(`--bf16`, its forward passes under `torch.autocast("cpu", torch.bfloat16)`, as the
original airbench94 runs in half precision on a GPU). `--peer-precision both` runs the peer
twice; the ratio is always taken against the peer in kerascls's own precision (run.json's
dtype_policy). The first line names the CPU: the two frameworks gain very differently
from bf16 on CPUs with and without AMX.

Timing, like for like as far as the two allow:
- peer: airbench_train_seconds (whitening init + training steps, including its first
  epoch's preprocessing; no decoding, no evaluation);
- kerascls: the seconds of model.fit (training steps, including the first epoch's JPEG
  decoding and a validation pass after every epoch), from run.json. "to X%" figures add up
  epoch_seconds in history.csv until validation accuracy first reaches X.

Usage:
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10                 # both
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10 --peer-log peer.log
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10 --runs logs/cifar10/airbench-*
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10 --seeds 0 1 2 --skip-peer
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10 --recipe fast --time-budget 15m
    python benchmarks/time_to_accuracy.py --data-dir ../cifar10 --peer-precision both

Prints one line per run and, with the peer, the ratio of training times.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "bench" / "airbench94_cpu.py"
PEER_PYTHON = ROOT.parent / "torchenv" / "bin" / "python"


def split_folders(data_dir: str, out: Path) -> Path:
    """out/train and out/val: links to kerascls's own train / validation split files."""
    import kerascls  # noqa: F401  (oneDNN before TensorFlow)
    from kerascls.data import load_image_folder

    data = load_image_folder(data_dir, validation_size=5000, seed=0)
    for name, split in (("train", data.train), ("val", data.validation)):
        for i, (path, label) in enumerate(zip(split.paths, split.labels, strict=True)):
            folder = out / name / data.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            os.symlink(path, folder / f"{i:05d}{Path(path).suffix}")
    return out


def run_peer(folders: Path, log: Path, precision: str) -> dict:
    command = [str(PEER_PYTHON), str(PEER), "--train", str(folders / "train")]
    command += ["--test", str(folders / "val")] + (["--bf16"] if precision == "bf16" else [])
    print("$", " ".join(command), flush=True)
    with open(log, "w") as f:
        f.write(f"# precision {precision}\n")
        f.flush()
        subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True)
    return parse_peer(log)


def parse_peer(log: Path) -> dict:
    text = log.read_text()
    values = dict(re.findall(r"^(airbench_\w+) ([0-9.]+)$", text, re.M))
    epochs = re.findall(r"val_acc ([0-9.]+)\s+train_seconds ([0-9.]+)", text)
    return {
        # written by run_peer; a log from elsewhere is named for its precision
        "precision": "bf16" if "# precision bf16" in text or "bf16" in log.name else "float32",
        "train_seconds": float(values["airbench_train_seconds"]),
        "accuracy": float(values["airbench_test_acc"]),
        "tta_accuracy": float(values["airbench_test_acc_tta"]),
        "curve": [(float(s), float(a)) for a, s in epochs if a != "nan"],
    }


def run_kerascls(data_dir: str, logdir: Path, seed: int, extra: list[str]) -> dict:
    command = [sys.executable, str(ROOT / "examples" / "cifar10.py"), "--data-dir", data_dir]
    command += ["--seed", str(seed), "--logdir", str(logdir), *extra]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return read_run(max(logdir.glob("*/*/run.json"), key=os.path.getmtime).parent)


def history_curve(run_dir: Path) -> tuple[list[dict], list[tuple[float, float]]]:
    """history.csv's rows, and (seconds of training so far, validation accuracy) per epoch."""
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    elapsed, curve = 0.0, []
    for row in rows:
        elapsed += float(row["epoch_seconds"])
        curve.append((elapsed, float(row["val_accuracy"])))
    return rows, curve


def int8_accuracy(run_dir: Path) -> float | None:
    """`kerascls-export --tflite --int8` on the run; the INT8 file's checked accuracy."""
    export = [sys.executable, "-m", "kerascls.cli.export", "--tflite", "--int8"]
    subprocess.run([*export, "--run", str(run_dir)], stdout=subprocess.DEVNULL, check=False)
    manifest = run_dir / "exports" / "manifest.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("exports", []):
            if (entry["format"], entry["precision"]) == ("tflite", "int8"):
                return entry.get("checks", {}).get("accuracy")
    return None


def read_run(run_dir: Path) -> dict:
    """The figures of a finished examples/cifar10.py run, after exporting it to INT8."""
    info = json.loads((run_dir / "run.json").read_text())
    metrics = info["metrics"]["validation"]
    rows, curve = history_curve(run_dir)
    int8 = int8_accuracy(run_dir)
    return {
        "run": str(run_dir),
        "seed": info["recipe"]["seed"],
        "recipe": info["recipe"].get("name") or info["recipe"]["model"],
        "precision": "bf16" if "bfloat16" in info.get("dtype_policy", "") else "float32",
        "epochs": len(rows),
        "train_seconds": float(info["train_seconds"]),
        "accuracy": metrics["accuracy"],
        "tta_accuracy": metrics.get("flip_tta_accuracy"),
        "int8_accuracy": int8,
        "curve": curve,
    }


def seconds_to(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((s for s, accuracy in curve if accuracy >= target), None)


def describe(name: str, result: dict) -> str:
    name = f"{name} ({result.get('precision', '?')})"
    line = f"{name:<32} {result['train_seconds']:6.0f} s  accuracy {result['accuracy']:.2%}"
    if result.get("tta_accuracy") is not None:
        line += f"  TTA {result['tta_accuracy']:.2%}"
    if result.get("int8_accuracy") is not None:
        line += f"  INT8 {result['int8_accuracy']:.2%}"
    for target in (0.89, 0.90, 0.91):
        seconds = seconds_to(result["curve"], target)
        line += f"  to {target:.0%}: " + ("-" if seconds is None else f"{seconds:.0f} s")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the CIFAR-10 JPEG folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--recipe", default="fast", help="kerascls recipe (examples/cifar10.py)")
    parser.add_argument("--time-budget", help="pass --time-budget to the kerascls runs")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument(
        "--peer-precision",
        choices=["auto", "bf16", "float32", "both"],
        default="auto",
        help="auto: bf16 where the CPU has AVX512_BF16 or AMX, as kerascls's fast recipe",
    )
    parser.add_argument("--peer-log", type=Path, nargs="+", help="airbench94_cpu.py logs to reuse")
    parser.add_argument(
        "--runs", type=Path, nargs="+", help="finished kerascls run folders to report instead"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-time-to-accuracy"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from kerascls.train.runtime import cpu_has_bf16, describe_cpu

    print(f"# CPU: {describe_cpu()}", flush=True)

    extra = ["--recipe", args.recipe]
    if args.time_budget:
        extra += ["--time-budget", args.time_budget]
    precisions = {
        "auto": ["bf16" if cpu_has_bf16() else "float32"],
        "both": ["bf16", "float32"],
    }.get(args.peer_precision, [args.peer_precision])
    peers: list[dict] = []
    if args.peer_log:
        peers = [parse_peer(log) for log in args.peer_log]
    elif not args.skip_peer:
        with tempfile.TemporaryDirectory() as tmp:
            folders = split_folders(args.data_dir, Path(tmp))
            for precision in precisions:
                log = args.out / f"airbench94-{precision}.log"
                peers.append(run_peer(folders, log, precision))
    if args.runs:
        ours = [read_run(run_dir) for run_dir in args.runs]
    else:
        ours = [run_kerascls(args.data_dir, args.out / "logs", seed, extra) for seed in args.seeds]
    results = {"cpu": describe_cpu(), "peers": peers, "kerascls": ours}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))

    print()
    print(f"# CPU: {describe_cpu()}")
    for peer in peers:
        print(describe("airbench94_cpu.py", peer))
    for result in ours:
        recipe = result.get("recipe", args.recipe)
        print(describe(f"kerascls {recipe} s{result['seed']}", result))
    accuracies = [r["accuracy"] for r in ours]
    if len(ours) > 1:
        print(
            f"kerascls {args.recipe}: accuracy {statistics.mean(accuracies):.2%} "
            f"± {statistics.stdev(accuracies):.2%} over seeds {[r['seed'] for r in ours]}; "
            f"median {statistics.median(r['train_seconds'] for r in ours):.0f} s"
        )
    for precision in sorted({r["precision"] for r in ours}):
        same = [p for p in peers if p["precision"] == precision]
        if not same:
            print(f"# no {precision} peer ran: no like-for-like ratio for the {precision} runs")
            continue
        seconds = statistics.median(r["train_seconds"] for r in ours if r["precision"] == precision)
        ratio = seconds / same[0]["train_seconds"]
        print(f"training-time ratio kerascls / airbench94, both {precision}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
