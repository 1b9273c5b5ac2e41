"""Evaluation: metrics against scikit-learn's definitions and flip test-time augmentation."""

from __future__ import annotations

import keras
import numpy as np

from kerascls.evaluate import evaluate_model


def left_or_right_model() -> keras.Model:
    """Class 0 when the left column of a 1x2 image is brighter, class 1 for the right one."""
    inputs = keras.Input((1, 2, 1))
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(2, activation="softmax", use_bias=False)
    outputs = dense(x)
    dense.set_weights([np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)])
    return keras.Model(inputs, outputs)


def test_flip_tta_averages_each_image_with_its_mirror():
    # Bright left pixel -> class 0, bright right pixel -> class 1: the model is right on
    # every image and exactly wrong on every mirror, so the average is a tie everywhere.
    images = np.array([[[[9.0], [0.0]]], [[[0.0], [9.0]]]] * 4, np.float32)
    labels = np.array([0, 1] * 4)
    pipeline = [(images[:5], labels[:5]), (images[5:], labels[5:])]
    names = ["left", "right"]

    plain = evaluate_model(left_or_right_model(), pipeline, names)
    assert plain.accuracy == 1.0 and plain.flip_tta_accuracy is None

    report = evaluate_model(left_or_right_model(), pipeline, names, flip_tta=True)
    assert report.accuracy == 1.0  # the plain figures do not change
    # ties go to the first class (argmax), so only the class-0 half stays right
    assert report.flip_tta_accuracy == 0.5
    assert "flip test-time augmentation" in report.table()
