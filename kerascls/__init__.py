"""kerascls: train, understand and ship image classifiers with Keras 3 on TensorFlow.

Example:
    >>> import kerascls
    >>> "resnet20" in kerascls.list_models()
    True
    >>> model = kerascls.create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))

Names are imported lazily so that `import kerascls` (and every command's `--help`) does
not pay for importing TensorFlow until something needs it.

Layers, from the bottom; a module imports only from its own package and the layers below
(CI checks this with import-linter, the contract in pyproject.toml; docs/architecture.md):

    errors      KerasclsError and its kinds: the one-line messages users see
    data        image files, datasets, splits, tf.data pipelines, augmentation
    models      the model registry, layers, loading and portable .keras files
                (data and models are independent of each other)
    runs        run folders (Run, load_run) and the one atomic writer
    evaluate    metrics, batched prediction, reports
    train       Recipe, fit, resume, callbacks, schedules, k-fold
    viz         feature maps, Grad-CAM, confusion matrices, curves
    export      SavedModel, TFLite, ONNX, TensorRT, runners, benchmarks
                (viz and export are independent of each other)
    optimize    QAT, pruning, distillation (tfmot, tf_keras)
    serve       kerascls-serve: the HTTP server on the export runners, metrics, A/B
    report      kerascls-report: one HTML page about a run, or comparing runs
                (optimize, serve and report are independent of each other)
    cli         the kerascls-* commands
"""

from __future__ import annotations

import os

from kerascls.lazy import lazy_getattr

# TensorFlow's pip wheel turns its oneDNN kernels on only for CPUs with AVX512_VNNI,
# AVX512_BF16 or AMX; on AVX2 CPUs they stay off, and ResNet-20 trains at about half speed
# (benchmarks/README.md, "Training throughput ... oneDNN on"). The switch is read
# when TensorFlow loads, so it must be set before anything imports it; a user's own
# setting (TF_ENABLE_ONEDNN_OPTS=0, for bit-exact Eigen results) wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "create_model": "kerascls.models",
    "list_models": "kerascls.models",
    "register_model": "kerascls.models",
    "load_model": "kerascls.models",
    "load_cifar10": "kerascls.data",
    "load_image_folder": "kerascls.data",
    "from_arrays": "kerascls.data",
    "fit": "kerascls.train",
    "load_run": "kerascls.runs",
    "Recipe": "kerascls.train",
    "KerasclsError": "kerascls.errors",
}

__all__ = ["__version__", *_LAZY]


__getattr__ = lazy_getattr("kerascls", _LAZY, globals())
