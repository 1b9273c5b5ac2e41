"""Time to accuracy on CIFAR-10: kerascls's fast recipe against airbench94 on this CPU.

Both train on the same 45,000 JPEGs and are scored on the same 5,000 held-out images
(kerascls's stratified, seeded hold-out; the peer gets them as --train/--test folders of
links). The peer is airbench94_cpu.py, Keller Jordan's airbench94 ported to the CPU
(shared/bench/; it needs PyTorch: `python3 -m venv ../torchenv &&
../torchenv/bin/pip install torch==2.13.0 numpy pillow`). kerascls runs as a user runs
it: `python examples/cifar10.py --data-dir DIR`, then `kerascls-export --tflite --int8`.

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
    sys.path.insert(0, str(ROOT))
    import kerascls  # noqa: F401  (oneDNN before TensorFlow)
    from kerascls.data import load_image_folder

    data = load_image_folder(data_dir, validation_size=5000, seed=0)
    for name, split in (("train", data.train), ("val", data.validation)):
        for i, (path, label) in enumerate(zip(split.paths, split.labels, strict=True)):
            folder = out / name / data.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            os.symlink(path, folder / f"{i:05d}{Path(path).suffix}")
    return out


def run_peer(folders: Path, log: Path) -> dict:
    command = [str(PEER_PYTHON), str(PEER), "--train", str(folders / "train")]
    command += ["--test", str(folders / "val")]
    print("$", " ".join(command), flush=True)
    with open(log, "w") as f:
        subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True)
    return parse_peer(log)


def parse_peer(log: Path) -> dict:
    text = log.read_text()
    values = dict(re.findall(r"^(airbench_\w+) ([0-9.]+)$", text, re.M))
    epochs = re.findall(r"val_acc ([0-9.]+)\s+train_seconds ([0-9.]+)", text)
    return {
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


def read_run(run_dir: Path) -> dict:
    """The figures of a finished examples/cifar10.py run, after exporting it to INT8."""
    info = json.loads((run_dir / "run.json").read_text())
    metrics = info["metrics"]["validation"]
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    elapsed, curve = 0.0, []
    for row in rows:
        elapsed += float(row["epoch_seconds"])
        curve.append((elapsed, float(row["val_accuracy"])))
    export = [sys.executable, "-m", "kerascls.cli.export", "--tflite", "--int8"]
    subprocess.run([*export, "--run", str(run_dir)], stdout=subprocess.DEVNULL, check=False)
    int8 = None
    manifest = run_dir / "exports" / "manifest.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("exports", []):
            if (entry["format"], entry["precision"]) == ("tflite", "int8"):
                int8 = entry.get("checks", {}).get("accuracy")
    return {
        "run": str(run_dir),
        "seed": info["recipe"]["seed"],
        "recipe": info["recipe"].get("name") or info["recipe"]["model"],
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
    line = f"{name:<22} {result['train_seconds']:6.0f} s  accuracy {result['accuracy']:.2%}"
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
    parser.add_argument("--peer-log", type=Path, help="an airbench94_cpu.py log to reuse")
    parser.add_argument(
        "--runs", type=Path, nargs="+", help="finished kerascls run folders to report instead"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmark-time-to-accuracy"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    extra = ["--recipe", args.recipe]
    if args.time_budget:
        extra += ["--time-budget", args.time_budget]
    peer = None
    if args.peer_log:
        peer = parse_peer(args.peer_log)
    elif not args.skip_peer:
        with tempfile.TemporaryDirectory() as tmp:
            peer = run_peer(split_folders(args.data_dir, Path(tmp)), args.out / "airbench94.log")
    if args.runs:
        ours = [read_run(run_dir) for run_dir in args.runs]
    else:
        ours = [run_kerascls(args.data_dir, args.out / "logs", seed, extra) for seed in args.seeds]
    (args.out / "results.json").write_text(json.dumps({"peer": peer, "kerascls": ours}, indent=1))

    print()
    if peer:
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
    if peer:
        seconds = statistics.median(r["train_seconds"] for r in ours)
        print(f"training-time ratio kerascls / airbench94: {seconds / peer['train_seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
