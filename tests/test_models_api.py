"""The model API around the architectures: argument errors that quote the bad value, the
registry and its metadata, standardization, transfer-learning helpers and the offline path.
"""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

from kerascls.errors import ModelError, OfflineError
from kerascls.models import (
    create_model,
    get_layer_by_path,
    get_model_info,
    list_models,
    register_model,
    unfreeze_top_layers,
)
from kerascls.models import registry as registry_module
from kerascls.models.layers import classifier_head, image_input
from kerascls.models.transfer import CAFFE_MEAN_RGB, keras_cache_dir

MEAN, STD = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)
TINY_CNN = {"filters": (4, 8), "convs_per_stage": 1}


@pytest.mark.parametrize(
    ("args", "kwargs", "quoted"),
    [
        (("resnet21", 10), {}, "'resnet21'"),
        (("cnn", 1), {}, "1"),
        (("cnn", 2.5), {}, "2.5"),
        (("cnn", True), {}, "True"),
        (("cnn", 10, (32, 32, 1)), {}, "(32, 32, 1)"),
        (("cnn", 10, (32, 32)), {}, "(32, 32)"),
        (("cnn", 10), {"mean": MEAN}, "std=None"),
        (("cnn", 10), {"mean": MEAN, "std": (63.0, 0.0, 66.7)}, "(63.0, 0.0, 66.7)"),
        (("cnn", 10), {"mean": (0.49, 0.48, 0.45), "std": (0.25, 0.24, 0.26)}, "0.49"),
        (("cnn", 10), {"backend": "torch"}, "'torch'"),
        (("cnn", 10), {"colour": True}, "'colour'"),
        (("cnn", 10), {"se_ratio": 1.5}, "1.5"),
        (("cnn", 10), {"filters": (16, -1)}, "(16, -1)"),
        (("se_resnet20", 10), {"se_ratio": -0.25}, "-0.25"),
        (("resnet20", 10), {"depth": 21}, "21"),
        (("resnet20", 10), {"dropout": 1.0}, "1.0"),
        (("resnet18", 10, (16, 16, 3)), {"small_input": False}, "(16, 16, 3)"),
        (("resnet18", 10), {"small_input": "yes"}, "'yes'"),
        (("resnet50", 10), {"depth": 42}, "42"),
        (("mobilenetv3_small", 10), {"alpha": 0}, "0"),
        (("mobilenetv3_small", 10), {"variant": "tiny"}, "'tiny'"),
        (("lenet5", 10, (28, 28, 3)), {}, "(28, 28, 3)"),
        (("transfer_resnet50", 10), {"backend": "tf_keras"}, "tf_keras"),
        (("transfer_resnet50", 10, (16, 16, 3)), {"weights": None}, "resize_to"),
        (("transfer_resnet50", 10), {"weights": None, "resize_to": 16}, "16"),
        (("transfer_resnet50", 10), {"weights": "nowhere.h5"}, "'nowhere.h5'"),
        (("transfer_resnet50", 10), {"weights": None, "backbone": "vgg16"}, "'vgg16'"),
    ],
)
def test_bad_arguments_raise_model_error_quoting_the_value(args, kwargs, quoted):
    with pytest.raises(ModelError) as error:
        create_model(*args, **kwargs)
    assert quoted in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ModelError, match="did you mean 'resnet20'"):
        create_model("resnet_20", 10)
    with pytest.raises(ModelError, match="valid names: airbench, airbench_wide, cnn"):
        get_model_info("alexnet")


def test_metadata():
    info = get_model_info("se_resnet20")
    assert info.family == "resnet_cifar"
    assert info.supports_tf_keras
    assert dict(info.default_kwargs) == {"depth": 20, "se_ratio": 0.25}
    assert info.description
    transfer = get_model_info("transfer_mobilenetv3small")
    assert (transfer.family, transfer.supports_tf_keras) == ("transfer", False)
    assert get_model_info("mobilenetv3_large").default_kwargs["variant"] == "large"


def test_register_model_adds_a_model_and_refuses_duplicates():
    @register_model("test_tiny_model", family="test", width=4)
    def tiny(spec, *, width=8):
        """A test model."""
        inputs, x = image_input(spec)
        x = spec.keras.layers.Conv2D(width, 3, name="stem_conv")(x)
        return spec.keras.Model(inputs, classifier_head(spec, x), name=spec.name)

    try:
        assert "test_tiny_model" in list_models()
        model = create_model("test_tiny_model", 3, (8, 8, 3))
        assert model.get_layer("stem_conv").filters == 4
        assert create_model("test_tiny_model", 3, (8, 8, 3), width=2).output_shape == (None, 3)
        with pytest.raises(ModelError, match="already registered"):
            register_model("test_tiny_model")(tiny)
        with pytest.raises(ModelError, match="'depth'"):
            register_model("test_tiny_model_2", depth=3)(tiny)
    finally:
        registry_module._REGISTRY.pop("test_tiny_model", None)


def test_standardize_layer_subtracts_mean_and_divides_by_std():
    model = create_model("cnn", 10, (8, 8, 3), mean=MEAN, std=STD, **TINY_CNN)
    standardize = model.get_layer("standardize")
    assert isinstance(standardize, keras.layers.Normalization)
    at_mean = np.broadcast_to(np.array(MEAN, "float32"), (1, 8, 8, 3))
    one_std_up = at_mean + np.array(STD, "float32")
    np.testing.assert_allclose(standardize(at_mean), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardize(one_std_up), 1.0, atol=1e-5)


def test_without_statistics_pixels_are_rescaled_to_unit_range():
    model = create_model("cnn", 10, (8, 8, 3), **TINY_CNN)
    standardize = model.get_layer("standardize")
    assert isinstance(standardize, keras.layers.Rescaling)
    np.testing.assert_allclose(standardize(np.full((1, 8, 8, 3), 255.0, "float32")), 1.0)


def test_scalar_statistics_apply_to_every_channel():
    model = create_model("cnn", 10, (8, 8, 3), mean=127.5, std=64.0, **TINY_CNN)
    x = np.full((1, 8, 8, 3), 127.5 + 64.0, "float32")
    np.testing.assert_allclose(model.get_layer("standardize")(x), 1.0, atol=1e-6)


def test_cnn_options():
    model = create_model(
        "cnn", 10, (16, 16, 3), filters=(4, 8, 8), convs_per_stage=(1, 2, 1), batchnorm=False,
        se_ratio=0.5, stage_dropout=0.1, dropout=0.2,
    )  # fmt: skip
    names = {layer.name for layer in model.layers}
    assert {"stage2_conv2", "stage3_se_excite", "stage1_dropout", "head_dropout"} <= names
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert "stage3_pool" not in names
    assert model.get_layer("stage3_conv1").output.shape == (None, 4, 4, 8)


def test_transfer_resnet50_applies_caffe_preprocessing(tmp_path):
    """The model must compute what keras.applications' ResNet50 computes on preprocess_input."""
    reference = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    weights = tmp_path / "resnet50_notop.weights.h5"
    reference.save_weights(weights)
    model = create_model("transfer_resnet50", 10, (32, 32, 3), weights=str(weights))

    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = reference(keras.applications.resnet50.preprocess_input(x.copy()), training=False)
    standardized = model.get_layer("standardize")(x)
    np.testing.assert_allclose(standardized, x - np.array(CAFFE_MEAN_RGB, "float32"), atol=1e-4)
    features = model.get_layer("backbone")(standardized, training=False)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)


def test_transfer_model_structure_and_resize():
    model = create_model(
        "transfer_mobilenetv3small", 4, (32, 32, 3), weights=None, resize_to=64, mean=MEAN, std=STD
    )
    assert isinstance(model.get_layer("backbone"), keras.Model)
    assert model.get_layer("backbone").input_shape == (None, 64, 64, 3)
    assert model.get_layer("resize").output.shape == (None, 64, 64, 3)
    # mean/std are ignored: the backbone brings its own preprocessing.
    assert isinstance(model.get_layer("standardize"), keras.layers.Identity)
    assert not model.get_layer("backbone").trainable
    head = {"head_pool", "head_dropout", "head_dense", "predictions"}
    assert {w.path.split("/")[0] for w in model.trainable_weights} <= head


def test_unfreeze_top_layers_keeps_batchnorm_frozen():
    model = create_model("transfer_mobilenetv3small", 4, (32, 32, 3), weights=None)
    backbone = model.get_layer("backbone")
    frozen_count = len(model.trainable_weights)

    unfrozen = unfreeze_top_layers(model, 12)
    top = backbone.layers[-12:]
    batchnorm = keras.layers.BatchNormalization
    assert unfrozen == sum(1 for x in top if x.weights and not isinstance(x, batchnorm))
    assert unfrozen > 0
    assert len(model.trainable_weights) > frozen_count
    for layer in backbone.layers:
        if isinstance(layer, batchnorm) or layer not in top:
            assert not layer.trainable or not layer.weights, layer.name
    assert unfreeze_top_layers(model, 0) == 0
    assert len(model.trainable_weights) == frozen_count
    with pytest.raises(ModelError, match="-1"):
        unfreeze_top_layers(model, -1)
    with pytest.raises(ModelError, match="nested"):
        unfreeze_top_layers(create_model("cnn", 10, (8, 8, 3), **TINY_CNN), 3)


def test_imagenet_weights_offline_raise_offline_error():
    """Here (no internet) this raises OfflineError; with the weights cached it builds."""
    try:
        model = create_model("transfer_mobilenetv3small", 10, (32, 32, 3))
    except OfflineError as error:
        message = str(error)
        assert "\n" not in message
        assert "weights=None" in message and keras_cache_dir() in message
    else:
        assert model.output_shape == (None, 10)


def test_failed_download_becomes_offline_error(monkeypatch):
    def fail(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/w.h5: None -- offline")

    monkeypatch.setattr(keras.applications, "ResNet50", fail)
    with pytest.raises(OfflineError, match="ResNet50"):
        create_model("transfer_resnet50", 10)
    with pytest.raises(Exception, match="URL fetch failure") as error:
        create_model("transfer_resnet50", 10, weights=None)  # not a download: not rewritten
    assert not isinstance(error.value, OfflineError)


def test_get_layer_by_path_lists_choices():
    model = create_model("cnn", 10, (8, 8, 3), **TINY_CNN)
    assert get_layer_by_path(model, "stage2_act1").name == "stage2_act1"
    with pytest.raises(ModelError, match=r"'nope'.*stage1_conv1"):
        get_layer_by_path(model, "nope")


def test_building_keras_models_does_not_import_tf_keras_or_tfmot():
    code = (
        "import os, sys; import kerascls.models; "
        "kerascls.models.create_model('cnn', 3, (8, 8, 3), filters=(4,)); "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('tf_keras', 'tensorflow_model_optimization')]; "
        "assert not bad, bad; assert os.environ.get('TF_USE_LEGACY_KERAS') in (None, '0'), 'legacy'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_numpy_numbers_are_accepted():
    """Values computed with NumPy (class counts, statistics, shapes) work like Python ones."""
    model = create_model(
        "cnn", np.int64(3), tuple(np.array([8, 8, 3])), mean=np.float32(120.0),
        std=np.array([60.0, 61.0, 62.0]), filters=[np.int64(4)], se_ratio=np.float32(0.5),
    )  # fmt: skip
    assert model.output_shape == (None, 3)


def test_loading_a_model_for_inference_does_not_import_training_code(tmp_path):
    """kerascls.models sits below kerascls.train: loading a .keras file (kerascls-predict,
    viz, the export runners) must not pull in the trainer, its schedules or callbacks."""
    path = tmp_path / "model.keras"
    create_model("cnn", 3, (8, 8, 3), filters=(4,)).save(path)
    code = (
        "import sys; from kerascls.models import load_model; "
        f"model = load_model({str(path)!r}); "
        "bad = sorted(m for m in sys.modules if m.startswith(('kerascls.train', 'kerascls.viz'))); "
        "assert not bad, bad; print(model.count_params())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 0
