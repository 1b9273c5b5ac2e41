"""kill -9 at the worst moment: inside the backup write. A real training process is
killed while its new backup generation is half-done, and `kerascls-train --resume`
carries on to a complete run whose every epoch is logged once."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

from helpers import write_colour_folder

from kerascls.models import load_model

# The child is kerascls-train, with Model.save_weights paused after it has written the
# temporary file of its second backup and before the rename: the window a kill must survive.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import keras

    save_weights = keras.Model.save_weights
    writes = []

    def paused_save(self, path, *args, **kwargs):
        save_weights(self, path, *args, **kwargs)
        if ".tmp-" in str(path):
            writes.append(path)
            print("INSIDE-BACKUP-WRITE", flush=True)
            if len(writes) == int(os.environ.get("PAUSE_AT_WRITE", "0")):
                time.sleep(float(os.environ.get("PAUSE_SECONDS", "0")))

    keras.Model.save_weights = paused_save
    from kerascls.cli.train import main
    sys.exit(main(sys.argv[1:]))
    """
)


def start(args: list[str], pause: float, at_write: int) -> subprocess.Popen:
    """kerascls-train that pauses `pause` seconds inside its `at_write`-th backup write."""
    env = {**os.environ, "PAUSE_SECONDS": str(pause), "PAUSE_AT_WRITE": str(at_write)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_a_kill_inside_the_backup_write_resumes_to_a_complete_run(tmp_path):
    data = write_colour_folder(tmp_path / "colours", per_class=24)
    logdir = tmp_path / "logs"
    args = ["--data-dir", str(data), "--model", "cnn", "--epochs", "4", "--batch-size", "8"]
    args += ["--logdir", str(logdir), "--run-name", "killed", "--augment", "none"]
    child = start(args, pause=60, at_write=2)  # killed well before the pause ends
    writes, deadline = 0, time.monotonic() + 240
    try:
        for line in child.stdout:  # the second backup: epoch 1's exists, epoch 2's is partial
            writes += "INSIDE-BACKUP-WRITE" in line
            if writes == 2 or time.monotonic() > deadline:
                break
        assert writes == 2, "the child never reached its second backup"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    run_dir = logdir / "colours" / "killed"
    backup = run_dir / "backup"
    assert list(backup.glob(".tmp-*.weights.h5")), "killed before the rename"

    done = subprocess.run(
        [sys.executable, "-c", CHILD, "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    assert "resuming after epoch 1 from backup/latest.weights.h5" in done.stdout
    with open(run_dir / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1, 2, 3]
    for name in ("best", "last"):
        model = load_model(run_dir / f"{name}.keras", compile=False)
        assert model.output_shape == (None, 3)
    assert not backup.exists(), "a finished run removes its backup"
