"""What `kerascls-train --data-dir photos` does on a user's folder of own photos.

Builds folders of real photographs laid out as users lay theirs out (train/<class>/*.jpg,
test/<class>/*.jpg), runs the training CLI on each exactly as a user types it, exports
full-INT8 TFLite from the run, and prints one table: wall time (start-up and final
evaluation included), epochs, image size, model, test accuracy, macro-F1, INT8 accuracy
and check, and the plan the trainer chose.

The photographs (no download; only local data):
- CIFAR-10 training JPEGs (../cifar10/train/<class>/, unpacked from
  ../shared/data/cifar10-train.tar.gz). They are real photographs, but only 32x32: each is
  upscaled with bicubic interpolation, 80% to exactly 150x150 and 20% to random sides of
  100-300 px (random aspect ratio), and saved as JPEG quality 90. So they have the pixel
  size of a user's ~150-px photos but NO MORE DETAIL THAN 32 PX: a proxy for a user's
  folder, not the real thing.
- the photographs Python packages here ship: scikit-image's colour photos, scikit-learn's
  two sample images and matplotlib's grace_hopper.jpg. Class = the source photograph,
  samples = random crops (60-420 px sides, any aspect, random flips), as in
  benchmarks/sample_photo_folder.py.

Folders (fixed seeds and fixed pairs, chosen before any result was seen):
    pets2              CIFAR cat vs dog, 3,210 train + 801 test: a folder a user reported
    wild2              CIFAR deer vs automobile, 3,210 + 801: classes that look different
    cifar10-3k         all 10 CIFAR classes, 300 train + 80 test each
    small2-train-only  CIFAR cat vs dog, 150 a class, train/ only, + 1 corrupt .jpg to skip
    samples8           the package photographs (9), 100 train + 30 test crops each
    others8            the 8 CIFAR classes other than cat and dog, 300 + 80 each: the run
                       that the init:DURATION setting starts from (--init-from)

Usage:
    python benchmarks/photo_folders.py                                 # everything: hours
    python benchmarks/photo_folders.py --folders pets2 --settings budget:5m
    python benchmarks/photo_folders.py --folders pets2 --settings budget:2m init:2m
        # --init-from the no-flag others8 run against training from scratch, equal time
    python benchmarks/photo_folders.py --folders wild2 --settings noflags 'flags:--low-res 0.5'
        # progressive resizing against the plan's one size, same folder, same run
    python benchmarks/photo_folders.py --build-only --root ../photo-folders
    python benchmarks/photo_folders.py --quick --root /tmp/pf --logdir /tmp/pf-logs
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sample_photo_folder import SKIMAGE_PHOTOS, source_photos  # benchmarks/ is sys.path[0]

DEFAULT_SETTINGS = ("noflags", "budget:2m", "budget:5m")
QUICK_SETTINGS = ("budget:40s",)
QUICK_FOLDERS = ("pets2", "small2-train-only")  # a test/ split, and train/ only + corrupt
QUICK_PER_CLASS, QUICK_TEST_PER_CLASS = 20, 6
MPL_PHOTOS = ("grace_hopper.jpg",)  # the other sample_data images: a logo, a 128-px pack
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
MARKER = ".complete"
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class FolderSpec:
    name: str
    classes: tuple[str, ...]  # CIFAR classes; () for the package photographs
    train: int  # photos in train/: the folder's total, or a class's with per_class
    test: int  # 0: train/ only
    seed: int
    per_class: bool = False
    corrupt: bool = False


FOLDERS = (
    FolderSpec("pets2", ("cat", "dog"), 3210, 801, seed=1),
    FolderSpec("wild2", ("deer", "automobile"), 3210, 801, seed=2),
    FolderSpec("cifar10-3k", CIFAR10, 300, 80, seed=3, per_class=True),
    FolderSpec("small2-train-only", ("cat", "dog"), 150, 0, seed=4, per_class=True, corrupt=True),
    FolderSpec("samples8", (), 100, 30, seed=5, per_class=True),
    # the source of the --init-from check: the 8 CIFAR classes that are not cat or dog
    FolderSpec(
        "others8",
        tuple(c for c in CIFAR10 if c not in ("cat", "dog")),
        300,
        80,
        seed=6,
        per_class=True,
    ),
)
INIT_SOURCE = "others8"


def quick_spec(spec: FolderSpec) -> FolderSpec:
    """The same folder with 20 photos a class (and 6 test photos where it has test/)."""
    test = QUICK_TEST_PER_CLASS if spec.test else 0
    return FolderSpec(
        f"{spec.name}-quick", spec.classes, QUICK_PER_CLASS, test, spec.seed, True, spec.corrupt
    )


def split_counts(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` classes as evenly as possible (801 -> 401 + 400)."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def class_counts(spec: FolderSpec, classes: int) -> list[tuple[int, int]]:
    if spec.per_class:
        return [(spec.train, spec.test)] * classes
    return list(
        zip(split_counts(spec.train, classes), split_counts(spec.test, classes), strict=True)
    )


# --- building the folders ------------------------------------------------------------------


def upscaled(path: Path, rng: np.random.Generator) -> Image.Image:
    """A 32-px CIFAR photo at a user's photo size: mostly 150x150, some 100-300 px a side."""
    if rng.random() < 0.8:
        size = (150, 150)
    else:
        size = (int(rng.integers(100, 301)), int(rng.integers(100, 301)))
    with Image.open(path) as image:
        return image.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def write_cifar_folder(spec: FolderSpec, cifar: Path, dest: Path) -> None:
    rng = np.random.default_rng(spec.seed)
    for name, (train, test) in zip(
        spec.classes, class_counts(spec, len(spec.classes)), strict=True
    ):
        files = sorted((cifar / "train" / name).glob("*.jpg"))
        if len(files) < train + test:
            raise SystemExit(
                f"{cifar / 'train' / name} has {len(files)} JPEGs, need {train + test}"
            )
        chosen = rng.permutation(len(files))[: train + test]  # train and test never overlap
        for split, picks in (("train", chosen[:train]), ("test", chosen[train:])):
            if len(picks) == 0:
                continue
            folder = dest / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in picks:
                upscaled(files[i], rng).save(folder / f"{name}_{i:04d}.jpg", quality=90)
    if spec.corrupt:
        # a truncated download: a JPEG start marker, then junk
        junk = b"\xff\xd8\xff\xe0 this is not a photograph \x00\x13\x37"
        (dest / "train" / spec.classes[0] / "corrupt.jpg").write_bytes(junk)


def package_photos() -> dict[str, np.ndarray]:
    """Class name -> RGB photograph, from every package photo that loads without network."""
    import skimage.data

    photos: dict[str, np.ndarray] = {}
    for name in SKIMAGE_PHOTOS:  # one at a time: a photo skimage must fetch may fail alone
        try:
            photos[name] = getattr(skimage.data, name)()
        except Exception as err:  # pooch raises several kinds when offline
            print(f"skipped skimage.data.{name}: {type(err).__name__}: {err}")
    photos.update(source_photos("sklearn"))
    from matplotlib import cbook

    for filename in MPL_PHOTOS:
        try:
            with cbook.get_sample_data(filename) as f, Image.open(f) as image:
                photos[Path(filename).stem] = np.asarray(image.convert("RGB"))
        except OSError as err:
            print(f"skipped matplotlib sample {filename}: {err}")
    return photos


def random_crop(photo: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A crop of 60-420 px a side (any aspect), flipped half the time, as sample_photo_folder."""
    height, width = photo.shape[:2]
    h, w = int(rng.integers(60, min(420, height))), int(rng.integers(60, min(420, width)))
    top, left = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
    crop = Image.fromarray(photo[top : top + h, left : left + w])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return crop


def write_samples_folder(spec: FolderSpec, dest: Path) -> None:
    # one generator for the whole folder (sample_photo_folder.write_photo_folder takes a
    # source name, not these nine photos, so its crop loop cannot be reused as it stands)
    rng = np.random.default_rng(spec.seed)
    photos = package_photos()
    for (name, photo), (train, test) in zip(
        photos.items(), class_counts(spec, len(photos)), strict=True
    ):
        for split, count in (("train", train), ("test", test)):
            if count == 0:
                continue
            folder = dest / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                random_crop(photo, rng).save(folder / f"{name}_{i:04d}.jpg", quality=90)


def build_folder(spec: FolderSpec, root: Path, cifar: Path) -> Path:
    """Build `spec` under `root` once; a killed build never leaves a folder that looks done."""
    final = root / spec.name
    if (final / MARKER).exists():
        return final
    building = root / f".{spec.name}.building"
    for stale in (building, final):  # a killed build's leftovers
        shutil.rmtree(stale, ignore_errors=True)
    building.mkdir(parents=True)
    started = time.perf_counter()
    if spec.classes:
        write_cifar_folder(spec, cifar, building)
    else:
        write_samples_folder(spec, building)
    (building / MARKER).write_text(datetime.datetime.now().isoformat(timespec="seconds"))
    building.rename(final)
    print(f"built {final} in {time.perf_counter() - started:.0f} s")
    return final


def count_photos(folder: Path, split: str) -> int:
    files = (folder / split).glob("*/*") if (folder / split).is_dir() else []
    return sum(1 for f in files if f.suffix.lower() in IMAGE_SUFFIXES)


# --- running the CLI -----------------------------------------------------------------------


def setting_flags(setting: str, init_run: Path | None = None) -> list[str]:
    """The flags of a setting: noflags, budget:5m, or init:5m (the same budget, starting
    from `init_run`, the no-flag run on the others8 folder)."""
    if setting == "noflags":
        return []
    if setting.startswith("budget:"):
        return ["--time-budget", setting.split(":", 1)[1]]
    if setting.startswith("init:"):
        source = ["--init-from", str(init_run)] if init_run else []
        return [*source, "--time-budget", setting.split(":", 1)[1]]
    if setting.startswith("flags:"):
        return shlex.split(setting.split(":", 1)[1])
    raise SystemExit(
        f"unknown setting {setting!r}: use noflags, budget:DURATION (budget:5m), "
        f"init:DURATION or 'flags:FLAGS' (e.g. 'flags:--low-res 0.5 --seed 2')"
    )


def run_logged(cmd: list[str], log: Path) -> tuple[int, float, str, str]:
    """Run `cmd`; write its output to `log`; exit status, wall seconds, stdout, last error."""
    started = time.perf_counter()  # from before the process starts to its exit: what users see
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    log.write_text(f"$ {' '.join(cmd)}\n\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode, wall, proc.stdout, lines[-1] if lines else ""


def find_run(stdout: str, logdir: Path, run_name: str) -> Path | None:
    for line in stdout.splitlines():  # the CLI prints "run folder: PATH" last
        if line.startswith("run folder:"):
            return Path(line.split(":", 1)[1].strip())
    found = [p.parent for p in logdir.rglob("run.json") if p.parent.name == run_name]
    return found[0] if found else None


def train_result(run: Path) -> dict[str, Any]:
    info = json.loads((run / "run.json").read_text())
    metrics = info.get("metrics") or {}
    split = "test" if "test" in metrics else "validation"
    recipe = info.get("recipe") or {}
    return {
        "split": split,
        "metrics": metrics.get(split, {}),
        "train_seconds": info.get("train_seconds"),
        "epochs": info.get("epochs_completed"),
        "model": info.get("model"),
        "input_shape": info.get("input_shape"),
        "recipe": {k: recipe.get(k) for k in ("batch_size", "epochs", "time_budget", "model")},
        "plan": info.get("plan"),  # being added to run.json; absent in older runs
    }


def export_int8(run: Path, log: Path) -> dict[str, Any]:
    """kerascls-export --tflite --int8 on the run; the manifest's INT8 TFLite entry."""
    cmd = [sys.executable, "-m", "kerascls.cli.export", "--tflite", "--int8", "--run", str(run)]
    code, wall, _, last = run_logged(cmd, log)
    manifest = run / "exports" / "manifest.json"
    if not manifest.exists():
        return {"status": "error", "reason": last, "exit": code, "wall_seconds": wall}
    entries = json.loads(manifest.read_text()).get("exports", [])
    entry = next((e for e in entries if (e["format"], e["precision"]) == ("tflite", "int8")), {})
    checks = entry.get("checks", {})
    return {
        "status": entry.get("status", "missing"),  # exit 1 = check failed; still a result
        "exit": code,
        "wall_seconds": round(wall, 1),
        "accuracy": checks.get("accuracy"),
        "keras_accuracy": checks.get("keras_accuracy"),  # same images (validation split)
        "images": checks.get("images"),
        "reason": entry.get("reason") or checks.get("reason"),
    }


def run_one(
    folder: Path, setting: str, logdir: Path, logs: Path, init_run: Path | None = None
) -> dict[str, Any]:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_name = f"{folder.name}-{re.sub(r'[^A-Za-z0-9.]+', '', setting)}-{stamp}"
    cmd = [sys.executable, "-m", "kerascls.cli.train", "--data-dir", str(folder)]
    cmd += ["--logdir", str(logdir), "--run-name", run_name, *setting_flags(setting, init_run)]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    code, wall, stdout, last = run_logged(cmd, logs / f"{run_name}.train.log")
    result: dict[str, Any] = {
        "folder": folder.name,
        "classes": sum(1 for d in (folder / "train").iterdir() if d.is_dir()),
        "train_photos": count_photos(folder, "train"),
        "test_photos": count_photos(folder, "test"),
        "setting": setting,
        "wall_seconds": round(wall, 1),
        "run_name": run_name,
    }
    if setting.startswith(("budget:", "init:")):
        from kerascls.train.budget import parse_duration  # the CLI's own reading of the flag

        budget = parse_duration(setting.split(":", 1)[1])
        result["budget_deviation_pct"] = round(100.0 * (wall - budget) / budget, 1)
    run = find_run(stdout, logdir, run_name)
    if code != 0 or run is None or not (run / "run.json").exists():
        result["error"] = f"kerascls-train exit {code}: {last}"
        print(f"  FAILED: {result['error']}")
        return result
    result["run"] = str(run)
    result.update(train_result(run))
    result["int8"] = export_int8(run, logs / f"{run_name}.export.log")
    print(f"  {wall / 60:.1f} min, {result['split']} accuracy {result['metrics'].get('accuracy')}")
    return result


# --- the table -----------------------------------------------------------------------------


def compact_plan(plan: Any) -> str:
    """The plan's settings on one line; its notes (long sentences) go under the table."""
    if not isinstance(plan, dict):
        return str(plan) if plan else "-"
    parts = []
    for key, value in plan.items():
        if key == "notes":
            continue
        if isinstance(value, list):
            value = "x".join(str(v) for v in value)
        elif isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key}={value}")
    notes = len(plan.get("notes") or [])
    return " ".join(parts) + (f" (+{notes} notes)" if notes else "")


def fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def table_row(r: dict[str, Any]) -> str:
    wall = f"{r['wall_seconds'] / 60:.1f}"
    if "budget_deviation_pct" in r:
        wall += f" ({r['budget_deviation_pct']:+.0f}%)"
    head = [r["folder"], str(r["classes"]), f"{r['train_photos']}/{r['test_photos']}"]
    head += [r["setting"], wall]
    if "error" in r:
        return "| " + " | ".join([*head, "-", "-", "-", "-", "-", "-", r["error"][:120]]) + " |"
    shape = r.get("input_shape") or []
    size = "x".join(str(s) for s in shape[:2]) or "-"
    m = r["metrics"]
    acc = fmt(m.get("accuracy")) + (" (val)" if r["split"] == "validation" else "")
    q = r["int8"]
    int8 = f"{fmt(q.get('accuracy'))} ({fmt(q.get('keras_accuracy'))}) {q['status']}"
    model = r.get("model")
    model = model.get("name") if isinstance(model, dict) else model  # {name, kwargs, params}
    cells = [str(r.get("epochs")), size, str(model), acc, fmt(m.get("macro_f1")), int8]
    return "| " + " | ".join([*head, *cells, compact_plan(r.get("plan"))]) + " |"


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        "\n| folder | classes | train/test | setting | wall min (vs budget) | epochs | image "
        "| model | test acc | macro-F1 | INT8 acc (Keras, same images) check | plan |"
    )
    print("|---|---:|---:|---|---:|---:|---|---|---:|---:|---|---|")
    for r in results:
        print(table_row(r))
    print()
    for r in results:  # the trainer's reasons, as the user reads them in the log
        plan = r.get("plan") if isinstance(r.get("plan"), dict) else {}
        for note in plan.get("notes") or []:
            print(f"- {r['folder']} {r['setting']}: {note}")
    print(
        "\nwall: from before the process starts to its exit (start-up, training, final "
        "evaluation). test acc: on test/, or '(val)' on the held-out validation split where "
        "there is no test/. INT8: kerascls-export's check, on the validation split."
    )


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path("../photo-folders"), help="folders go here")
    p.add_argument("--cifar", type=Path, default=Path("../cifar10"), help="has train/<class>/")
    p.add_argument("--folders", nargs="+", choices=[f.name for f in FOLDERS])
    p.add_argument("--settings", nargs="+", help=f"default {' '.join(DEFAULT_SETTINGS)}")
    p.add_argument("--logdir", type=Path, default=Path("logs/photo-folders"))
    p.add_argument("--out", type=Path, default=Path("benchmark-photo-folders.json"))
    p.add_argument("--build-only", action="store_true", help="build the folders, train nothing")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 photos a class, budget:40s")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    every = [f.name for f in FOLDERS if f.name != INIT_SOURCE]
    names = args.folders or (QUICK_FOLDERS if args.quick else every)
    specs = [f for f in FOLDERS if f.name in names]
    if args.quick:
        specs = [quick_spec(f) for f in specs]
    settings = args.settings or (QUICK_SETTINGS if args.quick else DEFAULT_SETTINGS)
    for setting in settings:
        setting_flags(setting)  # a typo fails now, not after an hour of training
    if any(s.classes for s in specs) and not (args.cifar / "train").is_dir():
        raise SystemExit(
            f"no {args.cifar}/train: mkdir -p ../cifar10 && "
            "tar -xzf ../shared/data/cifar10-train.tar.gz -C ../cifar10"
        )
    cpu = ""
    if not args.build_only:
        from kerascls.train.runtime import describe_cpu  # imports TensorFlow: only to train

        cpu = describe_cpu()
        print(cpu, flush=True)
    folders = [build_folder(s, args.root.resolve(), args.cifar) for s in specs]
    for folder in folders:
        print(f"{folder}: {count_photos(folder, 'train')} + {count_photos(folder, 'test')} files")
    if args.build_only:
        return
    logdir = args.logdir.resolve()
    logs = args.out.with_name(args.out.stem + "-logs")  # each subprocess's stdout/stderr
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"cpu": cpu, "started": datetime.datetime.now().isoformat()}
    report["results"] = []
    init_run = None
    if any(s.startswith("init:") for s in settings):  # first, the run to start from
        spec = next(f for f in FOLDERS if f.name == INIT_SOURCE)
        source = run_one(
            build_folder(spec, args.root.resolve(), args.cifar), "noflags", logdir, logs
        )
        report["results"].append(source)
        init_run = Path(source["run"]) if "run" in source else None
    for folder in folders:
        for setting in settings:
            report["results"].append(run_one(folder, setting, logdir, logs, init_run))
            args.out.write_text(json.dumps(report, indent=2))  # a killed run keeps what it did
    print(cpu)
    print_table(report["results"])
    print(f"\nresults: {args.out}; subprocess logs: {logs}/")


if __name__ == "__main__":
    main()
