"""Compress a trained model: quantization-aware training, pruning, distillation.

- `qat(run_or_model, epochs=2)`: fine-tune with fake quantization (tfmot) and export a
  full-INT8 TFLite file checked against the QAT Keras model.
- `prune(run_or_model, sparsity=0.5, epochs=2)`: magnitude pruning to a target sparsity
  with a polynomial-decay schedule; per-layer sparsity and gzip sizes; optional INT8.
- `distill(teacher_run, student="mobilenetv3_small", epochs=10)`: train a small student
  on the teacher's temperature-softened logits (`Distiller`).

Each returns a result whose `.save(logdir)` writes a new run folder that every kerascls
command can use. tensorflow-model-optimization is imported only inside QAT and pruning:
importing it sets TF_USE_LEGACY_KERAS=1 for the whole process.

Each module's docstring has a runnable example (quantization, pruning, distillation), on
an untrained tiny CNN and random images; pass a run folder instead for a trained model.
"""

from __future__ import annotations

from kerascls.lazy import lazy_getattr

# public name -> module that defines it (imported on first use: no TensorFlow at import)
_LAZY = {
    "qat": "kerascls.optimize.quantization",
    "quantize_aware": "kerascls.optimize.quantization",
    "QATResult": "kerascls.optimize.quantization",
    "prune": "kerascls.optimize.pruning",
    "PruneResult": "kerascls.optimize.pruning",
    "sparsity_report": "kerascls.optimize.pruning",
    "gzip_size": "kerascls.optimize.pruning",
    "distill": "kerascls.optimize.distillation",
    "Distiller": "kerascls.optimize.distillation",
    "DistillResult": "kerascls.optimize.distillation",
    "ModelRecipe": "kerascls.optimize.twin",
    "tf_keras_twin": "kerascls.optimize.twin",
    "copy_weights": "kerascls.optimize.twin",
    "resolve_source": "kerascls.optimize.source",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("kerascls.optimize", _LAZY, globals())
