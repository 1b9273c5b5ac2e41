"""How long should I train? Validation accuracy against minutes, per recipe, on CIFAR-10.

Each point is a run a user would make: `python examples/cifar10.py --data-dir DIR
--recipe R --time-budget Nm`, where the budget counts from start to evaluated run and the
recipe's schedule is fitted to it (kerascls/train/budget.py). The accuracy is the
exported model's (each image once, no TTA) on the 5,000 held-out images; the minutes on
the plot are the budget, and the table also gives the training seconds of run.json.
A recipe may carry `+teachersN` (`long+teachers3`: `--recipe long --teachers 3`, whose
teachers train inside the budget).

    python benchmarks/accuracy_vs_minutes.py --data-dir ../cifar10 \\
        --recipes fast long resnet20 --minutes 5 15 30 60
    python benchmarks/accuracy_vs_minutes.py --plot docs/accuracy_vs_minutes.png

One JSON line per run is appended to --out, so points can be added across sittings; the
plot and the table are drawn from every line there. Runs are slow (the points of one
recipe add up to 110 minutes on 2 cores); make them alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_recipe import read_result, teachers_trained_by

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmark-long-recipe" / "accuracy_vs_minutes.jsonl"


def recipe_flags(recipe: str) -> list[str]:
    """examples/cifar10.py's flags for one of the curve's recipes: a preset, or a preset
    with `+teachersN` (`--teachers N`: the teachers take their share of the budget).

    Example:
        >>> recipe_flags("fast"), recipe_flags("long+teachers3")
        (['--recipe', 'fast'], ['--recipe', 'long', '--teachers', '3'])
    """
    preset, _, teachers = recipe.partition("+teachers")
    return ["--recipe", preset] + (["--teachers", teachers] if teachers else [])


def train_point(recipe: str, minutes: int, seed: int, data_dir: str, logdir: Path) -> Path:
    """One budgeted run of examples/cifar10.py; its run folder."""
    import subprocess

    run_name = f"{recipe}-{minutes}m-s{seed}"
    command = [sys.executable, str(ROOT / "examples" / "cifar10.py"), "--data-dir", data_dir]
    command += [*recipe_flags(recipe), "--time-budget", f"{minutes}m", "--seed", str(seed)]
    command += ["--logdir", str(logdir), "--run-name", run_name]
    print("$", " ".join(command), flush=True)
    with open(logdir / f"{run_name}.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=log, check=True)
    return next(logdir.glob(f"*/{run_name}"))


def plot(points: list[dict], path: Path, one_command: list[dict] = ()) -> None:
    """Accuracy against the budget's minutes, one line per recipe; `one_command`: runs of
    long_recipe.py that are not budgeted (`--teachers`), at their wall minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    # the best point at each budget is labelled above its marker, the others below
    best: dict[int, float] = {}
    for p in points:
        best[p["minutes"]] = max(best.get(p["minutes"], 0.0), p["accuracy"])
    for recipe in dict.fromkeys(p["recipe"] for p in points):
        mine = sorted((p for p in points if p["recipe"] == recipe), key=lambda p: p["minutes"])
        (line,) = axes.plot(
            [p["minutes"] for p in mine],
            [100 * p["accuracy"] for p in mine],
            marker="o",
            label=" ".join(recipe_flags(recipe)[1:]),  # long+teachers3: "long --teachers 3"
        )
        # the values themselves: near 90% the lines are a few tenths apart
        for p in mine:
            axes.annotate(
                f"{100 * p['accuracy']:.1f}",
                (p["minutes"], 100 * p["accuracy"]),
                textcoords="offset points",
                xytext=(5, 5 if p["accuracy"] == best[p["minutes"]] else -11),
                fontsize=7,
                color=line.get_color(),
            )
    if one_command:
        axes.scatter(
            [r["wall_seconds"] / 60 for r in one_command],
            [100 * r["accuracy"] for r in one_command],
            marker="*",
            s=90,
            color="black",
            label="long --teachers 3 (one command, wall minutes)",
            zorder=3,
        )
        for r in one_command:
            axes.annotate(
                f"{100 * r['accuracy']:.1f}",
                (r["wall_seconds"] / 60, 100 * r["accuracy"]),
                textcoords="offset points",
                xytext=(-8, -12),
                fontsize=7,
            )
    axes.set_xscale("log")
    axes.set_xlim(4, 80)  # room for the stars just under 60 and for the labels
    accuracies = [100 * p["accuracy"] for p in [*points, *one_command]]
    axes.set_ylim(min(accuracies) - 2, max(accuracies) + 1.5)  # room for the labels
    ticks = sorted({5, 15, 30, 60} | {p["minutes"] for p in points})  # the four
    axes.set_xticks(ticks, [str(t) for t in ticks])
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no 2x10^1 labels
    axes.set_xlabel("minutes, start to evaluated run (--time-budget), 2 CPU cores")
    axes.set_ylabel("validation accuracy, % (5,000 images)")
    axes.set_title("CIFAR-10 JPEGs: accuracy against time")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    figure.savefig(tmp)
    tmp.replace(path)
    print(f"wrote {path}")


def _one_command_runs(path: Path) -> list[dict]:
    """long_recipe.py's runs of `--teachers` (teachersN variants) with their wall time."""
    if not path.is_file():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in lines:  # lines written before the field: read from the command's log
        r.setdefault("teachers_trained", teachers_trained_by(Path(r["run"])))
    # only the commands that trained all their teachers: their wall time is the recipe's
    return [
        r
        for r in lines
        if "teachers" in r["variant"]
        and r.get("wall_seconds")
        and r.get("teachers_trained") == int(r["variant"].rsplit("teachers", 1)[1])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the CIFAR-10 JPEG folder (train/<class>/)")
    parser.add_argument("--recipes", nargs="+", default=[])
    parser.add_argument("--minutes", type=int, nargs="+", default=[5, 15, 30, 60])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", type=Path, default=ROOT / "benchmark-long-recipe" / "budget")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results, JSON lines")
    parser.add_argument("--plot", type=Path, help="draw the plot here (PNG)")
    parser.add_argument(
        "--one-command",
        type=Path,
        default=ROOT / "benchmark-long-recipe" / "results.jsonl",
        help="long_recipe.py's results: its teachersN runs are drawn at their wall minutes",
    )
    args = parser.parse_args(argv)
    if args.recipes and not args.data_dir:
        parser.error("--data-dir is required to train")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.logdir.mkdir(parents=True, exist_ok=True)
    for recipe in args.recipes:
        for minutes in args.minutes:
            run_dir = train_point(recipe, minutes, args.seed, args.data_dir, args.logdir)
            point = read_result(recipe, run_dir, int8=False)
            point.update(recipe=recipe, minutes=minutes)
            with open(args.out, "a") as f:
                f.write(json.dumps(point) + "\n")
    points = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    print("| recipe | budget | epochs | training minutes | validation | flip TTA |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in sorted(points, key=lambda p: (p["recipe"], p["minutes"])):
        tta = f"{p['tta_accuracy']:.2%}" if p.get("tta_accuracy") is not None else "-"
        print(
            f"| {p['recipe']} | {p['minutes']} min | {p['epochs']} "
            f"| {p['train_seconds'] / 60:.1f} | {p['accuracy']:.2%} | {tta} |"
        )
    if args.plot:
        plot(points, args.plot, _one_command_runs(args.one_command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
