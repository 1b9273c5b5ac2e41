"""Model comparison at one time budget: every architecture trained as a user would train it.

Issue 22's table: for each model, `kerascls-train --time-budget B` on the same folder, then
`kerascls-export --tflite --int8` and `kerascls-bench` of the INT8 file. One line per model:

    model | recipe | params | epochs | accuracy (validation, or test/ when the folder
    has one) | images/s train |
    INT8 accuracy | INT8 TFLite size | INT8 b1 latency (p50)

The models run one after another, never side by side (2 cores: a neighbour would halve
both). Each gets the same budget from start to evaluated run, so the comparison is "what
does this architecture give in B minutes on this machine", the question a user asks.

Recipes: resnet20 and airbench ("fast") have their own presets; vit_tiny and
convnext_nano have theirs ("vit", "convnext": AdamW, warm-up cosine); mobilenetv3_small
and efficientnet_b0, which have none, train with the "convnext" recipe (AdamW, warm-up
cosine, label smoothing), the usual from-scratch choice for both.

Usage:
    python benchmarks/compare_models.py --data-dir ../cifar10 --budget 5m
    python benchmarks/sample_photo_folder.py ../photos6 --source skimage --per-class 100
    python benchmarks/compare_models.py --data-dir ../photos6 --budget 2m --image-size 64 \\
        --out benchmark-models-photos6
    python benchmarks/compare_models.py --runs benchmark-models/logs/*/*   # report only
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

# model -> the recipe it trains with
MODELS: dict[str, str] = {
    "resnet20": "resnet20",
    "mobilenetv3_small": "convnext",
    "efficientnet_b0": "convnext",
    "vit_tiny": "vit",
    "convnext_nano": "convnext",
    "airbench": "fast",
}


def train(model: str, data_dir: str, budget: str, logdir: Path, extra: list[str]) -> Path:
    """One budgeted kerascls-train run, as a user runs it; returns its run folder."""
    name = f"{model}-{budget}"
    command = [sys.executable, "-m", "kerascls.cli.train", "--data-dir", data_dir]
    command += ["--recipe", MODELS[model], "--model", model, "--time-budget", budget]
    command += ["--logdir", str(logdir), "--run-name", name, *extra]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return next(logdir.glob(f"*/{name}"))


def export_and_bench(run_dir: Path, rebench: bool = True) -> dict:
    """INT8 TFLite export (checked on the validation split; once), then its batch-1
    latency (again unless `rebench` is False and a benchmark.csv exists)."""
    int8 = run_dir / "exports" / "model_int8.tflite"
    table = run_dir / "exports" / "benchmark.csv"
    if not int8.is_file():
        export = [sys.executable, "-m", "kerascls.cli.export", "--run", str(run_dir)]
        subprocess.run([*export, "--tflite", "--int8"], check=False, stdout=subprocess.DEVNULL)
    figures: dict = {}
    if not int8.is_file():
        return figures
    if rebench or not table.is_file():
        bench = [sys.executable, "-m", "kerascls.cli.bench", str(int8), "--run", str(run_dir)]
        bench += ["--repeats", "200", "--limit", "1000"]
        subprocess.run(bench, check=False, stdout=subprocess.DEVNULL)
    if table.is_file():
        with open(table) as f:
            row = next(csv.DictReader(f))
        figures["int8_latency_ms"] = float(row["latency_p50_ms"])
        figures["int8_size_bytes"] = int(row["size_bytes"])
    manifest = json.loads((run_dir / "exports" / "manifest.json").read_text())
    for entry in manifest.get("exports", []):
        if (entry["format"], entry["precision"]) == ("tflite", "int8"):
            checks = entry.get("checks", {})
            figures["int8_accuracy"] = checks.get("accuracy")
            # the export check's own float figure, on the same images as the INT8 one
            figures["int8_float_accuracy"] = checks.get("keras_accuracy")
            figures.setdefault("int8_size_bytes", entry.get("size_bytes"))
    return figures


def read_run(run_dir: Path) -> dict:
    info = json.loads((run_dir / "run.json").read_text())
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    steps = info.get("planned_steps")
    batch = info["recipe"]["batch_size"]
    per_epoch = -(-info["split_sizes"]["train"] // batch)
    # a budget's last epoch may have stopped part-way: its speed covers a few steps only
    partial = bool(steps and steps % per_epoch and len(rows) > 1)
    rows_for_speed = rows[:-1] if partial else rows
    speeds = sorted(float(r["images_per_second"]) for r in rows_for_speed)
    split = "test" if "test" in info["metrics"] else "validation"
    return {
        "run": str(run_dir),
        "model": info["model"]["name"],
        "recipe": MODELS.get(info["model"]["name"], "?"),
        "params": info["model"]["params"],
        "epochs": round(steps * batch / info["split_sizes"]["train"], 1) if steps else len(rows),
        "train_seconds": info["train_seconds"],
        # the split the run was scored on: test/ when the folder has one, else validation
        "split": split,
        "accuracy": info["metrics"][split]["accuracy"],
        # the median whole epoch's speed through model.fit: the pipeline, the validation
        # pass and, in the first epoch, JPEG decoding included
        "train_images_per_second": speeds[(len(speeds) - 1) // 2] if speeds else None,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| model | recipe | params | epochs | accuracy | images/s train "
        "| INT8 accuracy (vs float) | INT8 TFLite size | INT8 b1 latency (p50) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        int8, float_ = r.get("int8_accuracy"), r.get("int8_float_accuracy")
        drop = "" if int8 is None or float_ is None else f" ({100 * (int8 - float_):+.2f})"
        size = r.get("int8_size_bytes")
        latency = r.get("int8_latency_ms")
        lines.append(
            f"| {r['model']} | {r['recipe']} | {r['params'] / 1e6:.2f} M | {r['epochs']} "
            f"| {r['accuracy']:.2%} ({r['split']}) | {r['train_images_per_second'] or 0:.0f} "
            f"| {'-' if int8 is None else f'{int8:.2%}{drop}'} "
            f"| {'-' if size is None else f'{size / 1e6:.2f} MB'} "
            f"| {'-' if latency is None else f'{latency:.2f} ms'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="an image folder (e.g. the CIFAR-10 JPEG folder)")
    parser.add_argument("--budget", default="5m", help="time budget per model (default 5m)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--image-size", type=int, help="passed to kerascls-train")
    parser.add_argument("--out", type=Path, default=Path("benchmark-models"))
    parser.add_argument("--runs", type=Path, nargs="+", help="finished runs to report instead")
    parser.add_argument(
        "--rebench",
        action="store_true",
        help="with --runs: time the INT8 files again (e.g. on a quiet machine)",
    )
    args = parser.parse_args(argv)
    if not args.runs and not args.data_dir:
        parser.error("give --data-dir (to train) or --runs (to report finished runs)")
    args.out.mkdir(parents=True, exist_ok=True)
    extra = ["--image-size", str(args.image_size)] if args.image_size else []

    results = []
    for run_dir in args.runs or []:
        results.append({**read_run(run_dir), **export_and_bench(run_dir, args.rebench)})
    for model in [] if args.runs else args.models:
        run_dir = train(model, args.data_dir, args.budget, args.out / "logs", extra)
        results.append({**read_run(run_dir), **export_and_bench(run_dir)})
        print(table(results[-1:]).splitlines()[-1], flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
