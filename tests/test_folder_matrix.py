"""The folder shapes users bring, built here: each trains for one epoch from the command
line with default settings, evaluates, exports an INT8 TFLite file and runs Grad-CAM,
with no traceback. Two cheap shapes run in CI; the whole matrix is slow-marked
(`python -m pytest -m slow tests/test_folder_matrix.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerascls.runs import load_run


def image(rng, height: int, width: int, label: int, mode: str = "RGB") -> Image.Image:
    """A noisy image whose brightness and hue say its class."""
    pixels = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    pixels[..., label % 3] += np.uint8(100 + 15 * (label // 3) % 150)
    picture = Image.fromarray(pixels)
    return picture.convert("L") if mode == "L" else picture


def write(root: Path, split: str, classes: list[str], per_class: int, **options) -> None:
    rng = np.random.default_rng(len(split) + per_class)
    sizes = options.get("sizes", [(24, 24)])
    for label, name in enumerate(classes):
        folder = root / split / name if split else root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            height, width = sizes[(i + label) % len(sizes)]
            picture = image(rng, height, width, label, options.get("mode", "RGB"))
            suffix = ".jpg" if height * width > 200_000 else ".png"
            picture.save(folder / f"img {i:03d}{suffix}")


def two_by_fifteen(root: Path) -> None:
    write(root, "train", ["cat", "dog"], 15)


def three_thousand_train_only(root: Path) -> None:
    write(root, "train", ["a", "b", "c"], 1000, sizes=[(16, 16)])


def train_and_test(root: Path) -> None:
    write(root, "train", ["cat", "dog", "fox"], 40)
    write(root, "test", ["cat", "dog", "fox"], 10)


def train_and_val(root: Path) -> None:
    write(root, "train", ["cat", "dog"], 40)
    write(root, "val", ["cat", "dog"], 10)


def mixed_sizes(root: Path) -> None:
    sizes = [(20, 20), (64, 48), (300, 200), (37, 91), (2000, 3000), (120, 160)]
    write(root, "train", ["cat", "dog"], 18, sizes=sizes)


def grayscale(root: Path) -> None:
    write(root, "train", ["digit0", "digit1", "digit2"], 20, mode="L")


def hundred_classes(root: Path) -> None:
    write(root, "train", [f"class{i:03d}" for i in range(100)], 5, sizes=[(16, 16)])


def odd_names(root: Path) -> None:
    write(root, "train", ["red panda", "Äpfel", "café au lait", "日本"], 12)


def hidden_and_stray_files(root: Path) -> None:
    write(root, "train", ["cat", "dog"], 20)
    (root / "train" / ".ipynb_checkpoints" / "cat").mkdir(parents=True)
    (root / "train" / ".ipynb_checkpoints" / "cat" / "x.png").write_bytes(b"")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "train" / "dog" / ".DS_Store").write_bytes(b"\0\1")
    (root / "train" / "dog" / "Thumbs.db").write_bytes(b"\0\1")
    (root / "README.md").write_text("my photos")


CHEAP = {"names_and_stray": (odd_names, hidden_and_stray_files)}
SHAPES = {
    "2x15": (two_by_fifteen,),
    "3000_train_only": (three_thousand_train_only,),
    "train_test": (train_and_test,),
    "train_val": (train_and_val,),
    "mixed_sizes": (mixed_sizes,),
    "grayscale": (grayscale,),
    "100x5": (hundred_classes,),
    "odd_names": (odd_names,),
    "hidden_and_stray": (hidden_and_stray_files,),
}


def run_the_toolkit(root: Path, logdir: Path, capsys) -> dict:
    """kerascls-train (defaults, tiny model, 1 epoch), kerascls-export --tflite --int8,
    kerascls-viz gradcam: what each printed, and the run."""
    from kerascls.cli.export import main as export_main
    from kerascls.cli.train import main as train_main
    from kerascls.cli.viz import main as viz_main

    argv = ["--data-dir", str(root), "--model", "cnn", "--epochs", "1"]
    assert train_main([*argv, "--logdir", str(logdir)]) == 0
    run = load_run(logdir=logdir)
    assert export_main(["--run", str(run.path), "--tflite", "--int8"]) == 0
    manifest = json.loads((run.path / "exports" / "manifest.json").read_text())
    an_image = next(p for p in sorted(root.rglob("img *")) if ".ipynb" not in str(p))
    assert viz_main(["gradcam", str(an_image), "--run", str(run.path)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert list((run.path / "viz").rglob("*.png")), "Grad-CAM wrote no overlay"
    return {"run": run, "manifest": manifest, "out": out.out}


def check(result: dict) -> None:
    run = result["run"]
    metrics = run.info["metrics"]
    split = "test" if "test" in metrics else "validation"
    assert 0.0 <= metrics[split]["accuracy"] <= 1.0
    int8 = [e for e in result["manifest"]["exports"] if e["precision"] == "int8"]
    assert int8 and (run.path / "exports").glob("*.tflite")


def test_cheap_folder_shapes(tmp_path, capsys):
    root = tmp_path / "photos"
    for build in CHEAP["names_and_stray"]:
        build(root)
    result = run_the_toolkit(root, tmp_path / "logs", capsys)
    check(result)
    assert result["run"].class_names == sorted(
        ["red panda", "Äpfel", "café au lait", "日本", "cat", "dog"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(SHAPES))
def test_folder_shape(shape, tmp_path, capsys):
    root = tmp_path / "photos"
    for build in SHAPES[shape]:
        build(root)
    result = run_the_toolkit(root, tmp_path / "logs", capsys)
    check(result)
    sizes = result["run"].info["split_sizes"]
    if shape == "train_test":
        assert sizes == {"train": 108, "validation": 12, "test": 30}
    if shape == "train_val":
        assert sizes == {"train": 80, "validation": 20}
    if shape == "100x5":
        assert sizes == {"train": 400, "validation": 100}
        assert "top-5" in result["out"]  # more than 5 classes
    if shape == "2x15":
        assert "top-5" not in result["out"]
    print(f"{shape}: {sizes}, input {result['run'].info['input_shape']}")
