"""Multi-worker training: which worker writes the run folder, and clear cluster errors.

With `strategy="multiworker"` every worker runs the same `fit` with its own TF_CONFIG
(`{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker",
"index": i}}`). The workers train one model together (tf.distribute's
MultiWorkerMirroredStrategy: gradients all-reduced every step), but only the chief (the
"chief" task, else worker 0) writes the run folder. The others write their checkpoints
to a scratch folder that is deleted afterwards, and read the chief's backup/ to resume,
so every worker restarts from the same state. All workers must see the run folder (one
machine, or a shared file system) and be given the same `run_name`.

Example:
    >>> is_chief({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}})
    False
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError

# The chief waits this long for every worker to join before it gives up, and a worker
# that stops answering is found within about this many seconds (TensorFlow's default is
# to wait for ever, and to look every 30 s).
JOIN_TIMEOUT_SECONDS = 300
HEALTH_CHECK_SECONDS = 10


def tf_config() -> dict[str, Any]:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "{}"))
    except json.JSONDecodeError as err:
        raise KerasclsError(f"TF_CONFIG is not valid JSON ({err})") from None


def is_chief(config: dict[str, Any] | None = None) -> bool:
    """Whether this process writes the run folder: the "chief" task, else worker 0."""
    config = tf_config() if config is None else config
    task = config.get("task") or {}
    if not task:
        return True
    if "chief" in (config.get("cluster") or {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def configure_failure_detection() -> None:
    """Bound the waits of MultiWorkerMirroredStrategy, so a lost worker is an error.

    TensorFlow exposes no public setting for these (CollectiveAllReduceExtended reads
    class attributes), so they are set on the class before the strategy is built.
    """
    from tensorflow.python.distribute import collective_all_reduce_strategy as car

    car.CollectiveAllReduceExtended._check_health_initial_timeout = JOIN_TIMEOUT_SECONDS
    car.CollectiveAllReduceExtended._check_health_interval = HEALTH_CHECK_SECONDS


@contextlib.contextmanager
def worker_folder(run_dir: Path) -> Iterator[Path]:
    """Where this worker writes: the run folder on the chief; a scratch copy elsewhere.

    A non-chief worker's scratch folder starts with the chief's backup/ (so a resumed
    cluster restarts every worker from the same epoch) and is deleted at the end.
    """
    if is_chief():
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix="kerascls-worker-"))
    try:
        if (run_dir / "backup").is_dir():
            shutil.copytree(run_dir / "backup", scratch / "backup")
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cluster_error(error: Exception) -> KerasclsError:
    """A one-line error for a collective that failed because a worker went away."""
    # TensorFlow names the task that failed first, e.g. "Error reported from
    # /job:worker/task:1"; the rest of its message is internal detail.
    found = re.search(
        r"(?:reported from|is down).{0,20}?/job:(\w+)/(?:replica:\d+/)?task:(\d+)", str(error)
    )
    who = f"{found.group(1)} {found.group(2)}" if found else "a worker"
    return KerasclsError(
        f"multi-worker training stopped: {who} left the cluster or stopped answering "
        f"({type(error).__name__}); restart every worker with --resume RUN to continue "
        f"from the last finished epoch"
    )


def build_for_multiworker(model: Any, strategy: Any, dataset: Any) -> None:
    """Build the compiled model's optimizer and metrics before `fit` under a multi-worker
    strategy, with one local batch.

    Keras 3's fit builds them from a first batch that it averages across replicas with
    `strategy.reduce("MEAN", ...)`, which MultiWorkerMirroredStrategy cannot do on a
    batch of inputs ("unsupported type PerReplica"; keras-team/keras#20585, open). The
    build only needs the batch's shapes, so a local batch does, and fit's own attempt is
    turned off for this model.
    """
    patch_keras_multiworker_metrics()
    images, labels = next(iter(dataset.take(1)))
    with strategy.scope():
        model._symbolic_build(data_batch=(images, labels))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def patch_keras_multiworker_metrics() -> None:
    """Make Keras 3's train and test steps average their logs across workers.

    Under MultiWorkerMirroredStrategy Keras reduces each step's logs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar loss and metrics
    ("Invalid reduction dimension 0 for input with 0 dimensions"; keras-team/keras#20585).
    The mean over replicas (axis=None) is what it means. Applied once, and only changes
    the multi-worker case.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "kerascls_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.kerascls_patched = True
    trainer.reduce_per_replica = reduce_per_replica
