"""A printed card shows the attack's change at the eps where its channel is ranked."""

from __future__ import annotations

from rnnviz.report.sections.cards import pool_text, shown_eps
from rnnviz.report.validate.cards import eps_keys
from rnnviz.results.model.channels import RankingEntry, TopRow
from rnnviz.results.model.pictures import ExemplarPoolInfo

EPS = [0.0, 0.01, 0.05, 0.1]


def _ranking(top_at: dict[int, list[tuple[str, int]]]) -> list[RankingEntry | None]:
    """One model's ranking with only its top rows' layer and channel (all a card's eps reads)."""
    return [
        RankingEntry.model_construct(top=[TopRow.model_construct(layer=la, channel=ch) for la, ch in top_at.get(i, [])])
        if i
        else None
        for i in range(len(EPS))
    ]


def test_a_cards_eps_is_the_channels_ranked_eps():
    ranking = _ranking({1: [("layer4", 3)], 2: [("layer4", 3), ("layer4", 5)], 3: [("layer4", 9)]})
    keys = eps_keys(EPS)
    assert shown_eps(EPS, ranking, "layer4", 3, keys, 3) == 2  # ranked at 0.01 and 0.05: the larger
    assert shown_eps(EPS, ranking, "layer4", 5, keys, 3) == 2  # ranked only at 0.05, not the largest eps
    assert shown_eps(EPS, ranking, "layer4", 9, keys, 3) == 3
    assert shown_eps(EPS, ranking, "layer3", 1, keys, 3) == 3  # ranked nowhere: the largest eps


def _pool(mode: str, classes: list[str], n_images: int, per_class: int) -> ExemplarPoolInfo:
    return ExemplarPoolInfo(mode=mode, classes=classes, n_images=n_images, per_class=per_class)


def test_the_pool_is_described_as_it_was_drawn():
    assert pool_text(None) == "among the analysed images"
    assert pool_text(_pool("chosen", [], 0, 0)) == "among the analysed images"
    text = pool_text(_pool("all", ["bag", "shirt"], 12, 6))
    assert "12 more" in text and "2 other classes" in text and "at most 6 per class" in text
