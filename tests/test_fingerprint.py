"""Content fingerprints of datasets (run.json's dataset.fingerprint) and the resume warning."""

import logging
import shutil

import numpy as np
from helpers import copy_run
from PIL import Image

from kerascls.data import dataset_from_source, load_image_folder


def _bmp_folder(root):
    # BMP is uncompressed: changing one pixel changes the bytes but not the file's size
    for name, value in (("cat", 40), ("dog", 200)):
        (root / "train" / name).mkdir(parents=True)
        for i in range(5):
            pixels = np.full((8, 8, 3), value + i, np.uint8)
            Image.fromarray(pixels).save(root / "train" / name / f"{i}.bmp")
    return root


def test_fingerprint_same_for_same_folder_and_changes_with_one_files_bytes(tmp_path, caplog):
    root = _bmp_folder(tmp_path / "pets")
    source = load_image_folder(root, validation_size=2).source
    first = source["fingerprint"]
    assert load_image_folder(root, validation_size=2).source["fingerprint"] == first
    assert set(first) == {"train", "validation", "combined"}
    assert first["train"]["files"] + first["validation"]["files"] == 10

    path = root / "train" / "dog" / "3.bmp"
    size = path.stat().st_size
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(path)
    assert path.stat().st_size == size  # same size, other bytes
    changed = load_image_folder(root, validation_size=2).source["fingerprint"]
    assert changed["combined"] != first["combined"]
    # exactly one split holds the file; the other keeps its hash
    assert sum(changed[s]["hash"] != first[s]["hash"] for s in ("train", "validation")) == 1

    # a later command re-opening the run's dataset says so too, though the counts match
    with caplog.at_level(logging.WARNING, logger="kerascls"):
        dataset_from_source(source)
    (warning,) = [r.getMessage() for r in caplog.records if "changed since" in r.msg]
    assert "split changed (same " in warning


def test_resume_on_a_changed_folder_warns_in_one_line(tiny_run, colour_folder, tmp_path, caplog):
    from kerascls.train import resume

    run = copy_run(tiny_run, tmp_path)
    # as if killed during its final evaluation: resume only evaluates (a few seconds)
    run.update(status="running")
    root = tmp_path / "colours"
    shutil.copytree(colour_folder, root)
    red = root / "train" / "red"
    shutil.copy(next(red.iterdir()), red / "extra.png")

    data = load_image_folder(root, validation_size=0.2)
    with caplog.at_level(logging.WARNING, logger="kerascls"):
        resume(run.path, data=data, verbose=0)
    warnings = [r.getMessage() for r in caplog.records if "changed since it was trained" in r.msg]
    assert len(warnings) == 1
    assert "split changed" in warnings[0] and "\n" not in warnings[0]
