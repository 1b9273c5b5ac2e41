"""Understanding a classifier: Grad-CAM and friends, feature maps, and plots of a run.

Explanations (heatmaps in [0, 1] at the model's input resolution):
    gradcam, gradcam_plus_plus, saliency, occlusion   one call, the heatmap array
    explain, make_explainer, Explanation               batches, top classes, reuse
    GradCAM, Saliency, Occlusion                       the explainer classes
    overlay_heatmap                                    a heatmap over the original image
Feature maps:
    feature_maps, default_feature_layers, plot_feature_maps
A run's plots:
    confusion_matrix, plot_confusion_matrix           raw and row-normalised heatmaps
    read_history, plot_curves                          loss, accuracy, learning rate
    run_predictions, Predictions                       validation predictions, cached
    most_confident_errors, plot_errors                 a gallery of confident mistakes
    calibration_curve, expected_calibration_error, plot_reliability
During training:
    TensorBoardImages                                  confusion matrix + Grad-CAM per epoch
Files:
    load_image, find_images, save_figure, write_png    atomic writes, robust reading
The `kerascls-viz` subcommands are the functions of `kerascls.viz.commands`.

Names are imported lazily: plotting a run's curves does not need TensorFlow's gradients.

Example:
    >>> import numpy as np
    >>> import kerascls.viz as viz
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3))
    >>> heatmap = viz.gradcam(model, image)           # (16, 16) in [0, 1]
    >>> overlay = viz.overlay_heatmap(image.astype("uint8"), heatmap)
    >>> overlay.shape, overlay.dtype
    ((16, 16, 3), dtype('uint8'))
"""

from __future__ import annotations

from kerascls.lazy import lazy_getattr

# public name -> module that defines it
_LAZY = {
    "Explanation": "kerascls.viz.explanation",
    "GradCAM": "kerascls.viz.cam",
    "Saliency": "kerascls.viz.pixel_attribution",
    "Occlusion": "kerascls.viz.pixel_attribution",
    "AttentionRollout": "kerascls.viz.rollout",
    "METHODS": "kerascls.viz.methods",
    "explain": "kerascls.viz.methods",
    "make_explainer": "kerascls.viz.methods",
    "gradcam": "kerascls.viz.methods",
    "gradcam_plus_plus": "kerascls.viz.methods",
    "saliency": "kerascls.viz.methods",
    "occlusion": "kerascls.viz.methods",
    "probe_model": "kerascls.viz.graph",
    "overlay_heatmap": "kerascls.viz.overlay",
    "colorize": "kerascls.viz.overlay",
    "feature_maps": "kerascls.viz.featuremaps",
    "default_feature_layers": "kerascls.viz.featuremaps",
    "plot_feature_maps": "kerascls.viz.featuremaps",
    "confusion_matrix": "kerascls.viz.confusion",
    "plot_confusion_matrix": "kerascls.viz.confusion",
    "read_history": "kerascls.viz.curves",
    "plot_curves": "kerascls.viz.curves",
    "Predictions": "kerascls.viz.predictions",
    "run_predictions": "kerascls.viz.predictions",
    "most_confident_errors": "kerascls.viz.errors_gallery",
    "plot_errors": "kerascls.viz.errors_gallery",
    "Calibration": "kerascls.viz.calibration",
    "calibration_curve": "kerascls.viz.calibration",
    "expected_calibration_error": "kerascls.viz.calibration",
    "plot_reliability": "kerascls.viz.calibration",
    "TensorBoardImages": "kerascls.viz.tensorboard",
    "load_image": "kerascls.viz.images",
    "find_images": "kerascls.viz.images",
    "save_figure": "kerascls.viz.files",
    "write_png": "kerascls.viz.files",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("kerascls.viz", _LAZY, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
