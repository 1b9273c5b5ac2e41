"""kill -9 at random moments, then --resume: how many runs carry on.

A user's training run dies to the OOM killer, a closed laptop or a preempted VM at any
instant, including while a checkpoint is being written. This trains one run on an image
folder, kills it with SIGKILL at a random moment, checks that best.keras and last.keras
load, resumes it with `kerascls-train --resume RUN`, and repeats; at the end it lets the
run finish and checks that history.csv holds every epoch exactly once.

Usage:
    python benchmarks/kill_resume.py                          # 20 kills, a 1,000-image folder
    python benchmarks/kill_resume.py --kills 5 --epochs 10

Prints one line per kill and a summary: kills, resumes that worked, loadable checkpoints.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, images: int, seed: int = 0) -> Path:
    """root/train/<class>/: 4 classes of noisy colour patches, 32x32 PNGs."""
    rng = np.random.default_rng(seed)
    for i in range(images):
        label = i % 4
        folder = root / "train" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
        pixels[..., label % 3] += 100 + 30 * (label // 3)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def loads(path: Path) -> bool:
    """Whether a checkpoint loads in a fresh process (as a user would open it)."""
    code = f"import kerascls; kerascls.load_model({str(path)!r}, compile=False)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-wait", type=float, default=25.0, help="latest kill, seconds")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-resume-"))
    data = write_folder(work / "shapes", args.images)
    logdir = work / "logs"
    run_dir = logdir / "shapes" / "killed"
    train = [sys.executable, "-m", "kerascls.cli.train"]
    first = [*train, "--data-dir", str(data), "--model", "cnn", "--epochs", str(args.epochs)]
    first += ["--logdir", str(logdir), "--run-name", "killed"]
    resume = [*train, "--resume", str(run_dir)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    resumed = loadable = kills = 0
    finished = False
    for kill in range(1, args.kills + 1):
        command = first if kill == 1 else resume
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        started = time.monotonic()
        if kill == 1:  # a run killed before its first backup has nothing to resume
            while not (run_dir / "backup").is_dir() and child.poll() is None:
                time.sleep(0.1)
        try:
            child.wait(timeout=rng.uniform(0.5 if kill == 1 else 2.0, args.max_wait))
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate()
        alive_for = time.monotonic() - started
        if child.returncode == 0:
            print(f"kill {kill}: the run finished before the kill ({alive_for:.1f} s)")
            resumed += kill > 1
            finished = True
            break
        kills += 1
        started_ok = kill == 1 or (b"Traceback" not in err and child.returncode == -9)
        resumed += kill > 1 and started_ok
        checkpoints = [run_dir / "best.keras", run_dir / "last.keras"]
        present = [p for p in checkpoints if p.exists()]
        ok = all(loads(p) for p in present)
        loadable += ok
        epochs = _epochs(run_dir)
        state = "started" if kill == 1 else "resumed" if started_ok else "FAILED"
        print(
            f"kill {kill}: SIGKILL after {alive_for:5.1f} s, epochs logged {len(epochs)}, "
            f"{state}, checkpoints {'load' if ok else 'DO NOT LOAD'} ({len(present)} present)"
        )
        if not started_ok:
            print("    " + (err.decode(errors="replace").strip().splitlines() or ["?"])[-1])
    final = None
    if not finished:
        final = subprocess.run(resume, capture_output=True, env=env, timeout=3600)
        resumed += final.returncode == 0
    epochs = _epochs(run_dir)
    complete = (final is None or final.returncode == 0) and epochs == list(range(args.epochs))
    print(
        f"\n{kills} kills: {resumed} of {kills} resumes carried on (the last to the end), "
        f"checkpoints loaded after {loadable} of {kills} kills; history "
        f"{'holds every epoch once' if complete else f'epochs {epochs}'}"
        + ("" if kills == args.kills else f" (the run ended before kill {kills + 1})")
    )
    if final is not None and final.returncode != 0:
        print(final.stderr.decode(errors="replace")[-2000:])
    return 0 if complete and resumed == kills else 1


def _epochs(run_dir: Path) -> list[int]:
    try:
        with open(run_dir / "history.csv") as f:
            return [int(row["epoch"]) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return []


if __name__ == "__main__":
    raise SystemExit(main())
