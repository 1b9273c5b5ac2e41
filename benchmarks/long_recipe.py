"""The long recipe's ablation: the fast recipe plus one ingredient at a time, on CIFAR-10.

Each variant is the `fast` recipe (kerascls/train/presets.py) with ingredients joined by
"+", each one a change airbench95/96 make to airbench94:

    eN          N epochs, the warm-up kept at fast's 23% of the run
    w128        airbench95's widths 128/384/384, with its lower learning rate (10 instead
                of 11.5 per 1024 images, the same decay per step)
    w96         widths 96/320/320 at the same learning rate as w128 (between the two)
    cutoutN     an N x N cutout on every training image
    translateN  reflected translations of up to N pixels (fast: 2)
    lsX         label smoothing X (fast: 0.2)
    nolookahead no lookahead averaging (fast averages every 5 steps)
    altflip     airbench's alternating flips instead of random ones
    distillN    distillation (--distill-from) from N `fast` runs of seeds 1..N, trained
                first if --logdir does not hold them yet (their time is the variant's too)
    teachersN   `--teachers N`, the product's way: the run trains its own N `fast`
                teachers (seeds s x N + 1..N for seed s) into --logdir/cifar10/teachers/,
                reused when already there; the line's wall minutes include them

Every variant trains in its own process on the same 45,000 JPEGs and is scored on the
same 5,000 held-out images (kerascls's stratified hold-out, seed 0), as
examples/cifar10.py does; the run folders go to --logdir. One JSON line per run is
appended to --out (variant, seed, epochs, training seconds, validation and flip-TTA
accuracy, the last epoch's training accuracy, INT8 with --int8), and the table of every
line so far is printed: a sitting can add variants to an earlier one's file.

    python benchmarks/long_recipe.py --data-dir ../cifar10 --variants e16 e16+cutout12
    python benchmarks/long_recipe.py --data-dir ../cifar10 --variants e16 --seeds 1 2
    python benchmarks/long_recipe.py --table                  # the table only

Training seconds are model.fit's (run.json's train_seconds), on whatever else the machine
was doing: quote them for runs made alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_to_accuracy import history_curve, int8_accuracy  # the same reading of a run

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmark-long-recipe" / "results.jsonl"
WALL_SECONDS: dict[str, float] = {}  # run name -> seconds its training process took

# fast's own values (kerascls/train/recipe.py), that the ingredients change
FAST_AUGMENT = {"horizontal_flip": True, "crop_padding": 2, "crop_fill": "reflect"}
FAST_WARMUP_SHARE = 0.23
# w128 is the "long" preset's network at its learning rate and weight decay
# (kerascls/train/presets.py: airbench95's 10 per 1024 images instead of 11.5)


def recipe_overrides(variant: str, teachers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Recipe fields a variant changes from `fast` (`teachers`: the run folders a
    distillN ingredient distills from).

    Example:
        >>> recipe_overrides("e20+cutout12")["augment"]["cutout"]
        12
        >>> recipe_overrides("e20")["warmup_epochs"]
        4.6
    """
    overrides: dict[str, Any] = {}
    augment = dict(FAST_AUGMENT)
    for ingredient in variant.split("+"):
        if ingredient == "fast":
            continue
        if ingredient.startswith("e") and ingredient[1:].isdigit():
            epochs = int(ingredient[1:])
            overrides.update(epochs=epochs, warmup_epochs=round(FAST_WARMUP_SHARE * epochs, 2))
        elif ingredient in ("w128", "w96"):
            widths = (128, 384, 384) if ingredient == "w128" else (96, 320, 320)
            overrides.update(model_kwargs={"widths": widths})
            from kerascls.train.presets import RECIPES

            wide = RECIPES["long"]
            overrides.update(lr=wide.lr, weight_decay=wide.weight_decay)
        elif ingredient.startswith("cutout"):
            augment["cutout"] = int(ingredient[len("cutout") :])
        elif ingredient.startswith("translate"):
            augment["crop_padding"] = int(ingredient[len("translate") :])
        elif ingredient.startswith("ls"):
            overrides["label_smoothing"] = float(ingredient[2:])
        elif ingredient == "nolookahead":
            overrides["lookahead"] = False
        elif ingredient == "altflip":
            augment["alternating_flip"] = True
        elif ingredient.startswith("distill") and ingredient[len("distill") :].isdigit():
            overrides["distill_from"] = teachers
        elif ingredient.startswith("teachers") and ingredient[len("teachers") :].isdigit():
            overrides["teachers"] = int(ingredient[len("teachers") :])
        else:
            raise SystemExit(f"error: unknown ingredient {ingredient!r} in {variant!r}")
    if augment != FAST_AUGMENT:
        overrides["augment"] = augment
    return overrides


def teacher_count(variant: str) -> int:
    """N of a variant's distillN ingredient; 0 without one."""
    found = [i for i in variant.split("+") if i.startswith("distill")]
    return int(found[0][len("distill") :]) if found else 0


def train_variant(
    variant: str, seed: int, data_dir: str, logdir: Path, teachers: tuple[str, ...] = ()
) -> Path:
    """Train one variant in a child process (a fresh TensorFlow each); its run folder."""
    overrides = recipe_overrides(variant, teachers)
    code = (
        "import json, sys\n"
        "from kerascls.cli.common import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "from kerascls.train import Recipe, fit\n"
        "from kerascls.train.runtime import process_started\n"
        "overrides = json.loads(sys.argv[1])\n"
        "if 'distill_from' in overrides:\n"
        "    overrides['distill_from'] = tuple(overrides['distill_from'])\n"
        "recipe = Recipe.preset('fast', **overrides, data_dir=sys.argv[2], seed=int(sys.argv[3]),\n"
        "    logdir=sys.argv[4], run_name=sys.argv[5], set_by_user=tuple(overrides))\n"
        "fit(recipe, verbose=2, started=process_started())\n"
    )
    run_name = f"{variant}-s{seed}"
    args = [json.dumps(overrides), data_dir, str(seed), str(logdir), run_name]
    print(f"$ train {variant} seed {seed}: {json.dumps(overrides)}", flush=True)
    started = time.perf_counter()
    with open(logdir / f"{run_name}.log", "w") as log:
        subprocess.run([sys.executable, "-c", code, *args], stdout=log, stderr=log, check=True)
    WALL_SECONDS[run_name] = time.perf_counter() - started
    return next(logdir.glob(f"*/{run_name}"))  # fit names the folder logdir/<data>/<run>


def read_result(variant: str, run_dir: Path, int8: bool) -> dict[str, Any]:
    info = json.loads((run_dir / "run.json").read_text())
    metrics = info["metrics"]["validation"]
    rows, curve = history_curve(run_dir)
    return {
        "variant": variant,
        "seed": info["recipe"]["seed"],
        "run": str(run_dir),
        "epochs": len(rows),
        "train_seconds": float(info["train_seconds"]),
        "accuracy": metrics["accuracy"],
        "tta_accuracy": metrics.get("flip_tta_accuracy"),
        "train_accuracy": float(rows[-1]["accuracy"]),
        "int8_accuracy": int8_accuracy(run_dir) if int8 else None,
        # the whole command (process start, any teachers, training, evaluation)
        "wall_seconds": WALL_SECONDS.get(run_dir.name),
        # teachersN: how many of the teachers this command trained (the others were reused,
        # and their time is not in wall_seconds)
        "teachers_trained": teachers_trained_by(run_dir),
        "curve": curve,
    }


def teachers_trained_by(run_dir: Path) -> int:
    log = run_dir.parent.parent / f"{run_dir.name}.log"  # train_variant's
    text = log.read_text(errors="replace") if log.is_file() else ""
    return text.count("=== teacher ")


def print_table(lines: list[dict[str, Any]]) -> None:
    """One row per variant: its seeds' mean and spread, minutes, training accuracy."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_variant.setdefault(line["variant"], []).append(line)
    print(
        "| variant | seeds | epochs | minutes | wall minutes | validation | flip TTA "
        "| train acc | INT8 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant, runs in by_variant.items():
        accuracies = [r["accuracy"] for r in runs]
        spread = f" ± {statistics.stdev(accuracies):.2%}" if len(runs) > 1 else ""
        tta = [r["tta_accuracy"] for r in runs if r["tta_accuracy"] is not None]
        int8 = [r["int8_accuracy"] for r in runs if r["int8_accuracy"] is not None]
        wall = [r["wall_seconds"] for r in runs if r.get("wall_seconds")]
        cells = [
            variant,
            ", ".join(str(r["seed"]) for r in runs),
            str(runs[0]["epochs"]),
            f"{statistics.median(r['train_seconds'] for r in runs) / 60:.1f}",
            f"{statistics.median(wall) / 60:.1f}" if wall else "-",
            f"{statistics.mean(accuracies):.2%}{spread}",
            f"{statistics.mean(tta):.2%}" if tta else "-",
            f"{statistics.mean(r['train_accuracy'] for r in runs):.1%}",
            f"{statistics.mean(int8):.2%}" if int8 else "-",
        ]
        print("| " + " | ".join(cells) + " |")


def record(variant: str, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Append a finished run's figures to --out; print its line."""
    result = read_result(variant, run_dir, args.int8)
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")
    print(
        f"{variant} seed {result['seed']}: {result['accuracy']:.2%} in "
        f"{result['train_seconds'] / 60:.1f} min",
        flush=True,
    )
    return result


def ensure_teachers(count: int, args: argparse.Namespace) -> tuple[str, ...]:
    """The run folders of `fast` seeds 1..count under --logdir, trained where missing
    (each recorded as a `fast` row of its seed)."""
    teachers = []
    for seed in range(1, count + 1):
        found = [p for p in args.logdir.glob(f"*/fast-s{seed}") if (p / "run.json").is_file()]
        finished = [p for p in found if json.loads((p / "run.json").read_text()).get("metrics")]
        if finished:
            teachers.append(str(finished[0].resolve()))
            continue
        run_dir = train_variant("fast", seed, args.data_dir, args.logdir)
        record("fast", run_dir, args)
        teachers.append(str(run_dir.resolve()))
    return tuple(teachers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the CIFAR-10 JPEG folder (train/<class>/)")
    parser.add_argument("--variants", nargs="+", default=[], help="e.g. e16 e16+cutout12")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--int8", action="store_true", help="export each run to INT8 too")
    parser.add_argument("--logdir", type=Path, default=ROOT / "benchmark-long-recipe" / "runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results, JSON lines")
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    args = parser.parse_args(argv)
    for variant in args.variants:
        recipe_overrides(variant)  # an unknown ingredient stops before hours of training
    if args.variants and not args.data_dir:
        parser.error("--data-dir is required to train variants")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.logdir.mkdir(parents=True, exist_ok=True)
    if not args.table:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for variant in args.variants:
            teachers = ensure_teachers(teacher_count(variant), args)
            for seed in args.seeds:
                run_dir = train_variant(variant, seed, args.data_dir, args.logdir, teachers)
                record(variant, run_dir, args)
    lines = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    print_table(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
