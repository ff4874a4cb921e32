"""A printed card shows the attack's change at the eps where its channel is ranked."""

from __future__ import annotations

from rnnviz.report.sections.cards import pool_text, shown_eps
from rnnviz.report.validate.cards import eps_keys


def _results(top_at: dict[int, list[tuple[str, int]]]) -> dict:
    eps = [0.0, 0.01, 0.05, 0.1]
    ranking = [
        {"top": [{"layer": layer, "channel": ch} for layer, ch in top_at.get(i, [])]} if i else None
        for i in range(len(eps))
    ]
    return {"config": {"eps": eps}, "ranking": {"robust": ranking}}


def test_a_cards_eps_is_the_channels_ranked_eps():
    results = _results({1: [("layer4", 3)], 2: [("layer4", 3), ("layer4", 5)], 3: [("layer4", 9)]})
    keys = eps_keys(results)
    assert shown_eps(results, "robust", "layer4", 3, keys, 3) == 2  # ranked at 0.01 and 0.05: the larger
    assert shown_eps(results, "robust", "layer4", 5, keys, 3) == 2  # ranked only at 0.05, not the largest eps
    assert shown_eps(results, "robust", "layer4", 9, keys, 3) == 3
    assert shown_eps(results, "robust", "layer3", 1, keys, 3) == 3  # ranked nowhere: the largest eps


def test_the_pool_is_described_as_it_was_drawn():
    assert pool_text(None) == "among the analysed images"
    assert pool_text({"mode": "chosen", "classes": [], "n_images": 0, "per_class": 0}) == "among the analysed images"
    text = pool_text({"mode": "all", "classes": ["bag", "shirt"], "n_images": 12, "per_class": 6})
    assert "12 more" in text and "2 other classes" in text and "at most 6 per class" in text
