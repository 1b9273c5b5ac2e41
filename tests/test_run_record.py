"""run.json's typed record (kerascls/runs/record.py) and history.csv's reader: every
run.json written before them loads, keeps what it does not know, and writes back the
same layout; `Run.history()` reads a resumed run's history one row an epoch."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from kerascls.errors import KerasclsError
from kerascls.runs import (
    MlflowInfo,
    ModelInfo,
    Normalization,
    Run,
    RunInfo,
    SplitMetrics,
    load_run,
)

# A finished folder run as kerascls wrote it before RunInfo existed: an old recipe field
# (tensorboard_images), `fixed` before it became `set_by_user`, a plan, MLflow, and keys
# this version never wrote (one at the top, one in "model", one in a split's metrics).
OLD_FINISHED = {
    "created": 1764412345.25,
    "status": "finished",
    "model": {"name": "resnet20", "kwargs": {"se": True}, "params": 272474, "flops": 41e6},
    "class_names": ["cat", "dog"],
    "input_shape": [32, 32, 3],
    "normalization": {"mean": [125.3, 123.0, 113.9], "std": [63.0, 62.1, 66.7]},
    "dataset": {
        "kind": "image_folder",
        "root": "/data/pets",
        "validation_size": 0.2,
        "seed": 0,
        "counts": {"train": [80, 80], "validation": [20, 20]},
        "fingerprint": {"train": {"hash": "aa", "files": 160}, "combined": "c0ffee1234567890"},
    },
    "split_sizes": {"train": 160, "validation": 40},
    "recipe": {
        "data_dir": "/data/pets",
        "model": "resnet20",
        "model_kwargs": {"se": True},
        "epochs": 30,
        "batch_size": 64,
        "lr": 0.1,
        "augment": "cifar",
        "tensorboard_images": True,
        "fixed": ["epochs"],
        "time_budget": 300.0,
    },
    "dtype_policy": "float32",
    "versions": {"python": "3.11.9", "kerascls": "0.1.0", "tensorflow": "2.21.0"},
    "plan": {"model": "resnet20", "image_size": [32, 32], "time_cap": True, "notes": []},
    "mlflow": {
        "tracking_uri": "sqlite:///mlflow.db",
        "experiment": "kerascls/pets",
        "experiment_id": "1",
        "run_id": "abc123",
    },
    "planned_steps": 1200,
    "epochs_completed": 30,
    "train_seconds": 281.4,
    "best_val_accuracy": 0.925,
    "metrics": {
        "validation": {
            "accuracy": 0.925,
            "top5_accuracy": None,
            "macro_f1": 0.9249,
            "flip_tta_accuracy": 0.93,
            "ece": 0.04,
        }
    },
    "reviewed_by": "another tool",
}

# Killed mid-training by an older kerascls: no "plan" (made before plans), no metrics,
# epochs or training time yet, and no standardisation (normalization null).
OLD_KILLED = {
    "created": 1733000000.0,
    "status": "running",
    "model": {"name": "cnn", "kwargs": {"filters": [8, 16]}, "params": 3210},
    "class_names": ["red", "green", "blue"],
    "input_shape": [16, 16, 3],
    "normalization": None,
    "dataset": {"kind": "cifar10", "validation_size": 5000, "seed": 0},
    "split_sizes": {"train": 45000, "validation": 5000, "test": 10000},
    "recipe": {"model": "cnn", "epochs": 2, "augment": "none", "tensorboard_images": False},
    "dtype_policy": "mixed_bfloat16",
    "versions": {"python": "3.11.9"},
}

# kerascls-optimize's folder for a bare model: optimized_from null, no recipe.
OLD_OPTIMIZED = {
    "created": 1764500000.0,
    "status": "finished",
    "model": {"name": "cnn", "kwargs": {}, "params": 1000},
    "class_names": ["a", "b"],
    "input_shape": [16, 16, 3],
    "normalization": None,
    "dataset": {"kind": "arrays", "validation_size": 0.2, "seed": 0},
    "optimized_from": None,
    "optimization": {"method": "qat", "epochs": 2},
    "metrics": {"validation": {"accuracy": 0.5, "float_accuracy": 0.55, "int8_accuracy": 0.5}},
    "versions": {"python": "3.11.9"},
}


@pytest.mark.parametrize("old", [OLD_FINISHED, OLD_KILLED, OLD_OPTIMIZED])
def test_every_old_run_json_loads_and_writes_back_the_same_json(old):
    before = copy.deepcopy(old)
    info = RunInfo.from_dict(old)
    assert info.to_dict() == before
    assert json.loads(json.dumps(info.to_dict())) == before
    assert old == before  # loading does not change what it was given


def test_a_finished_run_reads_as_attributes():
    info = RunInfo.from_dict(copy.deepcopy(OLD_FINISHED))
    assert info.status == "finished" and info.epochs_completed == 30
    model = info.model
    assert isinstance(model, ModelInfo) and model.extra == {"flops": 41e6}
    assert (model.name, model.kwargs, model.params) == ("resnet20", {"se": True}, 272474)
    assert info.normalization.mean == [125.3, 123.0, 113.9]
    assert isinstance(info.normalization, Normalization)
    validation = info.metrics["validation"]
    assert isinstance(validation, SplitMetrics)
    assert (validation.accuracy, validation.top5_accuracy) == (0.925, None)
    assert validation.extra == {"ece": 0.04}
    assert info.mlflow == MlflowInfo(
        tracking_uri="sqlite:///mlflow.db",
        experiment="kerascls/pets",
        experiment_id="1",
        run_id="abc123",
    )
    assert info.time_capped and info.planned_steps == 1200
    assert info.dataset["fingerprint"]["combined"].startswith("c0ffee")
    assert info.extra == {"reviewed_by": "another tool"}
    # the recipe stays the dict Recipe reads, old fields and all
    from kerascls.train.recipe import Recipe

    recipe = Recipe.from_dict(info.recipe)
    assert (recipe.model, recipe.epochs, recipe.set_by_user) == ("resnet20", 30, ("epochs",))
    assert info.recipe["tensorboard_images"] is True


def test_a_killed_run_without_plan_or_metrics():
    info = RunInfo.from_dict(copy.deepcopy(OLD_KILLED))
    assert info.status == "running" and info.normalization is None
    assert info.plan is None and not info.time_capped
    assert info.metrics is None and info.epochs_completed is None and info.mlflow is None
    assert info.model.kwargs == {"filters": [8, 16]}
    written = info.to_dict()
    assert "plan" not in written and "metrics" not in written and "mlflow" not in written
    assert written["normalization"] is None  # null stays null, not left out


def test_an_optimized_run_keeps_its_null_parent():
    info = RunInfo.from_dict(copy.deepcopy(OLD_OPTIMIZED))
    assert info.optimized_from is None and info.optimization["method"] == "qat"
    assert info.metrics["validation"].extra == {"float_accuracy": 0.55, "int8_accuracy": 0.5}
    assert info.recipe is None and "recipe" not in info.to_dict()
    assert "optimized_from" in info.to_dict()


def test_a_save_and_load_round_trip_keeps_unknown_keys(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(OLD_FINISHED))
    run = load_run(tmp_path)
    run.update(status="running", metrics=None, written_by_a_later_tool=[1, 2])
    again = json.loads((tmp_path / "run.json").read_text())
    assert again["reviewed_by"] == "another tool"
    assert again["model"]["flops"] == 41e6
    assert again["written_by_a_later_tool"] == [1, 2]
    assert again["metrics"] is None and again["status"] == "running"
    assert {k: v for k, v in again.items() if k not in ("status", "metrics")} == {
        k: v for k, v in OLD_FINISHED.items() if k not in ("status", "metrics")
    } | {"written_by_a_later_tool": [1, 2]}
    reloaded = load_run(tmp_path)
    assert reloaded.info == run.info
    assert reloaded.info.extra["written_by_a_later_tool"] == [1, 2]


def test_update_takes_typed_fields_or_their_json():
    info = RunInfo(created=1.0)
    info.update(
        model={"name": "cnn", "kwargs": {}, "params": 5},
        metrics={"test": SplitMetrics(accuracy=0.5, macro_f1=None)},
        mlflow=MlflowInfo(tracking_uri="sqlite:///m.db", run_id="r"),
    )
    assert info.model.name == "cnn" and info.metrics["test"].accuracy == 0.5
    assert info.to_dict() == {
        "created": 1.0,
        "model": {"name": "cnn", "kwargs": {}, "params": 5},
        "mlflow": {"tracking_uri": "sqlite:///m.db", "run_id": "r"},
        "metrics": {"test": {"accuracy": 0.5, "macro_f1": None}},
    }
    copied = info.copy()
    copied.update(status="failed")
    assert info.status is None and "status" not in info.to_dict()


def test_scripts_that_read_run_info_as_a_dict_still_work(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(OLD_FINISHED))
    run = load_run(tmp_path)
    assert run.info["model"]["name"] == "resnet20" == run.model_name
    assert run.info["metrics"]["validation"]["accuracy"] == 0.925
    assert "plan" in run.info and run.info.get("no-such-key", 7) == 7
    assert run.class_names == ["cat", "dog"] and run.input_shape == (32, 32, 3)
    assert Run(path=tmp_path, info={}).info == RunInfo()


def test_a_run_json_that_is_not_a_record_is_a_one_line_error(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"model": "resnet20"}))
    with pytest.raises(KerasclsError, match="not a run record"):
        load_run(tmp_path)


def test_history_of_a_resumed_run_has_one_row_per_epoch(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(OLD_KILLED))
    run = load_run(tmp_path)
    with pytest.raises(KerasclsError, match="first epoch"):
        run.history()
    assert run.history(missing_ok=True) == {}
    (tmp_path / "history.csv").write_text(
        "epoch,accuracy,epoch_seconds,loss,val_accuracy\n"
        "0,0.5,10.0,1.2,0.55\n"
        "1,0.6,9.0,1.0,0.60\n"
        "1,0.62,9.5,0.98,0.61\n"  # epoch 1 again: the run was killed and resumed
        "2,0.7,9.1,0.8,\n"  # a cell left empty
    )
    history = run.history()
    np.testing.assert_array_equal(history["epoch"], [0, 1, 2])
    np.testing.assert_allclose(history["val_accuracy"], [0.55, 0.61, np.nan])
    np.testing.assert_allclose(history["epoch_seconds"], [10.0, 9.5, 9.1])
    run.truncate_history(2)  # what --resume does when backup/ holds 2 epochs
    assert (tmp_path / "history.csv").read_text().splitlines()[-1] == "1,0.6,9.0,1.0,0.60"
    np.testing.assert_array_equal(run.history()["epoch"], [0, 1])
