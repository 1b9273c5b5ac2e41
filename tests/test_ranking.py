"""The one top-k ranking (kerascls/evaluate/ranking.py) and the places that rank with it:
equal probabilities keep class-index order everywhere. (The server's answers:
tests/test_serve_unit.py.)"""

from __future__ import annotations

import numpy as np
from PIL import Image

from kerascls.evaluate.ranking import top_k_indices


def test_ties_keep_class_index_order_on_long_rows():
    # a row long enough that an unstable sort (quicksort, the default) reorders ties
    row = np.zeros(1000, np.float32)
    row[[7, 500, 999]] = 0.3
    ranked = top_k_indices(row, 6)
    assert ranked.tolist() == [7, 500, 999, 0, 1, 2]
    batch = np.stack([row, row[::-1]])
    assert top_k_indices(batch, 3).tolist() == [[7, 500, 999], [0, 499, 992]]


def test_shapes_k_and_nan():
    probabilities = np.array([[0.1, 0.7, 0.2], [np.nan, 0.5, 0.5]])
    assert top_k_indices(probabilities, 2).shape == (2, 2)
    assert top_k_indices(probabilities, 10).tolist() == [[1, 2, 0], [1, 2, 0]]  # NaN last
    assert top_k_indices(probabilities[0], 0).tolist() == []
    assert top_k_indices([0.2, 0.8], 1).dtype.kind == "i"


def test_explanations_rank_ties_by_class_index():
    from kerascls.viz.explanation import Explanation

    probabilities = np.full((2, 40), 0.025, np.float32)
    probabilities[1, 30] = 0.5
    explanation = Explanation(
        heatmaps=np.zeros((2, 4, 4), np.float32),
        class_indices=np.array([0, 30]),
        probabilities=probabilities,
        method="saliency",
    )
    ranked = explanation.top_k(3)
    assert [i for i, _ in ranked[0]] == [0, 1, 2]
    assert [i for i, _ in ranked[1]] == [30, 0, 1]


class TiedRunner:
    """A runner (no model) whose every class has the same probability."""

    input_size, num_classes, class_names = (8, 8), 40, None

    def predict(self, images, batch_size=64):
        return np.full((len(images), self.num_classes), 1 / self.num_classes, np.float32)


def test_predicted_files_rank_ties_by_class_index(tmp_path):
    from kerascls.export.runners.files import predict_files

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (prediction,), failures = predict_files(TiedRunner(), [tmp_path], top_k=3)
    assert not failures
    assert [name for name, _ in prediction.top_k] == ["class_0", "class_1", "class_2"]
