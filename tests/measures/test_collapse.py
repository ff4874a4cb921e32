"""Collapse check: hand-computed histograms and rules, a model built to collapse, and a real one that does not."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.common.intervals import wilson
from rnnviz.measures.collapse import collapse_entries, collapse_warnings
from rnnviz.sweep.attacks import fgsm, fgsm_step, input_gradient

NAMES = {0: "tee", 1: "trouser", 2: "pullover", 3: "dress", 7: "sneaker", 8: "bag", 9: "boot"}


def test_histogram_confusion_and_dominant_by_hand():
    labels = np.array([7, 7, 7, 8, 8, 9])
    pred = np.array([[7, 7, 9, 8, 8, 9], [8, 8, 8, 8, 8, 0]])
    clean, attacked = collapse_entries(pred, labels, [7, 8, 9], NAMES)
    assert clean["predicted"] == [
        {"class": "sneaker", "index": 7, "count": 2, "share": 2 / 6},
        {"class": "bag", "index": 8, "count": 2, "share": 2 / 6},
        {"class": "boot", "index": 9, "count": 2, "share": 2 / 6},
    ]
    assert clean["confusion"] == {
        "rows": ["sneaker", "bag", "boot"],
        "cols": ["sneaker", "bag", "boot", "other"],
        "counts": [[2, 0, 1, 0], [0, 2, 0, 0], [0, 0, 1, 0]],
    }
    assert clean["dominant"] == [] and clean["rising"] == []
    assert attacked["predicted"] == [
        {"class": "bag", "index": 8, "count": 5, "share": 5 / 6},
        {"class": "tee", "index": 0, "count": 1, "share": 1 / 6},
    ]
    assert attacked["confusion"]["counts"] == [[0, 3, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1]]
    # bag: 5/6 of the predictions >= max(0.5, 2 * 2/6); tee: 1/6 < 0.5
    assert attacked["dominant"] == ["bag"] and attacked["rising"] == []
    assert collapse_entries(pred, labels, [7, 8, 9], lambda i: NAMES[i], top=1)[1]["predicted"] == [
        attacked["predicted"][0]
    ]


def test_dominant_needs_twice_the_true_share_and_rising_needs_the_wilson_bound():
    labels = np.array([1] * 10 + [2] * 10)
    clean = [1] * 5 + [2] * 5 + [2] * 10  # trouser 5/10, pullover 10/10
    eight = [1] * 8 + [2] * 2 + [2] * 10  # trouser 8/10: Wilson low 0.49 < 0.5, no rise
    nine = [1] * 9 + [2] * 1 + [1] * 10  # trouser 9/10: low 0.596 > 0.5; 19/20 trouser but its true share is 1/2
    assert wilson(8, 10)[0] < 0.5 < wilson(9, 10)[0]
    entries = collapse_entries(np.array([clean, eight, nine]), labels, [1, 2], NAMES)
    assert [e["rising"] for e in entries] == [[], [], ["trouser"]]
    assert entries[2]["predicted"][0] == {"class": "trouser", "index": 1, "count": 19, "share": 0.95}
    assert [e["dominant"] for e in entries] == [[], [], []]  # 95% < 2 x 50%
    # measured from another clean index, the rise at index 2 is from 8/10 (0.8 > low 0.596): none
    assert collapse_entries(np.array([clean, eight, nine]), labels, [1, 2], NAMES, clean_index=1)[2]["rising"] == []
    assert all(
        e["rising"] == [] for e in collapse_entries(np.array([clean, nine]), labels, [1, 2], NAMES, clean_index=None)
    )
    warnings = collapse_warnings(entries, [0.0, 0.1, 0.2], "robust", "fgsm")
    assert warnings == [
        "robust model, FGSM, ε = 0.2: 'trouser' accuracy rises from 50% (clean) to 90% — check the prediction histogram"
    ]


def test_a_single_class_never_dominates_its_own_sample():
    labels = np.full(50, 3)
    pred = np.stack([np.full(50, 3), np.full(50, 3), np.full(50, 0)])
    entries = collapse_entries(pred, labels, [3], NAMES)
    assert entries[1]["dominant"] == []  # 100% of predictions, but 100% of the images are dresses
    assert entries[2]["dominant"] == ["tee"]  # 100% onto a class with no images: threshold 0.5
    # a beaten model piling onto a class outside the sample only explains its errors: no warning
    assert collapse_warnings(entries, [0.0, 0.1, 0.2], "standard", "pgd-l2") == []


def test_a_collapse_is_a_warning_only_where_it_props_accuracy_up():
    labels = np.array([7] * 4 + [8] * 4 + [9] * 4)
    beaten = [8] * 4 + [9] * 4 + [8] * 4  # 0 of 12 right, 8 of 12 predictions 'bag': expected at 0%
    propped = [8] * 4 + [8] * 4 + [8] * 2 + [9] * 2  # 6 of 12 right, 10 of 12 'bag': reads as robustness
    entries = collapse_entries(np.array([labels, beaten, propped]), labels, [7, 8, 9], NAMES)
    assert entries[1]["dominant"] == ["bag"] and entries[2]["dominant"] == ["bag"]
    assert collapse_warnings(entries, [0.0, 0.1, 0.2], "robust", "fgsm") == [
        "robust model, FGSM, ε = 0.2: 83% of all predictions are 'bag' (33% of the images are) "
        "— a collapse onto one class, not robustness"
    ]


def test_nothing_is_said_at_eps_zero_and_bad_shapes_are_refused():
    labels = np.array([1, 2, 2, 2])
    pred = np.array([[1, 1, 1, 1], [1, 1, 1, 1]])  # clean already all trouser: dominant (4/4 >= 2 x 1/4)
    entries = collapse_entries(pred, labels, [1, 2], NAMES)
    assert entries[0]["dominant"] == ["trouser"]
    assert collapse_warnings(entries, [0.0, 0.3], "robust", "fgsm") == [
        "robust model, FGSM, ε = 0.3: 100% of all predictions are 'trouser' (25% of the images are) "
        "— a collapse onto one class, not robustness"
    ]
    with pytest.raises(ValueError):
        collapse_entries(pred[:, :2], labels, [1, 2], NAMES)
    with pytest.raises(ValueError):
        collapse_entries(pred, np.array([1, 2, 2, 5]), [1, 2], NAMES)
    with pytest.raises(ValueError):
        collapse_warnings(entries, [0.0], "robust", "fgsm")


class BlueMeansTee(nn.Module):
    """Classes 1 and 2 read the red-minus-green contrast; class 0 grows steeply with the blue mean.

    Clean images (blue 0) are classified by the contrast; FGSM on a true label 1 or 2 raises blue
    everywhere (the class-0 logit's gradient is positive wherever it has any weight), and at eps 0.2
    class 0 outscores everything: every attacked image becomes class 0.
    """

    def forward(self, x):
        contrast = 10 * (x[:, 0].mean((1, 2)) - x[:, 1].mean((1, 2)))
        tee = 100 * (x[:, 2].mean((1, 2)) - 0.1)
        rest = torch.full((len(x), 7), -10.0)
        return torch.cat([tee[:, None], contrast[:, None], -contrast[:, None], rest], dim=1)


def test_a_model_built_to_collapse_is_flagged():
    n = 6
    x = torch.zeros(2 * n, 3, 8, 8)
    x[:n, 0], x[:n, 1] = 0.6, 0.4  # class 1
    x[n:, 0], x[n:, 1] = 0.4, 0.6  # class 2
    y = torch.tensor([1] * n + [2] * n)
    model = BlueMeansTee().eval()
    eps = [0.0, 0.2]
    with torch.no_grad():
        pred = np.stack([model(fgsm(model, x, y, e)).argmax(1).numpy() for e in eps])
    assert (pred[0] == y.numpy()).all() and (pred[1] == 0).all()
    entries = collapse_entries(pred, y.numpy(), [1, 2], NAMES)
    assert entries[1]["dominant"] == ["tee"] and entries[1]["confusion"]["counts"] == [[0, 0, n], [0, 0, n]]
    # every image wrong, all onto one class: the histogram shows it, but it is no warning (nothing reads
    # as robustness)
    assert collapse_warnings(entries, eps, "robust", "fgsm") == []


def test_the_builtin_standard_model_does_not_fire_at_eps_005():
    from rnnviz.data.builtin import load_builtin_sample
    from rnnviz.models.loading import load_model

    loaded = load_model("builtin:fashion-standard")
    model = loaded.module.eval()
    data = load_builtin_sample([7, 8, 9], 100, 0)
    eps = [0.0, 0.05]
    pred = np.zeros((2, len(data)), dtype=np.int64)
    for start in range(0, len(data), 100):
        x, y = data.images[start : start + 100], data.labels[start : start + 100]
        grad, logits = input_gradient(model, x, y)
        with torch.no_grad():
            pred[0, start : start + 100] = logits.argmax(1).numpy()
            pred[1, start : start + 100] = model(fgsm_step(x, grad, 0.05)).argmax(1).numpy()
    labels = data.labels.numpy()
    assert (pred[1] != pred[0]).any()  # the attack did something
    entries = collapse_entries(pred, labels, data.class_indices, loaded.labels.display)
    assert collapse_warnings(entries, eps, "standard", "fgsm") == []
