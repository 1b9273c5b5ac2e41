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


@pytest.mark.parametrize("size, kernel", [(3, 3), (7, 3), (4, 1), (5, 5)])
def test_the_gradients_equal_the_stock_convolution_gradients(size, kernel):
    from kerascls.models.layers.gemm_grad_conv import conv2d_gemm_kernel_grad

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(4, size, size, 16)).astype("float32"))
    k = tf.constant(rng.normal(0, 0.1, (kernel, kernel, 16, 8)).astype("float32"))
    results = []
    for conv in (conv2d_gemm_kernel_grad, lambda a, b: tf.nn.conv2d(a, b, 1, "SAME")):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            y = conv(x, k)
            loss = tf.reduce_sum(y**2)
        results.append([y.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, k]))])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_the_layer_takes_the_products_for_bf16_training_only():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 3, 128)).astype("float32")
    fast = GemmGradConv2D(128, 3, padding="same", use_bias=True, dtype="mixed_bfloat16")
    stock = keras.layers.Conv2D(128, 3, padding="same", use_bias=True, name="stock")
    fast.build(x.shape)
    stock.build(x.shape)
    stock.set_weights([rng.normal(0, 0.05, w.shape).astype("float32") for w in fast.get_weights()])
    fast.set_weights(stock.get_weights())
    assert fast._gemm_pays(tf.cast(x, tf.bfloat16))
    assert not GemmGradConv2D(128, 3, padding="same")._gemm_pays(tf.constant(x))
    got = tf.cast(fast(x, training=True), tf.float32).numpy()
    np.testing.assert_allclose(got, stock(x), rtol=2e-2, atol=2e-2)


def test_bfloat16_kernel_gradient_is_within_bf16_rounding():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(8, 3, 3, 128)).astype("float32"))
    fast = GemmGradConv2D(128, 3, padding="same", use_bias=False, dtype="mixed_bfloat16")
    stock = keras.layers.Conv2D(128, 3, padding="same", use_bias=False, name="reference")
    fast.build(x.shape)
    stock.build(x.shape)
    stock.set_weights(fast.get_weights())
    got = gradients(fast, tf.cast(x, tf.bfloat16))[1]
    want = gradients(stock, tf.cast(tf.cast(x, tf.bfloat16), tf.float32))[1]
    assert np.abs(got - want).max() <= 0.02 * np.abs(want).max()


def test_narrow_or_large_layers_are_the_stock_conv():
    def pays(channels, size, **kwargs):
        layer = GemmGradConv2D(channels, 3, dtype="mixed_bfloat16", **kwargs)
        return layer._gemm_pays(tf.zeros((1, size, size, channels), tf.bfloat16))

    assert pays(256, 6, padding="same")
    assert not pays(64, 3, padding="same")
    assert not pays(256, 15, padding="same")
    assert not pays(256, 6, strides=2, padding="same")
    assert not pays(256, 6, padding="valid")


def test_airbench_saves_stock_conv_layers():
    from kerascls.models import create_model
    from kerascls.models.saving import portable_model

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = create_model("airbench", 3, (32, 32, 3), widths=(8, 128, 128))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.get_layer("block3_conv1"), GemmGradConv2D)
    copy = portable_model(model)
    assert type(copy.get_layer("block3_conv1")) is keras.layers.Conv2D
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(copy(x), model(x, training=False), atol=1e-5)
