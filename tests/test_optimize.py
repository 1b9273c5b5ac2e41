"""Model compression: QAT to a full-INT8 TFLite file that agrees with the QAT Keras model,
pruning to the requested sparsity, Keras 3 <-> tf_keras weight copies through tfmot's
wrappers for every model that can be quantized, distillation, and the command line.

Everything runs on tiny models and a three-colour dataset made here, with real
TensorFlow, tf_keras and tensorflow-model-optimization.
"""

from __future__ import annotations

import importlib.util
import json

import keras
import numpy as np
import pytest
from helpers import colour_dataset, copy_run
from test_models import _randomize_batchnorm_statistics

from kerascls.errors import KerasclsError, ModelError
from kerascls.models import create_model, get_model_info, list_models, load_model
from kerascls.runs import load_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_model_optimization") is None
    or importlib.util.find_spec("tf_keras") is None,
    reason="needs the optimize extra: pip install -e .[optimize]",
)

TINY = {"filters": (8, 16), "convs_per_stage": 1}
STATS = {"mean": (110.0, 110.0, 110.0), "std": (70.0, 70.0, 70.0)}
QAT_NAMES = [name for name in list_models() if get_model_info(name).supports_tf_keras]
# Building a fake-quant model costs seconds per hundred layers: the default run covers
# one model of each kind of layer tfmot needs our configs for (SE Multiply, hard-swish,
# Add, standardize); the rest, and the deeper copies of those, are slow.
FAST_QAT = {"cnn", "se_cnn", "resnet20", "se_resnet20"}


@pytest.fixture(scope="module")
def data():
    return colour_dataset(n_per_class=40, size=16)


@pytest.fixture(scope="module")
def trained(data):
    """A tiny CNN trained to tell the three colours apart."""
    keras.utils.set_random_seed(0)
    model = create_model("cnn", 3, (16, 16, 3), **STATS, **TINY)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(
        data.train.images.astype("float32"), data.train.labels, epochs=8, batch_size=16, verbose=0
    )
    return model


def validation_images(data) -> np.ndarray:
    return data.validation.images.astype("float32")


# --- quantization-aware training ------------------------------------------------------


@pytest.fixture(scope="module")
def qat_result(trained, data):
    from kerascls.optimize import qat

    return qat(trained, epochs=1, lr=0.01, batch_size=16, data=data, model_kwargs=TINY)


def test_qat_int8_tflite_agrees_with_the_qat_keras_model(qat_result, data):
    from ai_edge_litert.interpreter import Interpreter

    from kerascls.export.runners.tflite_runner import TFLiteRunner

    metrics = qat_result.metrics
    assert metrics["images"] == len(data.validation)
    assert metrics["top1_agreement"] >= 0.95
    assert metrics["max_prob_diff"] < 0.05
    assert metrics["float_accuracy"] >= 0.9
    assert metrics["int8_accuracy"] >= metrics["float_accuracy"] - 0.05

    # The file is full integer at both ends, and independently re-running it agrees.
    interpreter = Interpreter(model_content=qat_result.tflite)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    images = validation_images(data)
    reference = np.asarray(qat_result.qat_model(images, training=False))
    assert type(qat_result.qat_model).__module__.startswith("tf_keras")
    from kerascls.optimize.int8_check import tflite_probabilities

    int8 = tflite_probabilities(qat_result.tflite, images)
    assert np.mean(int8.argmax(1) == reference.argmax(1)) >= 0.95
    assert np.abs(int8 - reference).max() < 0.05
    assert TFLiteRunner.__name__  # the runner kerascls-export uses is the one checked


def test_activation_ranges_start_at_the_data_not_at_tfmots_six(trained, data):
    from kerascls.optimize.quantization import (
        calibrate_activation_ranges,
        moving_average_range_variables,
        quantize_aware,
    )
    from kerascls.optimize.twin import ModelRecipe

    qat_model = quantize_aware(trained, ModelRecipe.from_model(trained, TINY))
    ranges = {v.name.split(":")[0]: v for v in moving_average_range_variables(qat_model)}
    relu_min, relu_max = (
        ranges["quant_stage1_act1/output_min"],
        ranges["quant_stage1_act1/output_max"],
    )
    assert float(relu_min.numpy()) == -6.0 and float(relu_max.numpy()) == 6.0  # tfmot's start
    assert not any("kernel" in name or "quantize_layer" in name for name in ranges)
    bn = qat_model.get_layer("quant_stage1_bn1").layer
    statistics = [
        v.numpy().copy() for v in qat_model.non_trainable_variables if "moving_" in v.name
    ]
    images = data.train.images.astype("float32")[:64]

    count = calibrate_activation_ranges(qat_model, images, batch_size=16)

    # The first ReLU's range is now [0, mean of the batches' max], measured on the float
    # model (the fake-quant one differs by its rounding only).
    float_relu = keras.Model(trained.inputs, trained.get_layer("stage1_act1").output)
    batch_max = np.mean([float_relu(batch).numpy().max() for batch in np.split(images, 4)])
    assert float(relu_min.numpy()) == pytest.approx(0.0, abs=1e-3)
    assert float(relu_max.numpy()) == pytest.approx(batch_max, rel=0.05)
    assert count == len(ranges) >= 6
    # BatchNormalization ran in inference mode and is trainable again for fine-tuning.
    after = [v.numpy() for v in qat_model.non_trainable_variables if "moving_" in v.name]
    assert statistics and all(np.array_equal(a, b) for a, b in zip(statistics, after, strict=True))
    assert bn.trainable
    with pytest.raises(KerasclsError, match="at least 2 images"):
        calibrate_activation_ranges(qat_model, images[:1])


def test_qat_result_saves_an_ordinary_run(qat_result, data, tmp_path):
    run = qat_result.save(tmp_path / "logs")
    loaded = load_run(run.path)
    assert loaded.model_name == "cnn"
    assert loaded.class_names == ["red", "green", "blue"]
    assert loaded.info["optimization"]["method"] == "qat"
    assert loaded.info["model"]["kwargs"] == {"filters": [8, 16], "convs_per_stage": 1}
    assert loaded.info["normalization"]["mean"] == list(STATS["mean"])
    # best.keras is the float Keras 3 model holding the fine-tuned weights
    model = load_model(run.path / "best.keras")
    images = validation_images(data)
    np.testing.assert_allclose(
        np.asarray(model(images)), np.asarray(qat_result.keras_model(images)), atol=1e-6
    )
    # the INT8 file, its sidecar metadata and its manifest entry
    tflite = run.path / "exports" / "model_int8.tflite"
    assert tflite.read_bytes() == qat_result.tflite
    sidecar = json.loads((run.path / "exports" / "model_int8.tflite.json").read_text())
    assert sidecar["precision"] == "int8" and sidecar["input_dtype"] == "int8"
    assert sidecar["class_names"] == ["red", "green", "blue"]
    manifest = json.loads((run.path / "exports" / "manifest.json").read_text())
    [entry] = manifest["exports"]
    assert entry["path"] == "exports/model_int8.tflite"
    assert (entry["format"], entry["precision"], entry["status"]) == ("tflite", "int8", "passed")
    assert entry["checks"]["top1_agreement"] >= 0.95


def test_quantize_configs_cover_standardize_hard_swish_and_se(data):
    """A tf_keras network of the MobileNetV3 pieces (hard-swish, hard-sigmoid SE gate) is
    fully wrapped, fine-tunes, and converts to INT8 that agrees with it."""
    import tf_keras

    from kerascls.export.tflite import convert_tflite
    from kerascls.models.build_spec import BuildSpec
    from kerascls.models.layers import classifier_head, conv_bn_act, image_input, squeeze_excite
    from kerascls.optimize.int8_check import tflite_probabilities
    from kerascls.optimize.quantize_configs import quantize_tf_keras_model

    spec = BuildSpec("mobile_pieces", 3, (16, 16, 3), STATS["mean"], STATS["std"], tf_keras)
    inputs, x = image_input(spec)
    x = conv_bn_act(tf_keras, x, 8, 3, activation="hard_swish", prefix="stem_")
    x = squeeze_excite(tf_keras, x, units=4, prefix="block_", gate="hard_sigmoid")
    model = tf_keras.Model(inputs, classifier_head(spec, x))
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Normalization", "Rescaling", "Multiply"} <= kinds

    qat_model = quantize_tf_keras_model(model)
    wrappers = {type(layer).__name__ for layer in qat_model.layers}
    assert wrappers == {"InputLayer", "QuantizeLayer", "QuantizeWrapperV2"}
    qat_model.compile(tf_keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    qat_model.fit(
        data.train.images.astype("float32"), data.train.labels, epochs=4, batch_size=16, verbose=0
    )
    images = validation_images(data)
    tflite = convert_tflite(qat_model, "int8", calibration=images[:16])
    reference = np.asarray(qat_model(images, training=False))
    int8 = tflite_probabilities(tflite, images)
    assert np.mean(int8.argmax(1) == reference.argmax(1)) >= 0.95
    assert np.abs(int8 - reference).max() < 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("se_resnet20", {}),
        ("resnet56", {}),
        ("mobilenetv3_small", {"alpha": 0.5}),
        ("mobilenetv3_large", {"alpha": 0.5}),
    ],
)
def test_qat_int8_agrees_on_the_full_architectures(name, kwargs):
    """The real architectures, 32x32, trained a little in float and fine-tuned one epoch
    with fake quantization: their INT8 files agree with the QAT Keras models. (On an
    untrained network the three probabilities tie within one INT8 step, and top-1
    agreement means nothing; it is measured where the QAT model's top two differ by 0.05.)"""
    from kerascls.optimize import qat

    data = colour_dataset(n_per_class=40, size=32)
    keras.utils.set_random_seed(0)
    model = create_model(name, 3, (32, 32, 3), **STATS, **kwargs)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    model.fit(
        data.train.images.astype("float32"), data.train.labels, epochs=5, batch_size=16, verbose=0
    )
    result = qat(model, epochs=1, lr=0.003, batch_size=16, data=data, model_kwargs=kwargs)
    assert result.metrics["max_prob_diff"] < 0.05

    from kerascls.optimize.int8_check import tflite_probabilities

    images = data.validation.images.astype("float32")
    reference = np.asarray(result.qat_model(images, training=False))
    int8 = tflite_probabilities(result.tflite, images)
    top2 = np.sort(reference, axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 0.05
    assert decided.sum() >= 10
    assert np.mean(int8.argmax(1)[decided] == reference.argmax(1)[decided]) >= 0.95


def test_models_tf_keras_cannot_rebuild_are_a_clear_error():
    import tf_keras

    from kerascls.optimize.quantize_configs import quantize_tf_keras_model
    from kerascls.optimize.twin import ModelRecipe

    with pytest.raises(ModelError, match=r"cannot be rebuilt with tf_keras.*distill"):
        ModelRecipe("transfer_resnet50", 10, (32, 32, 3)).build("tf_keras")
    with pytest.raises(ModelError, match="needs a functional tf_keras model"):
        quantize_tf_keras_model(create_model("cnn", 3, (16, 16, 3), **TINY))
    with pytest.raises(ModelError, match="needs a functional tf_keras model"):
        quantize_tf_keras_model(tf_keras.Sequential([tf_keras.layers.Dense(2)]))


# --- weight copies between Keras 3 and tf_keras -----------------------------------------


@pytest.mark.parametrize(
    "name",
    [n if n in FAST_QAT else pytest.param(n, marks=pytest.mark.slow) for n in QAT_NAMES],
)
def test_weights_copy_through_the_qat_wrappers_and_back(name):
    """Keras 3 -> tf_keras twin -> fake-quant model -> Keras 3 keeps every weight: the
    twin and the copy back give the same outputs (the plain twin parity of each model is
    in test_models.py)."""
    from kerascls.optimize.quantization import quantize_aware
    from kerascls.optimize.twin import ModelRecipe, keras_model_like, tf_keras_twin

    model = create_model(name, 10, (32, 32, 3), mean=(125.3, 123.0, 113.9), std=(63.0, 62.1, 66.7))
    _randomize_batchnorm_statistics(model)
    recipe = ModelRecipe.from_model(model)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))

    twin = tf_keras_twin(model, recipe)
    np.testing.assert_allclose(twin(x, training=False).numpy(), expected, atol=1e-5)
    back = keras_model_like(quantize_aware(model, recipe), recipe)
    for original, copied in zip(model.weights, back.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(copied), np.asarray(original), original.path)
    np.testing.assert_allclose(np.asarray(back(x, training=False)), expected, atol=1e-6)


def test_copy_between_different_architectures_is_a_clear_error():
    from kerascls.optimize.twin import ModelRecipe, tf_keras_twin

    model = create_model("cnn", 3, (16, 16, 3), **TINY)
    with pytest.raises(ModelError, match="other options"):
        tf_keras_twin(
            model, ModelRecipe("cnn", 3, (16, 16, 3), kwargs={**TINY, "filters": (8, 32)})
        )
    with pytest.raises(ModelError, match="has no layer 'stage1_conv2'"):
        tf_keras_twin(model, ModelRecipe("cnn", 3, (16, 16, 3), kwargs={"filters": (8, 16)}))


def test_model_recipe_reads_statistics_off_the_model():
    from kerascls.optimize.twin import ModelRecipe

    recipe = ModelRecipe.from_model(create_model("cnn", 3, (16, 16, 3), **STATS, **TINY), TINY)
    assert recipe.mean == pytest.approx(STATS["mean"])
    assert recipe.std == pytest.approx(STATS["std"])
    assert (recipe.num_classes, recipe.input_shape) == (3, (16, 16, 3))
    assert ModelRecipe.from_model(create_model("cnn", 3, (16, 16, 3), **TINY)).mean is None


# --- pruning ----------------------------------------------------------------------------


# A 1,500-parameter CNN keeps its accuracy at 50% sparsity, not at 80%.
@pytest.mark.parametrize(
    ("sparsity", "int8", "min_accuracy"), [(0.5, True, 0.9), (0.8, False, 0.0)]
)
def test_prune_reaches_the_requested_sparsity(
    trained, data, tmp_path, sparsity, int8, min_accuracy
):
    from kerascls.optimize import prune, sparsity_report

    result = prune(
        trained,
        sparsity=sparsity,
        epochs=2,
        lr=0.01,
        batch_size=16,
        int8=int8,
        data=data,
        model_kwargs=TINY,
    )
    metrics = result.metrics
    assert abs(metrics["sparsity"] - sparsity) <= 0.02
    assert set(metrics["layers"]) == {"stage1_conv1", "stage2_conv1", "head_dense"}
    for layer_sparsity in metrics["layers"].values():
        assert abs(layer_sparsity - sparsity) <= 0.02
    assert metrics["pruned_accuracy"] >= min_accuracy
    assert metrics["gzip_bytes_after"] < metrics["gzip_bytes_before"]
    if int8:
        assert metrics["top1_agreement"] >= 0.95
        assert metrics["int8_gzip_bytes"] < metrics["gzip_bytes_after"]
    else:
        assert result.tflite is None and "int8_accuracy" not in metrics

    # The saved best.keras holds the zeros (wrappers stripped, plain Keras 3 layers).
    run = result.save(tmp_path / "logs")
    reloaded = load_model(run.path / "best.keras")
    assert abs(sparsity_report(reloaded)["sparsity"] - sparsity) <= 0.02
    assert run.info["optimization"]["sparsity"] == sparsity
    assert (run.path / "exports" / "model_int8.tflite").exists() == int8


def test_fine_tuning_with_a_teacher_fits_its_predictions_not_the_labels(trained, data):
    """A teacher that always says class 0 must pull the student to class 0 everywhere."""
    from kerascls.evaluate import predict_arrays
    from kerascls.optimize.finetune import fine_tune
    from kerascls.optimize.source import resolve_source
    from kerascls.optimize.twin import tf_keras_twin

    source = resolve_source(trained, data=data, model_kwargs=TINY)
    teacher = tf_keras_twin(source.model, source.recipe)
    head = teacher.get_layer("head_dense")
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.array([8.0, 0.0, 0.0], dtype=bias.dtype)])
    student = tf_keras_twin(source.model, source.recipe)
    images, labels = source.validation_arrays()
    assert np.mean(predict_arrays(student, images).argmax(1) == labels) >= 0.9

    fine_tune(student, source, epochs=2, lr=0.05, batch_size=16, teacher=teacher)
    assert np.mean(predict_arrays(student, images).argmax(1) == 0) >= 0.9
    assert np.allclose(head.get_weights()[0], 0)  # the teacher itself does not train


def test_batch_norm_recalibration_averages_the_batch_statistics(trained, data):
    """Precise BN: moving mean/variance become the plain mean of the batches' statistics."""
    import tf_keras

    from kerascls.optimize.finetune import recalibrate_batch_norm
    from kerascls.optimize.quantization import quantize_aware
    from kerascls.optimize.source import resolve_source
    from kerascls.optimize.twin import tf_keras_twin

    source = resolve_source(trained, data=data, model_kwargs=TINY)
    twin = tf_keras_twin(source.model, source.recipe)
    norms = [
        layer for layer in twin.layers if isinstance(layer, tf_keras.layers.BatchNormalization)
    ]
    kernels = [w.copy() for w in twin.get_layer("stage1_conv1").get_weights()]
    batches = [images for images, _ in source.train_pipeline(16).take(5).as_numpy_iterator()]

    assert recalibrate_batch_norm(twin, batches) == 5
    first = norms[0]
    before_first = tf_keras.Model(twin.inputs, first.input)
    means = [before_first(b).numpy().mean(axis=(0, 1, 2)) for b in batches]
    variances = [before_first(b).numpy().var(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(first.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(first.moving_variance.numpy(), np.mean(variances, 0), rtol=2e-3)
    # Not the last batch's alone, which is where a momentum of 0 would leave it.
    assert not np.allclose(first.moving_mean.numpy(), means[-1], rtol=1e-3)
    assert all(layer.momentum == 0.9 for layer in norms)  # restored
    for kept, now in zip(kernels, twin.get_layer("stage1_conv1").get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)

    # tfmot's QuantizeWrapper hides its BatchNormalization layers; they are found anyway.
    qat_model = quantize_aware(source.model, source.recipe)
    wrapped = [m for m in qat_model.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
    assert len(wrapped) == len(norms)
    start = [layer.moving_mean.numpy().copy() for layer in wrapped]
    recalibrate_batch_norm(qat_model, batches)
    for layer, mean in zip(wrapped, start, strict=True):
        assert not np.allclose(layer.moving_mean.numpy(), mean)
        assert layer.momentum == 0.9


def test_self_distilled_pruning_reaches_the_sparsity_and_keeps_accuracy(trained, data):
    from kerascls.optimize import prune

    result = prune(
        trained, sparsity=0.5, epochs=2, lr=0.01, batch_size=16, int8=False,
        self_distill=True, data=data, model_kwargs=TINY,
    )  # fmt: skip
    assert abs(result.metrics["sparsity"] - 0.5) <= 0.02
    assert result.metrics["pruned_accuracy"] >= 0.9
    assert result.settings["targets"] == "the dense model's probabilities"
    # A split smaller than 12,800 images is averaged once over, not repeated.
    assert 1 <= result.settings["bn_recalibration_batches"] <= -(-len(data.train) // 16)


def test_prunable_copies_the_model_instead_of_sharing_its_kernels(trained, data):
    from kerascls.optimize.pruning import prunable, pruning_schedule
    from kerascls.optimize.source import resolve_source
    from kerascls.optimize.twin import tf_keras_twin

    source = resolve_source(trained, data=data, model_kwargs=TINY)
    dense = tf_keras_twin(source.model, source.recipe)
    before = [w.copy() for w in dense.get_weights()]
    wrapped = prunable(dense, pruning_schedule(0.5, 10))
    for variable in wrapped.trainable_variables:
        variable.assign(np.zeros(variable.shape, variable.dtype.as_numpy_dtype))
    for kept, now in zip(before, dense.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)


@pytest.mark.parametrize("sparsity", [0, 1, 1.5, -0.2, True, "0.5"])
def test_prune_rejects_a_sparsity_outside_0_1(trained, data, sparsity):
    from kerascls.optimize import prune

    with pytest.raises(KerasclsError, match="strictly between 0 and 1"):
        prune(trained, sparsity=sparsity, data=data, model_kwargs=TINY)


def test_gzip_size_and_sparsity_report_on_known_weights():
    from kerascls.optimize import gzip_size, sparsity_report

    assert gzip_size(bytes(10_000)) < 100
    random = np.random.default_rng(0).bytes(10_000)
    assert gzip_size(random) > 10_000
    model = create_model("cnn", 3, (16, 16, 3), **TINY)
    kernel, *rest = model.get_layer("stage2_conv1").get_weights()
    kernel.flat[: kernel.size // 4] = 0
    model.get_layer("stage2_conv1").set_weights([kernel, *rest])
    report = sparsity_report(model)
    assert report["layers"]["stage2_conv1"] == pytest.approx(0.25, abs=1e-3)
    assert report["layers"]["stage1_conv1"] == 0.0
    assert 0 < report["sparsity"] < 0.25


# --- distillation ------------------------------------------------------------------------


def student_model():
    return create_model("cnn", 3, (16, 16, 3), **STATS, filters=(4,), convs_per_stage=1)


def test_distillation_loss_is_kl_times_t_squared_plus_ce(trained, data):
    from kerascls.optimize import Distiller

    keras.utils.set_random_seed(0)
    student = student_model()
    distiller = Distiller(student, trained, temperature=3.0, alpha=0.7)
    x = data.train.images[:16].astype("float32")
    y = np.eye(3, dtype="float32")[data.train.labels[:16]]
    total, hard, soft = (float(v) for v in distiller.losses_of(x, y, training=False)[:3])

    def logits(model):
        return np.asarray(keras.Model(model.inputs[0], model.get_layer("head_dense").output)(x))

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p_teacher, p_student = softmax(logits(trained) / 3.0), softmax(logits(student) / 3.0)
    kl = np.mean(np.sum(p_teacher * np.log(p_teacher / p_student), axis=1)) * 9.0
    ce = np.mean(-np.log(softmax(logits(student))[np.arange(16), data.train.labels[:16]]))
    assert soft == pytest.approx(kl, rel=1e-3)
    assert hard == pytest.approx(ce, rel=1e-3)
    assert total == pytest.approx(0.7 * kl + 0.3 * ce, rel=1e-3)


def test_distiller_steps_reduce_the_loss_and_train_only_the_student(trained, data):
    from kerascls.optimize import Distiller

    keras.utils.set_random_seed(0)
    distiller = Distiller(student_model(), trained, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    x = data.train.images[:32].astype("float32")
    y = np.eye(3, dtype="float32")[data.train.labels[:32]]
    teacher_before = [np.asarray(w) for w in trained.weights]
    before = float(distiller.losses_of(x, y, training=False)[0])
    for _ in range(10):
        distiller.train_on_batch(x, y)
    after = float(distiller.losses_of(x, y, training=False)[0])
    assert after < 0.8 * before
    for old, new in zip(teacher_before, trained.weights, strict=True):
        np.testing.assert_array_equal(old, np.asarray(new))


def test_distiller_arguments_are_checked(trained):
    from kerascls.optimize import Distiller

    with pytest.raises(KerasclsError, match="temperature"):
        Distiller(student_model(), trained, temperature=0)
    with pytest.raises(KerasclsError, match="alpha"):
        Distiller(student_model(), trained, alpha=1.5)
    with pytest.raises(KerasclsError, match="needs a teacher"):
        Distiller(student_model(), None, alpha=0.5)


def test_distill_saves_the_student_alone_as_a_run(trained, data, tmp_path):
    from kerascls.optimize import distill

    result = distill(
        trained,
        student="cnn",
        student_kwargs={"filters": (4,), "convs_per_stage": 1},
        epochs=2,
        lr=0.05,
        batch_size=16,
        data=data,
    )
    assert result.metrics["student_params"] < result.metrics["teacher_params"]
    run = result.save(tmp_path / "logs")
    loaded = load_run(run.path)
    assert loaded.model_name == "cnn"
    assert loaded.info["model"]["kwargs"] == {"filters": [4], "convs_per_stage": 1}
    assert loaded.info["optimization"]["method"] == "distill"
    student = loaded.load_model()
    assert student.count_params() == result.metrics["student_params"]
    images = validation_images(data)
    np.testing.assert_allclose(
        np.asarray(student(images)), np.asarray(result.student(images)), atol=1e-6
    )


# --- command line -----------------------------------------------------------------------


def run_cli(argv, capsys):
    from kerascls.cli.optimize import main

    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "one of the arguments"),
        (["--qat", "--prune", "0.5"], "not allowed with"),
        (["--prune", "1.5"], "strictly between 0 and 1"),
        (["--prune", "half"], "not a number"),
        (["--qat", "--epochs", "x"], "invalid int value"),
    ],
)
def test_cli_bad_flags_are_one_error_line(argv, message, capsys):
    code, lines = run_cli(argv, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_cli_without_runs_is_one_error_line(tmp_path, capsys):
    code, lines = run_cli(["--qat", "--logdir", str(tmp_path)], capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: no training runs under")


def test_cli_prune_writes_a_new_run_from_the_newest(tiny_run, tmp_path, capsys):
    """End to end on an image-folder run (a copy of the shared tiny run, trained with label
    smoothing 0.05): the newest run is pruned into a new run folder that names its parent
    and that every kerascls command can load."""
    from kerascls.cli.optimize import main
    from kerascls.train import find_runs

    parent = copy_run(tiny_run, tmp_path)
    logdir = parent.path.parents[1]
    assert parent.info["recipe"]["label_smoothing"] == 0.05  # not the default (0.1)
    argv = ["--prune", "50%", "--logdir", str(logdir), "--epochs", "1", "--batch-size", "16"]
    code = main([*argv, "--no-int8"])
    out = capsys.readouterr().out
    assert code == 0
    newest = find_runs(logdir)[-1]
    assert newest != parent.path and f"run folder: {newest}" in out
    child = load_run(newest)
    assert child.info["optimized_from"] == str(parent.path)
    for key in ("class_names", "input_shape", "normalization", "dataset"):
        assert child.info[key] == parent.info[key], key
    assert abs(child.info["metrics"]["validation"]["sparsity"] - 0.5) <= 0.02
    # Fine-tuned with the loss the parent was trained with, label smoothing included.
    assert child.info["optimization"]["label_smoothing"] == 0.05
    assert child.load_model().count_params() == parent.load_model().count_params()


def test_airbench_becomes_quantization_aware():
    # Its BatchNorms follow pooling layers, not convolutions: tfmot refused them ("Layer
    # block1_bn1 ... is not supported"), and QAT is the way round its post-training INT8
    # loss on photo folders (benchmarks/README.md: 71.67% -> 98.33% on the 6-class folder)
    from kerascls.optimize.quantize_configs import OutputQuantizeConfig, quantize_tf_keras_model

    twin = create_model("airbench", 3, (16, 16, 3), widths=(8, 16, 16), backend="tf_keras")
    qat_model = quantize_tf_keras_model(twin)
    norms = [layer for layer in qat_model.layers if layer.name.startswith("quant_block")]
    standalone = {
        layer.name: type(layer.quantize_config).__name__
        for layer in norms
        if layer.name.endswith("_bn1")
    }
    assert standalone == dict.fromkeys(
        ["quant_block1_bn1", "quant_block2_bn1", "quant_block3_bn1"],
        OutputQuantizeConfig.__name__,
    )
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    assert qat_model(images).shape == (4, 3)
