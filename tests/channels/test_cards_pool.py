"""Cards with the exemplar pool: ``chosen`` keeps today's exemplars exactly; ``all`` changes only the
clean lists (to the analysed and pool images' top-n), labels each row with its class, and keeps the
change lists and the best analysed image (the renders' target) as they were."""

from __future__ import annotations

import torch
from helpers import sweep, tiny_resnet

from rnnviz.channels.cards import CardImages, Remake, write_cards
from rnnviz.channels.shown import shown_channels
from rnnviz.data.builtin import stream_builtin
from rnnviz.data.images import Preprocess, Selection
from rnnviz.data.pool import exemplar_pool
from rnnviz.data.stream import eager_set
from rnnviz.models.labels import fashion_labels
from rnnviz.sweep.exemplars import clean_exemplars
from rnnviz.sweep.loop import analyze

EPS = [0.0, 0.1]
LAYERS = ["layer3"]


def _run(tmp_path, pooled: bool):
    labels = fashion_labels()
    analysed = eager_set(stream_builtin([7], 6, 0))
    x, y = analysed.images, analysed.labels
    assert isinstance(x, torch.Tensor)  # eager_set decodes every image
    models = {"standard": tiny_resnet(0).module, "robust": tiny_resnet(1).module}
    s = sweep(EPS, LAYERS, batch_size=4, seed=5, exemplars=3)
    analyses = {m: analyze(net, x, y, s) for m, net in models.items()}
    top = [[], [{"layer": "layer3", "channel": c} for c in (0, 7)]]
    shown = {m: shown_channels(top, [], {"layer3": [1.0] * 8}, LAYERS) for m in models}
    pool = exemplar_pool("builtin", labels, Selection([7], 6, 0), Preprocess(28, None), len(x)) if pooled else None
    extra = None
    if pool is not None:
        batches = [(b.start, b.images) for b in pool.stream.batches(5)]
        extra = {m: clean_exemplars(net, batches, LAYERS, 3, EPS, pool.offset) for m, net in models.items()}
    source = CardImages(x, y, pool, extra, "all" if pooled else "chosen", labels.display)
    cards = write_cards(tmp_path, shown, models, analyses, source, Remake("fgsm", EPS, s.pgd, 5, "cpu"))
    return cards, analyses, pool


def _pairs(rows):
    return [(r["index"], r["value"]) for r in rows]


def test_chosen_reproduces_the_sweeps_exemplars_exactly(tmp_path):
    cards, analyses, _ = _run(tmp_path, pooled=False)
    assert cards["pool"] == {"mode": "chosen", "classes": [], "n_images": 0, "per_class": 0}
    for m in ("standard", "robust"):
        today = analyses[m].exemplars.summary({"layer3": [0, 7]}, EPS)
        for key, card in cards[m].items():
            assert _pairs(card["clean"]) == _pairs(today[key]["clean"])
            assert {k: _pairs(v) for k, v in card["change"].items()} == {
                k: _pairs(v) for k, v in today[key]["change"].items()
            }
            assert card["best_analysed"] == today[key]["clean"][0]
            assert {r["class"] for r in card["clean"]} == {"sneaker"}


def test_all_widens_only_the_clean_lists_and_names_each_class(tmp_path):
    chosen, _, _ = _run(tmp_path / "chosen", pooled=False)
    cards, _, pool = _run(tmp_path / "all", pooled=True)
    assert pool is not None and cards["pool"]["n_images"] == len(pool) == 54 and cards["pool"]["per_class"] == 6
    assert "sneaker" not in cards["pool"]["classes"] and len(cards["pool"]["classes"]) == 9
    widened = 0
    for m in ("standard", "robust"):
        for key, card in cards[m].items():
            before = chosen[m][key]
            assert card["change"] == before["change"] and card["best_analysed"] == before["best_analysed"]
            assert card["clean"][0]["value"] >= before["clean"][0]["value"]
            widened += any(r["index"] >= 6 for r in card["clean"])
            for r in card["clean"]:
                want = (
                    "sneaker" if r["index"] < 6 else fashion_labels().display(int(pool.stream.labels[r["index"] - 6]))
                )
                assert r["class"] == want
    assert widened  # some card shows a pool image (else this test shows nothing)
    assert (tmp_path / "all" / cards["robust"]["layer3:7"]["images"]["clean"]).is_file()
