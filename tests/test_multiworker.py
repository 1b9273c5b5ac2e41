"""Multi-worker training with real workers: two kerascls-train processes on 127.0.0.1
(one core each), TF_CONFIG as a cluster would set it. Slow: each case starts TensorFlow
in two or three processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train import colour_dataset

pytestmark = pytest.mark.slow


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    """A train/ + validation/ folder of PNGs (3 colour classes, 16x16)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mw") / "colours"
    data = colour_dataset(n_per_class=64, size=16)
    for name in ("train", "validation"):
        split = getattr(data, name)
        for i, (image, label) in enumerate(zip(split.images, split.labels, strict=True)):
            folder = root / name / data.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i}.png")
    return root


def train_args(colours: Path, logdir: Path, name: str, epochs: int) -> list[str]:
    return [
        "--data-dir", str(colours), "--model", "cnn", "--epochs", str(epochs),
        "--batch-size", "32", "--lr", "0.05", "--logdir", str(logdir), "--run-name", name,
    ]  # fmt: skip


def start_workers(args: list[str], scratch: Path) -> list[subprocess.Popen]:
    """Two workers of one cluster on 127.0.0.1, each pinned to one core.

    Their output goes to files: a pipe nobody reads while the test waits would fill up
    and stop the worker."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        task = {"type": "worker", "index": index}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
        env["TMPDIR"] = str(scratch)  # where a non-chief worker keeps its scratch folder
        cores = sorted(os.sched_getaffinity(0))
        core = {cores[index % len(cores)]}
        # closed by finish(), after the worker has ended
        log = open(scratch.parent / f"worker{index}-{time.monotonic_ns()}.err", "w+")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "kerascls.cli.train", *args, "--strategy", "multiworker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
            preexec_fn=lambda core=core: os.sched_setaffinity(0, core),
        )
        worker.log = log
        workers.append(worker)
    return workers


def finish(workers: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str]]:
    results, hung = [], False
    for worker in workers:
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            worker.kill()
            worker.wait()
        worker.log.seek(0)
        results.append((worker.returncode, worker.log.read()))
        worker.log.close()
    if hung:
        pytest.fail(f"a worker hung for {timeout} s: {results[0][1][-2000:]}")
    return results


def epoch_losses(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def wait_for_epochs(history: Path, count: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) > count:
            return
        time.sleep(0.2)
    pytest.fail(f"{history} did not reach {count} epochs in {timeout} s")


def test_two_workers_train_like_one_and_only_the_chief_writes(colours, tmp_path):
    logdir = tmp_path / "logs"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    results = finish(start_workers(train_args(colours, logdir, "mw", 3), scratch))
    assert [code for code, _ in results] == [0, 0], results[0][1][-3000:] + results[1][1][-3000:]
    single = subprocess.run(
        [sys.executable, "-m", "kerascls.cli.train", *train_args(colours, logdir, "single", 3)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-3000:]

    # one folder per run: the chief's; the other worker's scratch folder is gone
    assert sorted(p.name for p in (logdir / "colours").iterdir()) == ["mw", "single"]
    assert list(scratch.iterdir()) == []
    run = json.loads((logdir / "colours" / "mw" / "run.json").read_text())
    assert run["status"] == "finished" and run["recipe"]["strategy"] == "multiworker"
    # same global batch, so the same loss curve within noise (the workers normalise their
    # half-batches separately and see the data in another order)
    multi = epoch_losses(logdir / "colours" / "mw")
    alone = epoch_losses(logdir / "colours" / "single")
    assert len(multi) == len(alone) == 3
    assert multi == pytest.approx(alone, rel=0.15), (multi, alone)
    assert multi[-1] < 0.6 * multi[0]


def test_a_killed_cluster_resumes_and_a_dead_worker_is_a_clear_error(colours, tmp_path):
    logdir = tmp_path / "logs"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = train_args(colours, logdir, "killed", 12)
    workers = start_workers(args, scratch)
    history = logdir / "colours" / "killed" / "history.csv"
    wait_for_epochs(history, 2)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    finish(workers)
    done = len(history.read_text().splitlines()) - 1

    run_dir = logdir / "colours" / "killed"
    resumed = start_workers([*args, "--resume", str(run_dir)], scratch)
    # kill worker 1 mid-way: the chief must stop with a one-line error, not hang
    wait_for_epochs(history, done + 2)
    resumed[1].send_signal(signal.SIGKILL)
    started = time.monotonic()
    (code, err), _ = finish(resumed, timeout=180)
    assert time.monotonic() - started < 120
    assert code == 2  # kerascls's exit code for an error it explains
    # TensorFlow's C++ runtime logs the abort itself first; kerascls's line comes last
    last = err.strip().splitlines()[-1]
    # Which of TensorFlow's errors reaches the chief first depends on timing: the collective
    # naming the dead task ("worker 1 left the cluster"), or a plain UnavailableError (then
    # kerascls cannot say which worker); both are one line that says what to do.
    assert last.startswith("error: multi-worker training stopped: "), last
    assert "worker 1 left the cluster" in last or "a worker left the cluster" in last, last
    assert "--resume" in last
    assert "Traceback" not in err
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs[: done + 2] == list(range(done + 2)), "the resumed run went on, not over"

    # and after that failure, both workers resume to the end
    results = finish(start_workers([*args, "--resume", str(run_dir)], scratch))
    assert [code for code, _ in results] == [0, 0], results[0][1][-3000:]
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == list(range(12))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
