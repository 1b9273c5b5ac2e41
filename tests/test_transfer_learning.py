"""Starting a run from learnt weights (kerascls/train/transfer_learning.py): --init-from an
earlier run, --pretrained ImageNet backbones (offline: the error names the file and the
folder; a file put there is used), and two-phase fine-tuning inside one `fit`."""

from __future__ import annotations

import hashlib
import shutil

import h5py
import keras
import numpy as np
import pytest
from helpers import copy_run, write_colour_folder

from kerascls.errors import KerasclsError, OfflineError
from kerascls.models import create_model
from kerascls.models.transfer import backbone_of, keras_cache_dir
from kerascls.runs import load_run
from kerascls.train.transfer_learning import (
    FineTunePhases,
    PhaseScaled,
    init_from_run,
    prepare_optimizer_for_phases,
    pretrained_model,
    source_model_of,
)

MOBILENET_FILE = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"


# --- --pretrained -------------------------------------------------------------------------


def test_pretrained_names_the_registered_transfer_models():
    assert pretrained_model() == "transfer_mobilenetv3small"
    assert pretrained_model("EfficientNet_B0") == "transfer_efficientnetb0"
    assert pretrained_model("transfer_resnet50") == "transfer_resnet50"
    with pytest.raises(KerasclsError, match=r"'vgg16'.*efficientnetb0, mobilenetv3small, resnet50"):
        pretrained_model("vgg16")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home: what `KERAS_HOME` sets when Keras is imported (read then)."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home").mkdir()
    return tmp_path / "keras_home"


def _offline() -> bool:
    import socket

    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize(
    ("model", "file_name"),
    [
        ("transfer_mobilenetv3small", MOBILENET_FILE),
        ("transfer_efficientnetb0", "efficientnetb0_notop.h5"),
        ("transfer_resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ],
)
def test_offline_imagenet_weights_name_the_file_and_the_folder(keras_home, model, file_name):
    """The file names are those of Keras' own URLs (parsed from its failure)."""
    if not _offline():
        pytest.skip("the network is up: the download would succeed")
    assert keras_cache_dir() == str(keras_home / "models")
    with pytest.raises(OfflineError) as error:
        create_model(model, 2, (32, 32, 3))
    message = str(error.value)
    assert "\n" not in message
    assert f"put {file_name} (from https://" in message
    assert f"into {keras_home / 'models'}/," in message and "weights=None" in message
    assert "checksum" not in message


def test_imagenet_weights_put_in_the_cache_folder_are_used_offline(keras_home, monkeypatch):
    """A file of the right name in the folder the error names is loaded, with no network.

    Keras checks the file's md5 against its own table: a random-weights stand-in gets its
    hash entered there; a genuine download matches the real one."""
    from keras.src.applications import mobilenet_v3
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    stand_in = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), include_preprocessing=True
    )
    path = keras_home / "models" / MOBILENET_FILE
    path.parent.mkdir()
    with h5py.File(path, "w") as f:  # the legacy .h5 layout keras.applications ships
        save_weights_to_hdf5_group(f, stand_in)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    top_hash = mobilenet_v3.WEIGHTS_HASHES["small_224_1.0_float"][0]
    monkeypatch.setitem(mobilenet_v3.WEIGHTS_HASHES, "small_224_1.0_float", (top_hash, md5))

    model = create_model("transfer_mobilenetv3small", 2, (32, 32, 3))  # weights="imagenet"
    loaded = backbone_of(model).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(loaded, stand_in.get_weights(), strict=True))

    if _offline():  # a damaged file: Keras removes it and downloads again; the error says so
        path.write_bytes(b"not the weights")
        with pytest.raises(OfflineError, match="failed Keras' checksum"):
            create_model("transfer_mobilenetv3small", 2, (32, 32, 3))


# --- --init-from --------------------------------------------------------------------------


def test_init_from_an_earlier_run_then_fine_tune_on_another_folder(tiny_run, tmp_path):
    """Train on one folder (tiny_run: 3 colours), fine-tune on another (2 colours)."""
    from kerascls.data import channel_statistics, load_image_folder, make_pipeline

    root = write_colour_folder(tmp_path / "two_colours", per_class=12, seed=1)
    shutil.rmtree(root / "train" / "blue")
    data = load_image_folder(root, validation_size=4)
    mean, std = channel_statistics(data.train)
    name, kwargs = source_model_of(tiny_run.path)
    assert (name, kwargs) == ("cnn", load_run(tiny_run.path).info["model"]["kwargs"])
    model = create_model(name, 2, (16, 16, 3), mean=mean, std=std, **kwargs)

    notes = init_from_run(model, tiny_run.path)

    assert notes[0].startswith(f"weights from {tiny_run.path} (cnn, 3 classes -> 2): ")
    assert "head_dense starts fresh (kernel (16, 3) -> (16, 2))" in notes
    assert "standardize keeps the new data's statistics" in notes
    earlier = tiny_run.load_model()
    for layer in ("stage1_conv1", "stage2_bn1"):
        for mine, theirs in zip(
            model.get_layer(layer).get_weights(),
            earlier.get_layer(layer).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(mine, theirs)
    standardize = model.get_layer("standardize").get_config()
    np.testing.assert_allclose(np.ravel(standardize["mean"]), mean, rtol=1e-6)
    assert not np.allclose(np.ravel(standardize["mean"]), tiny_run.info["normalization"]["mean"])

    model.compile("adam", "categorical_crossentropy")
    train = make_pipeline(data.train, 8, training=True, one_hot=True)
    history = model.fit(train, epochs=1, shuffle=False, verbose=0)  # the pipeline shuffles
    assert np.isfinite(history.history["loss"][-1])


def test_init_from_errors_say_what_to_do(tiny_run, tmp_path):
    with pytest.raises(KerasclsError, match="no such run folder"):
        init_from_run(create_model("cnn", 2, (16, 16, 3)), tmp_path / "nowhere")
    with pytest.raises(KerasclsError, match="not a kerascls run folder"):
        init_from_run(create_model("cnn", 2, (16, 16, 3)), tmp_path)
    copy = copy_run(tiny_run, tmp_path)
    other = create_model("resnet20", 2, (16, 16, 3))
    with pytest.raises(KerasclsError, match="trained model 'cnn': pass --model cnn") as error:
        init_from_run(other, copy.path)
    assert "\n" not in str(error.value)
    (copy.path / "best.keras").unlink()
    with pytest.raises(KerasclsError, match=r"has no best\.keras"):
        init_from_run(other, copy.path)


# --- two-phase fine-tuning ----------------------------------------------------------------


def _transfer_model(lr) -> keras.Model:
    """A MobileNetV3Small transfer model with random weights at 32x32 (the smallest)."""
    keras.utils.set_random_seed(0)
    model = create_model("transfer_mobilenetv3small", 2, (32, 32, 3), weights=None)
    model.compile(keras.optimizers.Adam(lr), "categorical_crossentropy")
    prepare_optimizer_for_phases(model)
    return model


def _images(n=8):
    x = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3)).astype("float32")
    return x, keras.utils.to_categorical(np.arange(n) % 2, 2)


class _Snapshots(keras.callbacks.Callback):
    """After each step: the loss, the learning rate and copies of some weights."""

    def __init__(self, layers):
        super().__init__()
        self.layers, self.steps = layers, []

    def on_train_batch_end(self, batch, logs=None):
        weights = {name: [w.numpy().copy() for w in layer.weights] for name, layer in self.layers}
        self.steps.append((float(logs["loss"]), _lr(self.model), weights))


def _lr(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _changed(before, after, name) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before[name], after[name], strict=True))


def test_fine_tune_phases_freeze_then_unfreeze_the_top_within_one_fit():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 1000, 0.5)
    model = _transfer_model(schedule)
    net = backbone_of(model)
    weighted = [layer for layer in net.layers if layer.weights]
    bns = [layer for layer in weighted if isinstance(layer, keras.layers.BatchNormalization)]
    convs = [layer for layer in weighted if layer not in bns]
    watched = [("top", convs[-1]), ("bottom", convs[0]), ("head", model.get_layer("head_dense"))]
    watched += [(f"bn{i}", layer) for i, layer in enumerate(bns)]
    snapshots = _Snapshots(watched)
    switches = []
    phases = FineTunePhases(0.5, total_steps=6, unfreeze_layers=10, lr_factor=0.1)
    phases.on_switch = switches.append
    x, y = _images()

    model.fit(x, y, batch_size=4, epochs=3, callbacks=[phases, snapshots], verbose=0)

    steps = snapshots.steps
    assert switches == [3] and phases.switched_at == 3
    assert all(np.isfinite(loss) for loss, _, _ in steps)
    for i in range(1, len(steps)):
        before, after = steps[i - 1][2], steps[i][2]
        assert _changed(before, after, "head")
        assert _changed(before, after, "top") == (i >= 3), i  # step 3 is phase 2's first
        assert not _changed(before, after, "bottom"), i
        assert not any(_changed(before, after, f"bn{j}") for j in range(len(bns))), i
    assert steps[3][1] == pytest.approx(0.1 * float(schedule(4)), rel=1e-5)
    assert steps[2][1] == pytest.approx(float(schedule(3)), rel=1e-5)
    assert isinstance(model.optimizer._learning_rate, PhaseScaled)
    config = model.optimizer._learning_rate.get_config()
    assert float(PhaseScaled.from_config(config)(4)) == pytest.approx(steps[3][1], rel=1e-5)


def test_resumed_runs_switch_once_and_come_back_unfrozen_at_the_lowered_rate(tmp_path):
    """What --resume does (kerascls/train/backup.py): save the model's and the optimizer's
    variables at an epoch's end, rebuild, prepare, restore, fit on."""
    x, y = _images()
    backup = tmp_path / "backup.weights.h5"

    def run(total_steps: int, restore: bool) -> tuple[keras.Model, FineTunePhases]:
        model = _transfer_model(1e-2)  # a constant lr: a variable, saved and restored
        if restore:
            model.load_weights(backup)
        phases = FineTunePhases(0.5, total_steps)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[phases])
        model.save_weights(backup)
        return model, phases

    first, phases = run(4, restore=False)  # steps 0-1: the switch (step 2) is still ahead
    assert (phases.phase, phases.switched_at, _lr(first)) == (1, None, pytest.approx(1e-2))
    second, phases = run(4, restore=True)  # resumed exactly at the switch: it switches now
    assert (phases.phase, phases.switched_at, _lr(second)) == (2, 2, pytest.approx(1e-3))
    third, phases = run(8, restore=True)  # resumed past it: unfrozen, not lowered twice
    assert (phases.phase, phases.switched_at, _lr(third)) == (2, None, pytest.approx(1e-3))
    trainable = [layer for layer in backbone_of(third).layers if layer.trainable and layer.weights]
    assert trainable and not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in trainable
    )


def test_an_optimizer_built_without_the_backbone_is_a_clear_error():
    model = create_model("transfer_mobilenetv3small", 2, (32, 32, 3), weights=None)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # the head's variables only
    x, y = _images(4)
    with pytest.raises(KerasclsError, match="call prepare_optimizer_for_phases"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[FineTunePhases(0.5, 2)])
    with pytest.raises(KerasclsError, match="lr_factor"):
        FineTunePhases(lr_factor=0.0)
    with pytest.raises(KerasclsError, match="unfreeze_layers"):
        FineTunePhases(unfreeze_layers=-1)
    with pytest.raises(KerasclsError, match="nested models"):
        prepare_optimizer_for_phases(_compiled_cnn())


def _compiled_cnn() -> keras.Model:
    model = create_model("cnn", 2, (8, 8, 3), filters=(4,))
    model.compile("adam", "categorical_crossentropy")
    return model


# --- the command line ------------------------------------------------------------------------


def test_the_command_line_starts_from_an_earlier_run_on_another_folder(tiny_run, tmp_path, capsys):
    """kerascls-train --init-from RUN on a folder with other classes: the earlier run's model
    (not the default airbench), its weights, a new head, all said and kept in run.json."""
    from kerascls.cli.train import main

    root = write_colour_folder(tmp_path / "two_colours", per_class=12, seed=1)
    shutil.rmtree(root / "train" / "blue")
    logdir = tmp_path / "logs"
    argv = ["--data-dir", str(root), "--init-from", str(tiny_run.path), "--epochs", "1"]
    assert main([*argv, "--logdir", str(logdir), "--run-name", "tuned"]) == 0
    out = capsys.readouterr().out
    assert f"init: weights from {tiny_run.path} (cnn, 3 classes -> 2)" in out
    run = load_run(logdir / "two_colours" / "tuned")
    assert run.info["model"]["name"] == "cnn" and run.info["class_names"] == ["green", "red"]
    assert run.info["recipe"]["init_from"] == str(tiny_run.path)
    assert "head_dense starts fresh (kernel (16, 3) -> (16, 2))" in run.info["init_from"]["notes"]
    assert run.info["metrics"]["validation"]["accuracy"] >= 0.5


def test_pretrained_without_a_network_is_one_line_naming_the_file(keras_home, tmp_path, capsys):
    from kerascls.cli.train import main

    if not _offline():
        pytest.skip("this machine can download the weights")
    root = write_colour_folder(tmp_path / "colours", per_class=4, size=32)
    argv = ["--data-dir", str(root), "--pretrained", "--logdir", str(tmp_path / "logs")]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: could not download the ImageNet weights of MobileNetV3Small")
    assert MOBILENET_FILE in err[-1] and str(keras_home / "models") in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert main(["--data-dir", str(root), "--pretrained", "vgg16"]) != 0  # before any data
    assert capsys.readouterr().err.strip() == (
        "error: --pretrained 'vgg16' is not a backbone with ImageNet weights: choose one of "
        "efficientnetb0, mobilenetv3small, resnet50"
    )
