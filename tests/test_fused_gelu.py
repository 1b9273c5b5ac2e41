"""The trained GELU (two XLA-compiled loops) computes the exact GELU and its gradient, in
float32 and bfloat16; models that hold it still save as stock Keras layers; and the fused
BatchNorm takes bf16 input directly with the same result as through float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascls.models.layers.fused_batchnorm import FusedBatchNormalization
from kerascls.models.layers.fused_gelu import Gelu, fused_gelu


def stock_gelu_and_gradient(x: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.gelu(x, approximate=False)
    return y.numpy(), tape.gradient(y, x, output_gradients=tf.ones_like(y) * 0.5).numpy()


def test_fused_gelu_matches_the_exact_gelu_and_its_gradient_in_float32():
    x = tf.constant(np.random.default_rng(0).normal(0, 3, (4, 5, 5, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fused_gelu(x)
    grad = tape.gradient(y, x, output_gradients=tf.ones_like(y) * 0.5).numpy()
    want_y, want_grad = stock_gelu_and_gradient(x)
    np.testing.assert_allclose(y.numpy(), want_y, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, atol=1e-6)
    # not the tanh approximation: it differs by up to ~5e-4 at |x| around 2
    assert np.abs(y.numpy() - tf.nn.gelu(x, approximate=True).numpy()).max() > 1e-4


def test_fused_gelu_in_bfloat16_rounds_once():
    x32 = np.random.default_rng(1).normal(0, 2, (64, 8, 8, 4)).astype("float32")
    x = tf.cast(x32, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fused_gelu(x)
    grad = tape.gradient(y, x, output_gradients=tf.ones_like(y) * 0.5)
    assert y.dtype == tf.bfloat16 and grad.dtype == tf.bfloat16
    # computed in float32 from the bf16 input: off by at most bf16's rounding of the result
    want_y, want_grad = stock_gelu_and_gradient(tf.cast(x, tf.float32))
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), want_y, rtol=2**-8, atol=1e-6)
    np.testing.assert_allclose(tf.cast(grad, tf.float32).numpy(), want_grad, rtol=2**-8, atol=1e-6)


def test_gelu_layer_trains_fused_and_infers_stock():
    layer = Gelu(name="act")
    x = np.linspace(-4, 4, 33, dtype="float32").reshape(1, 33)
    np.testing.assert_allclose(layer(x, training=True), layer(x, training=False), atol=1e-6)
    assert Gelu.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="gelu"):
        Gelu(activation="relu")


def test_a_model_with_fused_gelu_saves_as_stock_keras(tmp_path):
    from kerascls.models import create_model
    from kerascls.models.saving import portable_model

    model = create_model("airbench", 3, (16, 16, 3), widths=(8, 8, 8))
    assert any(isinstance(layer, Gelu) for layer in model.layers)
    copy = portable_model(model)
    kinds = {type(layer) for layer in copy.layers}
    assert Gelu not in kinds and keras.layers.Activation in kinds
    x = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(copy(x), model(x, training=False), atol=1e-6)


def test_fused_batchnorm_takes_bfloat16_without_casts():
    layer = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, dtype="mixed_bfloat16")
    x32 = np.random.default_rng(3).normal(2, 3, (8, 6, 6, 5)).astype("float32")
    x = tf.cast(x32, tf.bfloat16)
    y = layer(x, training=True)
    assert y.dtype == tf.bfloat16
    reference = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    want = reference(tf.cast(x, tf.float32), training=True).numpy()
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), want, atol=0.05)
    # the statistics are float32 and the same as computed from the float32 copy
    np.testing.assert_allclose(layer.moving_mean.numpy(), reference.moving_mean.numpy(), atol=1e-5)


def test_mixed_precision_inference_is_fused_and_float32_inference_is_stock():
    import kerascls.models.layers.fused_gelu as module

    calls = []
    original = module.fused_gelu
    module.fused_gelu = lambda x: calls.append(x.dtype) or original(x)
    try:
        Gelu(dtype="mixed_bfloat16")(np.ones((2, 3), "float32"), training=False)
        Gelu()(np.ones((2, 3), "float32"), training=False)
    finally:
        module.fused_gelu = original
    assert calls == [tf.bfloat16]
