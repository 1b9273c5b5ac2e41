"""Every registered model, built from the registry: forward pass, parameter counts against
published figures, Grad-CAM layer, .keras round trip and tf_keras weight parity.

Models are built once per name (10 classes, 32x32) and shared between tests; a new model
registered with `register_model` is tested here for free.
"""

from __future__ import annotations

import functools
import importlib.util

import keras
import numpy as np
import pytest

from kerascls.models import (
    conv_layer_names,
    create_model,
    find_last_conv_layer,
    get_layer_by_path,
    get_model_info,
    list_models,
    load_model,
)

NAMES = list_models()
TF_KERAS_NAMES = [name for name in NAMES if get_model_info(name).supports_tf_keras]
HAS_TF_KERAS = importlib.util.find_spec("tf_keras") is not None

# Published sizes of the CIFAR ResNets (He et al. 2016, table 6), 10 classes. Ours use
# projection shortcuts, which add a few thousand parameters.
CIFAR_PARAMS = {
    "resnet20": 0.27e6,
    "resnet32": 0.46e6,
    "resnet44": 0.66e6,
    "resnet56": 0.85e6,
    "resnet110": 1.7e6,
}
# torchvision's parameter counts at 1000 classes (ImageNet stem, any input size).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "mobilenetv3_small": 2_542_856,
    "mobilenetv3_large": 5_483_032,
}
# tf_keras parity for the deeper copies of a family already checked is slow, not different.
SLOW_PARITY = {
    "resnet32", "resnet44", "resnet56", "resnet110", "resnet34",
    "se_resnet32", "se_resnet44", "se_resnet56", "se_resnet110", "se_resnet34", "se_resnet50",
}  # fmt: skip


@functools.cache
def built(name: str) -> keras.Model:
    """The registry model `name` for 10 classes at 32x32 (transfer ones without weights)."""
    kwargs = {"weights": None} if get_model_info(name).family == "transfer" else {}
    return create_model(name, 10, (32, 32, 3), **kwargs)


def images(n: int = 2, size: int = 32, seed: int = 0) -> np.ndarray:
    """Raw 0-255 float32 pixels, as every kerascls model takes them."""
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def test_registry_has_the_promised_models():
    expected = {
        "cnn", "se_cnn", "lenet5",
        *(f"{p}resnet{d}" for p in ("", "se_") for d in (20, 32, 44, 56, 110, 18, 34, 50)),
        "mobilenetv3_small", "mobilenetv3_large",
        "transfer_resnet50", "transfer_mobilenetv3small", "transfer_efficientnetb0",
    }  # fmt: skip
    assert expected <= set(NAMES)
    assert sorted(NAMES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_forward_gives_probabilities(name):
    model = built(name)
    assert model.name == name
    assert [t.name for t in model.inputs] == ["image"]
    assert model.inputs[0].dtype == "float32"
    assert model.layers[1].name == "standardize"
    for layer_name in ("head_pool", "head_dense", "predictions"):
        model.get_layer(layer_name)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in all_layers(model))

    probs = np.asarray(model(images(2), training=False))
    assert probs.shape == (2, 10)
    assert probs.dtype == np.float32
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CIFAR_PARAMS))
def test_cifar_resnet_parameter_counts(name):
    assert trainable_count(built(name)) == pytest.approx(CIFAR_PARAMS[name], rel=0.03)


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_imagenet_parameter_counts_match_torchvision(name):
    model = create_model(name, 1000, (224, 224, 3), small_input=False)
    assert trainable_count(model) == pytest.approx(TORCHVISION_PARAMS[name], rel=0.01)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("se_")])
def test_se_variants_are_larger_than_plain(name):
    assert built(name).count_params() > built(name.removeprefix("se_")).count_params()


@pytest.mark.parametrize(
    ("name", "spatial"),
    [("resnet18", 4), ("resnet50", 4), ("mobilenetv3_small", 4), ("mobilenetv3_large", 4)],
)
def test_small_input_keeps_a_spatial_map_at_32x32(name, spatial):
    model = built(name)  # small_input=None resolves to True below 64 px
    shape = get_layer_by_path(model, find_last_conv_layer(model)).output.shape
    assert shape[1:3] == (spatial, spatial)


def test_imagenet_stem_at_32x32_ends_in_1x1():
    model = create_model("mobilenetv3_small", 10, (32, 32, 3), small_input=False)
    assert model.get_layer("last_act").output.shape[1:3] == (1, 1)


@pytest.mark.parametrize("name", NAMES)
def test_find_last_conv_layer(name):
    model = built(name)
    path = find_last_conv_layer(model)
    assert path in conv_layer_names(model)
    layer = get_layer_by_path(model, path)
    assert len(layer.output.shape) == 4
    if get_model_info(name).family == "transfer":
        assert path.startswith("backbone/")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet20", "stage3_block3_out"),
        ("se_resnet50", "stage4_block3_out"),
        ("mobilenetv3_small", "last_act"),
        ("lenet5", "c5_act"),
        ("transfer_resnet50", "backbone/conv5_block3_out"),
        ("transfer_efficientnetb0", "backbone/top_activation"),
    ],
)
def test_find_last_conv_layer_names(name, expected):
    assert find_last_conv_layer(built(name)) == expected


def test_find_last_conv_layer_on_user_models():
    sequential = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, name="c1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, name="c2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    assert find_last_conv_layer(sequential) == "c2"
    assert conv_layer_names(sequential) == ["c1", "max_pooling2d", "c2"]

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    assert find_last_conv_layer(keras.Model(inputs, outputs)) == "relu"


@pytest.mark.parametrize("name", ["mobilenetv3_small", "se_resnet20", "transfer_resnet50"])
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    model = built(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = load_model(path)
    x = images(2)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)


def test_probabilities_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = create_model("mobilenetv3_small", 10, (32, 32, 3), alpha=0.5)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.get_layer("head_dense").compute_dtype == "float16"
    probs = model(images(2), training=False)
    assert str(probs.dtype) in ("float32", "<dtype: 'float32'>")
    np.testing.assert_allclose(np.asarray(probs).sum(axis=1), 1.0, atol=1e-5)


def _randomize_batchnorm_statistics(model, seed: int = 0) -> None:
    """Move BN statistics off their 0/1 defaults so that a mis-copied weight shows."""
    rng = np.random.default_rng(seed)
    weights = []
    for variable, value in zip(model.weights, model.get_weights(), strict=True):
        if "moving_mean" in variable.path:
            value = rng.normal(0, 0.5, value.shape).astype(value.dtype)
        elif "moving_variance" in variable.path:
            value = rng.uniform(0.5, 2.0, value.shape).astype(value.dtype)
        weights.append(value)
    model.set_weights(weights)


@pytest.mark.skipif(not HAS_TF_KERAS, reason="tf_keras is not installed")
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_PARITY else n for n in TF_KERAS_NAMES],
)
def test_tf_keras_twin_gives_the_same_outputs(name):
    mean, std = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)
    model = create_model(name, 10, (32, 32, 3), mean=mean, std=std)
    twin = create_model(name, 10, (32, 32, 3), mean=mean, std=std, backend="tf_keras")
    assert type(twin).__module__.startswith("tf_keras")
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    _randomize_batchnorm_statistics(model)
    twin.set_weights(model.get_weights())

    # Compare logits too: near-uniform probabilities could hide a mis-copied weight. Random
    # deep networks reach logits in the hundreds, so the tolerance scales with them.
    logits = keras.Model(model.inputs[0], model.get_layer("head_dense").output)
    twin_logits = type(twin)(twin.inputs[0], twin.get_layer("head_dense").output)
    x = images(2)
    expected = np.asarray(logits(x, training=False))
    np.testing.assert_allclose(
        twin_logits(x, training=False).numpy(),
        expected,
        rtol=0,
        atol=1e-5 * max(1.0, float(np.abs(expected).max())),
    )
    np.testing.assert_allclose(
        twin(x, training=False).numpy(), np.asarray(model(x, training=False)), atol=1e-5
    )
