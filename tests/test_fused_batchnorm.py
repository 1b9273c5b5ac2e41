"""FusedBatchNormalization computes what keras.layers.BatchNormalization computes, and a
model holding it reloads in a fresh process through kerascls.models.load_model."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from kerascls.models.layers.fused_batchnorm import FusedBatchNormalization


def twin_layers(seed: int = 0):
    rng = np.random.default_rng(seed)
    stock = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    for layer in (stock, fused):
        layer.build((None, 6, 6, 5))
    weights = [
        rng.normal(1, 0.3, 5),
        rng.normal(0, 0.3, 5),
        rng.normal(0, 1, 5),
        rng.uniform(0.5, 2, 5),
    ]
    for layer in (stock, fused):
        layer.set_weights([w.astype("float32") for w in weights])
    return stock, fused


@pytest.mark.parametrize("training", [False, True])
def test_fused_matches_stock_batchnorm(training):
    stock, fused = twin_layers()
    x = np.random.default_rng(1).normal(3, 2, (8, 6, 6, 5)).astype("float32")
    np.testing.assert_allclose(fused(x, training=training), stock(x, training=training), atol=1e-4)
    # moving statistics move the same way (up to the n/(n-1) variance correction)
    for a, b in zip(fused.get_weights(), stock.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-4)
    if training:
        assert not np.allclose(fused.moving_mean.numpy(), twin_layers()[1].moving_mean.numpy())


def test_gradients_match_stock_batchnorm():
    import tensorflow as tf

    stock, fused = twin_layers()
    x = tf.constant(np.random.default_rng(2).normal(0, 1, (4, 6, 6, 5)).astype("float32"))
    grads = []
    for layer in (stock, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 3)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    from kerascls.models import create_model

    model = create_model("resnet20", 10, (32, 32, 3))
    path = tmp_path / "resnet20.keras"
    model.save(path)
    x = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model(x, training=False)))
    script = (
        "import sys, numpy as np\n"
        "from kerascls.models import load_model\n"
        "m = load_model(sys.argv[1])\n"
        "y = np.asarray(m(np.load(sys.argv[2]), training=False))\n"
        "print(float(np.abs(y - np.load(sys.argv[3])).max()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-6
