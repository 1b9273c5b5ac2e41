"""GemmGradConv2D trains with the same gradients as keras.layers.Conv2D where it takes its
matrix-product path, is the stock layer elsewhere, and saves as a stock Conv2D."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascls.models.layers.gemm_grad_conv import GemmGradConv2D


def gradients(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
    return [g.numpy().astype("float32") for g in tape.gradient(loss, [x, layer.kernel])]


@pytest.mark.parametrize("size, kernel, use_bias", [(3, 3, False), (7, 3, True), (4, 1, False)])
def test_kernel_and_input_gradients_match_the_stock_conv(size, kernel, use_bias):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(4, size, size, 128)).astype("float32"))
    fast = GemmGradConv2D(128, kernel, padding="same", use_bias=use_bias)
    stock = keras.layers.Conv2D(128, kernel, padding="same", use_bias=use_bias)
    fast.build(x.shape)
    stock.build(x.shape)
    weights = [rng.normal(0, 0.05, w.shape).astype("float32") for w in stock.get_weights()]
    fast.set_weights(weights)
    stock.set_weights(weights)
    assert fast._gemm_pays(x)
    np.testing.assert_allclose(fast(x, training=True), stock(x), rtol=1e-4, atol=1e-4)
    for got, want in zip(gradients(fast, x), gradients(stock, x), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


def test_bfloat16_kernel_gradient_is_within_bf16_rounding():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(8, 3, 3, 128)).astype("float32"))
    fast = GemmGradConv2D(128, 3, padding="same", use_bias=False, dtype="mixed_bfloat16")
    stock = keras.layers.Conv2D(128, 3, padding="same", use_bias=False)
    fast.build(x.shape)
    stock.build(x.shape)
    stock.set_weights(fast.get_weights())
    got = gradients(fast, tf.cast(x, tf.bfloat16))[1]
    want = gradients(stock, tf.cast(tf.cast(x, tf.bfloat16), tf.float32))[1]
    assert np.abs(got - want).max() <= 0.02 * np.abs(want).max()


def test_narrow_or_large_layers_are_the_stock_conv():
    assert not GemmGradConv2D(64, 3, padding="same")._gemm_pays(tf.zeros((1, 3, 3, 64)))
    assert not GemmGradConv2D(256, 3, padding="same")._gemm_pays(tf.zeros((1, 15, 15, 256)))
    assert not GemmGradConv2D(256, 3, strides=2, padding="same")._gemm_pays(
        tf.zeros((1, 6, 6, 256))
    )
    assert not GemmGradConv2D(256, 3, padding="valid")._gemm_pays(tf.zeros((1, 6, 6, 256)))


def test_airbench_saves_stock_conv_layers():
    from kerascls.models import create_model
    from kerascls.models.saving import portable_model

    model = create_model("airbench", 3, (32, 32, 3), widths=(8, 128, 128))
    assert isinstance(model.get_layer("block3_conv1"), GemmGradConv2D)
    copy = portable_model(model)
    assert type(copy.get_layer("block3_conv1")) is keras.layers.Conv2D
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(copy(x), model(x, training=False), atol=1e-5)
