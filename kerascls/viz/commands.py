"""The operations behind `kerascls-viz`, as Python functions: files in, PNGs out.

Each function here is one subcommand: it reads what it needs (image files, a run folder),
calls the plotting and explanation API, writes PNGs atomically and returns what it wrote,
for the CLI to print. Outputs go to `out_dir`, by default the run's viz/ folder.

Example (`trained_run` is a finished run folder, e.g. `kerascls.runs.load_run()`; the
tests hand the example a copy of their tiny run, trained on red, green and blue images):
    >>> import numpy as np
    >>> from kerascls.runs import load_run
    >>> from kerascls.viz.commands import explain_files, plot_run_curves
    >>> run = load_run(trained_run.path)
    >>> plot_run_curves(run).relative_to(run.path)
    PosixPath('viz/curves.png')
    >>> red = np.zeros((16, 16, 3), np.uint8)
    >>> red[..., 0] = 220
    >>> photo = write_png(run.path / "red.png", red)
    >>> results = explain_files(run.load_model(), [photo], run.class_names, run.path / "viz")
    >>> results[0].output.name, results[0].explained
    ('red_gradcam.png', 'red')
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError
from kerascls.viz.files import save_figure, write_png

VIZ_DIR = "viz"


def default_out_dir(run: Any) -> Path:
    """Where a run's pictures go by default: <run>/viz."""
    return Path(run.path) / VIZ_DIR


def class_index(name: str, class_names: Sequence[str]) -> int:
    """The index of a class given by name (or by its index as text).

    Raises:
        KerasclsError: no such class; the message lists the names.

    Example:
        >>> class_index("dog", ["cat", "dog"]), class_index("0", ["cat", "dog"])
        (1, 0)
    """
    names = list(class_names)
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    raise KerasclsError(f"unknown class {name!r}; the classes are: {', '.join(names)}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("++", "pp")).strip("-")


def _unique(path: Path, taken: set[Path]) -> Path:
    # Two inputs with one file name (a/cat.jpg, b/cat.jpg) must not overwrite each other.
    candidate, n = path, 1
    while candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    taken.add(candidate)
    return candidate


def check_class_names(model: Any, class_names: Sequence[str] | None) -> list[str]:
    """The class names to print, checked against the model's number of outputs; "0", "1",
    ... when none are known (a model file given without its run)."""
    num_classes = int(model.outputs[0].shape[-1])
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise KerasclsError(
            f"the model has {num_classes} outputs but {len(class_names)} class names were "
            "given; is this model from another run?"
        )
    return list(class_names)


@dataclass(frozen=True)
class ExplainedImage:
    """What `explain_files` did with one image.

    Args:
        image: the input file.
        output: the overlay PNG written.
        explained: the class the heatmap explains.
        top_k: the most probable classes as (name, probability), best first.
        layer: the layer Grad-CAM used (None for saliency and occlusion).
    """

    image: Path
    output: Path
    explained: str
    top_k: list[tuple[str, float]]
    layer: str | None = None


def explain_files(
    model: Any,
    images: Sequence[str | os.PathLike],
    class_names: Sequence[str] | None,
    out_dir: str | os.PathLike,
    method: str = "gradcam",
    layer: str | None = None,
    target: str | None = None,
    top_k: int = 3,
    alpha: float = 0.45,
) -> list[ExplainedImage]:
    """Explain image files and write one overlay PNG each, at the image's own resolution.

    Args:
        model: a Keras 3 classifier taking 0-255 RGB pixels.
        images: image files and folders of them.
        class_names: names of the model's classes (None: their indices).
        out_dir: where the PNGs go, named <image>_<method>.png.
        method: "gradcam", "gradcam++", "saliency" or "occlusion".
        layer: Grad-CAM's layer; default the last conv layer.
        target: the class to explain, by name; default each image's top class.
        top_k: how many top classes to report.
        alpha: weight of the heatmap colours in the overlay.

    Returns:
        One `ExplainedImage` per image, in order.

    Raises:
        DataError: a missing or unreadable image.
        ModelError: an unknown layer (the message lists the valid ones).
        KerasclsError: an unknown class or method.
    """
    from kerascls.viz.images import find_images, load_image, model_image_size
    from kerascls.viz.methods import make_explainer
    from kerascls.viz.overlay import overlay_heatmap

    names = check_class_names(model, class_names)
    wanted = None if target is None else class_index(target, names)
    files = find_images(images)  # every path checked before any work
    explainer = make_explainer(model, method, layer)
    size = model_image_size(model)
    results, taken = [], set()
    for file in files:
        image = load_image(file, size)
        explanation = explainer(image.pixels, wanted)
        overlay = overlay_heatmap(image.original, explanation.heatmaps[0], alpha=alpha)
        output = _unique(Path(out_dir) / f"{file.stem}_{_slug(method)}.png", taken)
        write_png(output, overlay)
        results.append(
            ExplainedImage(
                image=file,
                output=output,
                explained=names[int(explanation.class_indices[0])],
                top_k=[(names[i], p) for i, p in explanation.top_k(top_k)[0]],
                layer=explanation.layer,
            )
        )
    return results


def feature_map_files(
    model: Any,
    images: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    layers: Sequence[str] | None = None,
    channels: int = 16,
) -> list[Path]:
    """Write one grid PNG of channel activations per image and layer.

    Args:
        model: a Keras 3 convolutional model taking 0-255 RGB pixels.
        images: image files and folders of them.
        out_dir: where the PNGs go, named <image>_features_<layer>.png.
        layers: layer names or "backbone/name" paths; default one per stage.
        channels: channels per grid (the most active ones).

    Returns:
        The PNGs written.
    """
    from kerascls.viz.featuremaps import default_feature_layers, feature_maps, plot_feature_maps
    from kerascls.viz.graph import check_conv_layer
    from kerascls.viz.images import find_images, load_image, model_image_size

    layers = list(layers) if layers else default_feature_layers(model)
    for layer in layers:
        check_conv_layer(model, layer)  # a typo fails before any image is read
    files = find_images(images)
    size = model_image_size(model)
    written, taken = [], set()
    for file in files:
        image = load_image(file, size)
        for layer, activations in feature_maps(model, image.pixels, layers).items():
            figure = plot_feature_maps(
                activations, f"{file.name}: {layer}", channels, image=image.pixels.astype("uint8")
            )
            output = _unique(Path(out_dir) / f"{file.stem}_features_{_slug(layer)}.png", taken)
            written.append(save_figure(figure, output))
    return written


def plot_run_confusion(run: Any, out_dir: str | os.PathLike | None = None) -> Path:
    """Draw the confusion matrix of the run's report.json (written when training finished).

    Returns:
        The PNG written, <out_dir>/confusion_matrix.png.

    Raises:
        KerasclsError: the run has no report.json yet.
    """
    from kerascls.viz.confusion import plot_confusion_matrix

    path = Path(run.path) / "report.json"
    if not path.exists():
        raise KerasclsError(
            f"run {run.path} has no report.json: it is written when training finishes; "
            "wait for the run to end or pick a finished run with --run"
        )
    report = json.loads(path.read_text())
    title = (
        f"{Path(run.path).name}: {report['split']} split, {report['num_examples']} images, "
        f"accuracy {report['accuracy']:.4f}"
    )
    figure = plot_confusion_matrix(report["confusion_matrix"], run.class_names, title)
    return save_figure(figure, Path(out_dir or default_out_dir(run)) / "confusion_matrix.png")


def plot_run_curves(run: Any, out_dir: str | os.PathLike | None = None) -> Path:
    """Draw loss, accuracy and learning rate from the run's history.csv.

    Returns:
        The PNG written, <out_dir>/curves.png.
    """
    from kerascls.viz.curves import plot_curves

    figure = plot_curves(run.history(), Path(run.path).name)
    return save_figure(figure, Path(out_dir or default_out_dir(run)) / "curves.png")


def plot_run_errors(
    run: Any,
    out_dir: str | os.PathLike | None = None,
    count: int = 16,
    data: Any | None = None,
    recompute: bool = False,
) -> Path:
    """Draw the run's most confident mistakes on its validation split.

    Args:
        run: a `kerascls.train.Run`.
        out_dir: default the run's viz/ folder.
        count: how many mistakes to show.
        data: the run's dataset when run.json cannot re-open it (in-memory arrays).
        recompute: predict again instead of reading predictions.npz.

    Returns:
        The PNG written, <out_dir>/errors.png.
    """
    from kerascls.viz.errors_gallery import plot_holdout_errors
    from kerascls.viz.predictions import run_predictions

    dataset = data if data is not None else run.dataset()
    predictions = run_predictions(run, data=data, recompute=recompute)
    figure, _ = plot_holdout_errors(
        dataset,
        predictions,
        run.class_names,
        count,
        title_prefix=f"{Path(run.path).name}: ",
        images_noun="validation images",
    )
    return save_figure(figure, Path(out_dir or default_out_dir(run)) / "errors.png")


def plot_run_calibration(
    run: Any,
    out_dir: str | os.PathLike | None = None,
    bins: int = 15,
    data: Any | None = None,
    recompute: bool = False,
) -> tuple[Path, Any]:
    """Draw the reliability diagram of the run's validation predictions.

    Args:
        run: a `kerascls.train.Run`.
        out_dir: default the run's viz/ folder.
        bins: confidence bins.
        data: the run's dataset when run.json cannot re-open it (in-memory arrays).
        recompute: predict again instead of reading predictions.npz.

    Returns:
        The PNG written (<out_dir>/calibration.png) and the `Calibration` (with `.ece`).
    """
    from kerascls.viz.calibration import calibration_curve, plot_reliability
    from kerascls.viz.predictions import run_predictions

    predictions = run_predictions(run, data=data, recompute=recompute)
    calibration = calibration_curve(predictions.labels, predictions.probabilities, bins)
    figure = plot_reliability(calibration, f"{Path(run.path).name}: validation")
    path = save_figure(figure, Path(out_dir or default_out_dir(run)) / "calibration.png")
    return path, calibration
