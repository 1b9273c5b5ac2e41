"""ViT, EfficientNet-B0 and ConvNeXt built from scratch (issue 22): parameter counts against
the papers, shapes and a training step at 32x32, export parity and Grad-CAM on tiny instances.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascls.errors import ModelError
from kerascls.models import create_model, find_last_conv_layer, get_model_info, load_model
from kerascls.models.vit import auto_patch_size

# Tiny instances: same code paths as the registered sizes, a fraction of the weights.
TINY = {
    "vit_tiny": {"depth": 2},
    "vit_small": {"depth": 1},
    "efficientnet_b0": {},
    "convnext_tiny": {"depths": (1, 1, 1, 1)},
    "convnext_nano": {"depths": (1, 1, 2, 1)},
}
MODERN = tuple(TINY)


def _images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


# (name, kwargs, reference count at 1000 classes and 224x224, where it comes from)
REFERENCE_COUNTS = [
    ("vit_tiny", {"pool": "token"}, 5_717_416, "timm vit_tiny_patch16_224; ViT-Ti 5.7M"),
    ("vit_small", {"pool": "token"}, 22_050_664, "timm vit_small_patch16_224; ViT-S 22.1M"),
    ("efficientnet_b0", {}, 5_330_571, "keras.applications.EfficientNetB0; paper 5.3M"),
    ("convnext_tiny", {}, 28_589_128, "keras.applications.ConvNeXtTiny; paper 28.6M"),
]


@pytest.mark.parametrize(("name", "kwargs", "reference", "source"), REFERENCE_COUNTS)
def test_parameter_counts_at_224_match_the_papers(name, kwargs, reference, source):
    # Building at 224 costs 0.5-2 s and no training: cheap enough for the default run.
    count = create_model(name, 1000, (224, 224, 3), **kwargs).count_params()
    assert abs(count - reference) <= 0.01 * reference, (name, count, reference, source)


def test_exact_counts_and_the_average_pooled_vit():
    assert create_model("vit_tiny", 1000, (224, 224, 3), pool="token").count_params() == 5_717_416
    # pool="avg" drops the class token and its position: 2 x 192 weights fewer
    assert create_model("vit_tiny", 1000, (224, 224, 3)).count_params() == 5_717_416 - 384
    # EfficientNet-B0 lacks only keras.applications' 7 normalization statistics
    assert create_model("efficientnet_b0", 1000, (224, 224, 3)).count_params() == 5_330_564


@pytest.mark.parametrize("name", MODERN)
def test_forward_shape_at_32(name):
    model = create_model(name, 10, (32, 32, 3), **TINY[name])
    assert model.output_shape == (None, 10)
    probabilities = model.predict(_images(2), verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    assert model.get_layer("standardize") is model.layers[1]
    assert not get_model_info(name).supports_tf_keras


def test_the_registered_sizes_build_at_32():
    shapes = {
        name: create_model(name, 10, (32, 32, 3)).get_layer(layer).output.shape
        for name, layer in [
            ("vit_tiny", "patch_grid"),
            ("vit_small", "patch_grid"),
            ("convnext_tiny", "final_norm"),
            ("convnext_nano", "final_norm"),
        ]
    }
    assert shapes == {
        "vit_tiny": (None, 8, 8, 192),
        "vit_small": (None, 8, 8, 384),
        "convnext_tiny": (None, 2, 2, 768),
        "convnext_nano": (None, 2, 2, 640),
    }


@pytest.mark.parametrize(
    "name",
    # EfficientNet-B0 has no tiny instance: compiling its training step takes ~30 s here
    ["vit_tiny", pytest.param("efficientnet_b0", marks=pytest.mark.slow), "convnext_nano"],
)
def test_one_training_step(name):
    model = create_model(name, 4, (32, 32, 3), **TINY[name])
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(_images(8), np.arange(8) % 4, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_patch_size_rule():
    assert [auto_patch_size(s, s) for s in (28, 32, 64, 96, 224, 384)] == [2, 4, 8, 8, 16, 16]
    assert create_model("vit_tiny", 10, (224, 224, 3), depth=1).get_layer(
        "patch_embed"
    ).kernel_size == (16, 16)


@pytest.mark.parametrize(
    ("name", "kwargs", "quoted"),
    [
        ("vit_tiny", {"patch_size": 5}, "5"),
        ("vit_tiny", {"heads": 5}, "5"),
        ("vit_tiny", {"pool": "max"}, "'max'"),
        ("vit_tiny", {"depth": 0}, "0"),
        ("convnext_nano", {"depths": (1, 2)}, "(1, 2)"),
        ("convnext_nano", {"dims": (8, 16, 32, -1)}, "-1"),
        ("efficientnet_b0", {"dropout": 1.5}, "1.5"),
    ],
)
def test_bad_arguments_quote_the_value(name, kwargs, quoted):
    with pytest.raises(ModelError) as error:
        create_model(name, 10, (32, 32, 3), **kwargs)
    assert quoted in str(error.value)


def test_efficientnet_standardizes_once():
    # the backbone's own Rescaling(1/255) and Normalization are cut off
    model = create_model("efficientnet_b0", 10, (32, 32, 3))
    backbone = model.get_layer("backbone")
    kinds = {type(layer).__name__ for layer in backbone.layers}
    assert "Normalization" not in kinds
    assert not any(type(layer).__name__ == "Rescaling" for layer in backbone.layers)


def test_efficientnet_batchnorm_statistics_keep_up_with_short_runs(tmp_path):
    # keras.applications' 0.99 left a 2-minute photo run at 33% on test/ with 87% training
    # accuracy; kerascls's 0.9 everywhere, and it survives saving
    model = create_model("efficientnet_b0", 10, (32, 32, 3))
    norms = [
        layer
        for layer in model.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == 49 and {layer.momentum for layer in norms} == {0.9}
    model.save(tmp_path / "e.keras")
    loaded = load_model(tmp_path / "e.keras").get_layer("backbone")
    assert {
        layer.momentum
        for layer in loaded.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    } == {0.9}


@pytest.mark.parametrize("name", ["vit_tiny", "convnext_nano"])
def test_save_and_load_round_trip(name, tmp_path):
    model = create_model(name, 3, (32, 32, 3), **TINY[name])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    images = _images(2)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )


def test_position_embeddings_are_interpolated_for_another_input_size(tmp_path):
    small = create_model("vit_tiny", 3, (32, 32, 3), depth=1, patch_size=4)  # 8x8 grid
    path = tmp_path / "vit.weights.h5"
    small.save_weights(path)
    large = create_model("vit_tiny", 3, (48, 48, 3), depth=1, patch_size=4)  # 12x12 grid
    large.load_weights(path)
    old = small.get_layer("pos_embed").embedding.numpy()
    new = large.get_layer("pos_embed").embedding.numpy()
    assert new.shape == (1, 144, 192)
    # a smooth resize keeps the mean of each channel close
    np.testing.assert_allclose(new.mean(1), old.mean(1), atol=5e-3)
    np.testing.assert_array_equal(
        large.get_layer("patch_embed").kernel.numpy(), small.get_layer("patch_embed").kernel.numpy()
    )


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("vit_tiny", "patch_grid"),
        ("convnext_nano", "final_norm"),
        ("efficientnet_b0", "backbone/top_activation"),
    ],
)
def test_gradcam_runs(name, layer):
    from kerascls.viz import gradcam

    size = 64 if name == "efficientnet_b0" else 32  # B0 ends in 1x1 at 32x32
    model = create_model(name, 4, (size, size, 3), **TINY[name])
    assert find_last_conv_layer(model) == layer
    heat = gradcam(model, _images(2, size), class_index=1)
    assert heat.shape == (2, size, size)
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1


@pytest.mark.parametrize(
    ("name", "kwargs"), [("vit_tiny", {"depth": 2}), ("convnext_nano", {"depths": (1, 1, 1, 1)})]
)
def test_export_parity_tflite_and_onnx(name, kwargs, tmp_path):
    # kerascls's own writers, runners and verification (kerascls.export.verify.compare)
    from kerascls.export.onnx import export_onnx, quantize_onnx_int8
    from kerascls.export.runners import load_runner
    from kerascls.export.tflite import convert_tflite
    from kerascls.export.verify import compare

    model = create_model(name, 4, (32, 32, 3), **kwargs)
    images = _images(16, seed=1)
    reference = model.predict(images, verbose=0)
    labels = reference.argmax(1)
    files = {
        "tflite_float32": (tmp_path / "model_float32.tflite", False),
        "tflite_int8": (tmp_path / "model_int8.tflite", True),
        "onnx_float32": (tmp_path / "model.onnx", False),
        "onnx_int8": (tmp_path / "model_int8.onnx", True),
    }
    files["tflite_float32"][0].write_bytes(convert_tflite(model, "float32"))
    files["tflite_int8"][0].write_bytes(convert_tflite(model, "int8", images))
    export_onnx(model, files["onnx_float32"][0])
    quantize_onnx_int8(files["onnx_float32"][0], files["onnx_int8"][0], images)
    for key, (path, quantized) in files.items():
        probabilities = load_runner(path).predict(images)
        # random weights give flat probabilities: allow the INT8 files a wide accuracy drop
        checks = compare(probabilities, reference, labels, quantized=quantized, max_drop=50.0)
        assert checks["passed"], (name, key, checks)
        if not quantized:
            assert checks["max_abs_diff"] < 1e-4, (name, key, checks)


@pytest.mark.parametrize(
    ("preset", "model_kwargs"), [("vit", {"depth": 1}), ("convnext", TINY["convnext_tiny"])]
)
def test_presets_train_the_modern_models(preset, model_kwargs, tmp_path):
    from kerascls.data import from_arrays
    from kerascls.train import Recipe, fit

    recipe = Recipe.preset(preset, model_kwargs=model_kwargs, epochs=1, batch_size=8,
                           warmup_epochs=0.5, logdir=str(tmp_path))  # fmt: skip
    assert (recipe.optimizer, recipe.schedule, recipe.weight_decay) == ("adamw", "cosine", 0.05)
    images = _images(16).astype(np.uint8)
    data = from_arrays(images, np.arange(16) % 2, class_names=["a", "b"])
    run = fit(recipe, data=data, verbose=0)
    assert run.path.exists()


@pytest.mark.parametrize("pool", ["avg", "token"])
def test_attention_rollout_on_vit(pool):
    from kerascls.viz import explain

    model = create_model("vit_tiny", 4, (32, 32, 3), depth=2, pool=pool)
    explanation = explain(model, _images(3), "attention_rollout", class_index=2)
    assert explanation.method == "attention_rollout"
    assert explanation.heatmaps.shape == (3, 32, 32)
    assert np.isfinite(explanation.heatmaps).all()
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1
    assert explanation.class_indices.tolist() == [2, 2, 2]


def test_attention_rollout_follows_the_attention():
    # Weights set so that every token attends to patch 0 (top-left) alone: the map peaks there.
    from kerascls.viz.rollout import AttentionRollout

    model = create_model("vit_tiny", 4, (32, 32, 3), depth=1)
    attention = model.get_layer("block1_attn")
    token0 = np.zeros(192, "float32")
    token0[0] = 10.0  # a black image: every token is 0 but for its position embedding
    position = np.zeros((1, 64, 192), "float32")
    position[0, 0] = token0
    model.get_layer("pos_embed").embedding.assign(position)
    normed = (token0 - token0.mean()) / np.sqrt(token0.var() + 1e-6)  # block1_norm1's output
    # keys = the normed tokens (0 except token 0); every query = 10 x token 0's key
    eye = np.eye(192, dtype="float32").reshape(attention.key_dense.kernel.shape)
    attention.key_dense.kernel.assign(eye)
    attention.key_dense.bias.assign(np.zeros(attention.key_dense.bias.shape, "float32"))
    attention.query_dense.kernel.assign(np.zeros(eye.shape, "float32"))
    attention.query_dense.bias.assign(10.0 * normed.reshape(attention.query_dense.bias.shape))
    heat = AttentionRollout(model)(np.zeros((1, 32, 32, 3), "float32")).heatmaps[0]
    # patch 0 is pixels 0-3 square; bilinear upsampling of the 8x8 map blurs its edge
    assert heat[:2, :2].min() > 0.9 and heat[8:, 8:].max() < 0.1


def test_attention_rollout_needs_a_transformer():
    from kerascls.errors import KerasclsError
    from kerascls.viz import explain

    model = create_model("convnext_nano", 4, (32, 32, 3), depths=(1, 1, 1, 1))
    with pytest.raises(ModelError, match="no MultiHeadAttention"):
        explain(model, _images(1), "attention_rollout")
    with pytest.raises(KerasclsError, match="attention_rollout"):
        explain(model, _images(1), "rollout")


def test_adamw_does_not_decay_norms_biases_or_vit_embeddings():
    from kerascls.train import Recipe
    from kerascls.train.schedules import build_optimizer

    model = create_model("vit_tiny", 3, (32, 32, 3), depth=1, pool="token")
    optimizer = build_optimizer(Recipe.preset("vit"), steps_per_epoch=10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert "cls_token/class_token" not in decayed and "pos_embed/position_embedding" not in decayed
    assert "block1_norm1/gamma" not in decayed and "head_dense/bias" not in decayed
    assert {"patch_embed/kernel", "block1_attn/query/kernel", "head_dense/kernel"} <= decayed


@pytest.mark.slow  # ~10 s: trains a small ViT for 6 epochs
def test_attention_rollout_finds_the_quadrant_of_a_trained_vit():
    # test_viz's quadrant images: class k's coloured square lies in quadrant k. Measured
    # (2026-12-04, seeds 0 and 1): rollout puts 0.54 and 0.48 of its heat in the right
    # quadrant (chance: 0.25); Grad-CAM on "patch_grid" only 0.25 and 0.24, since after
    # attention every token carries the colour, so it is not asserted here.
    from test_viz import SIZE, quadrant_images, quadrant_share

    from kerascls.viz import explain

    images, labels = quadrant_images(512, 0)
    test_images, test_labels = quadrant_images(64, 1)
    keras.utils.set_random_seed(0)
    model = create_model("vit_tiny", 4, (SIZE, SIZE, 3), dim=64, heads=2, mlp_dim=128, depth=2)
    model.compile(
        keras.optimizers.AdamW(2e-3, weight_decay=0.01), "sparse_categorical_crossentropy"
    )
    model.fit(images.astype("float32"), labels, batch_size=32, epochs=6, verbose=0)
    explanation = explain(model, test_images.astype("float32"), "attention_rollout")
    assert (explanation.class_indices == test_labels).mean() >= 0.9
    assert quadrant_share(explanation.heatmaps, test_labels).mean() > 0.4


@pytest.mark.parametrize("name", MODERN)
def test_qat_and_pruning_refuse_them_clearly(name):
    # tensorflow-model-optimization needs a tf_keras twin; these models have none
    from kerascls.optimize.twin import ModelRecipe

    with pytest.raises(ModelError, match=r"cannot be rebuilt with tf_keras.*Keras 3-only.*distill"):
        ModelRecipe(name, 10, (32, 32, 3)).build("tf_keras")


def test_distillation_works_on_them_where_qat_cannot():
    # The way round the tf_keras refusal above: a ViT teacher taught to a ConvNeXt student.
    from helpers import colour_dataset

    from kerascls.optimize import distill

    data = colour_dataset(n_per_class=24, size=16)
    keras.utils.set_random_seed(0)
    teacher = create_model("vit_tiny", 3, (16, 16, 3), dim=64, heads=2, mlp_dim=128, depth=2)
    teacher.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    teacher.fit(data.train.images.astype("float32"), data.train.labels, epochs=8, verbose=0)
    student_kwargs = {"depths": (1, 1, 1, 1), "dims": (8, 16, 24, 32)}
    result = distill(
        teacher,
        student="convnext_nano",
        student_kwargs=student_kwargs,
        epochs=6,
        lr=3e-3,
        batch_size=16,
        data=data,
    )
    assert result.metrics["student_params"] < result.metrics["teacher_params"]
    images = data.validation.images.astype("float32")
    student = np.asarray(result.student(images)).argmax(1)
    assert (student == data.validation.labels).mean() >= 0.8, "the student learned the colours"
