"""k-fold cross-validation: stratified folds that cover the pool once, one ordinary run
per fold, scores as mean ± std, out-of-fold predictions, and folds that re-open exactly."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import write_colour_folder

from kerascls.data import from_arrays, load_image_folder
from kerascls.data.kfold import kfold_dataset
from kerascls.errors import DataError
from kerascls.runs import load_run


def test_folds_are_stratified_and_cover_the_pool_once():
    labels = np.repeat([0, 1, 2], [30, 20, 10])
    data = from_arrays(np.zeros((60, 4, 4, 3), np.uint8), labels, validation_size=0.1)
    seen = []
    for index in range(5):
        fold = kfold_dataset(data, 5, index, seed=0)
        assert len(fold.train) + len(fold.validation) == 60
        assert fold.validation.class_counts().tolist() == [6, 4, 2]  # stratified
        seen.append(fold.validation.images.reshape(len(fold.validation), -1))
    assert sum(len(s) for s in seen) == 60


def test_a_class_smaller_than_the_folds_is_a_clear_error():
    data = from_arrays(np.zeros((23, 4, 4, 3), np.uint8), np.array([0] * 20 + [1] * 3))
    with pytest.raises(DataError, match=r"class '1' has 3 images, fewer than 5 folds"):
        kfold_dataset(data, 5, 0)


def test_kerascls_train_folds_writes_one_run_per_fold_and_the_summary(tmp_path, capsys):
    from kerascls.cli.train import main

    root = write_colour_folder(tmp_path / "colours", per_class=12)
    argv = ["--data-dir", str(root), "--model", "cnn", "--epochs", "2", "--batch-size", "8"]
    argv += ["--augment", "none", "--lr", "0.05", "--folds", "3"]
    assert main([*argv, "--logdir", str(tmp_path / "logs"), "--run-name", "cv"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation: accuracy" in out

    parent = tmp_path / "logs" / "colours" / "cv"
    cv = json.loads((parent / "cv.json").read_text())
    accuracies = [fold["accuracy"] for fold in cv["per_fold"]]
    assert len(accuracies) == 3 and cv["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert cv["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert cv["accuracy"]["mean"] > 0.5  # 3 colours: far above chance after 2 epochs

    with open(parent / "oof_predictions.csv") as f:
        rows = list(csv.DictReader(f))
    all_files = {str(p) for p in (root / "train").rglob("*.png")}
    assert sorted(r["image"] for r in rows) == sorted(all_files)  # every image once
    assert {r["fold"] for r in rows} == {"1", "2", "3"}
    oof_accuracy = np.mean([r["true"] == r["predicted"] for r in rows])
    weights = [len(load_run(parent / f"fold-{i}").dataset().validation) for i in (1, 2, 3)]
    assert oof_accuracy == pytest.approx(np.average(accuracies, weights=weights))

    # a fold is an ordinary run, and its data re-opens as the same fold
    run = load_run(parent / "fold-2")
    fold_files = {r["image"] for r in rows if r["fold"] == "2"}
    assert set(run.dataset().validation.paths) == fold_files
    assert run.info["split_sizes"] == {"train": 24, "validation": 12}
    full = load_image_folder(root)
    assert len(full.validation) == 4  # the folder's own default split is not the fold's
