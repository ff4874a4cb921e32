"""Channel cards, engine side: the pictures re-make exactly what the sweep measured."""

import json

import torch
from helpers import images, sweep, tiny_resnet
from PIL import Image

from rnnviz.channels.cards import CardImages, Remake, write_cards
from rnnviz.channels.maps import activation_maps
from rnnviz.channels.shown import shown_channels
from rnnviz.common.files import strict_images
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.attacks import attack as make
from rnnviz.sweep.draws import Starts
from rnnviz.sweep.loop import analyze


def test_cards_remake_the_sweeps_adversarial_images_and_values(tmp_path):
    x, y = images(9)
    models = {"standard": tiny_resnet(0).module, "robust": tiny_resnet(1).module}
    peaks = {"layer3": [1.0] * 8}
    for attack in ("fgsm", "pgd"):
        s = sweep(
            [0.0, 0.1], ["layer2", "layer3"], batch_size=4, seed=5, exemplars=3, attack=attack, pgd=PGDSettings(steps=2)
        )
        analyses = {m: analyze(net, x, y, s) for m, net in models.items()}
        top = [[], [{"layer": "layer3", "channel": c} for c in (7, 0)]]
        shown = {m: shown_channels(top, [], peaks, []) for m in models}
        assert shown["robust"].by_layer() == {"layer3": [0, 7]}
        remake = Remake(attack, [0.0, 0.1], s.pgd, 5, "cpu")
        cards = write_cards(tmp_path / attack, shown, models, analyses, CardImages(x, y), remake)
        json.dumps(cards, allow_nan=False)
        card = cards["robust"]["layer3:7"]
        assert [r["index"] for r in card["clean"]] == [
            r["index"] for r in analyses["robust"].exemplars.summary({"layer3": [7]})["layer3:7"]["clean"]
        ]
        # the change exemplar's value is the mean |dF| the sweep saw: the re-made images give it again
        rows = card["change"]["0.1"]
        assert len(rows) == 3 and rows[0]["value"] >= rows[-1]["value"]
        index = torch.tensor([r["index"] for r in rows])
        x_adv = make(attack, models["robust"].eval(), x[index], y[index], 0.1, s.pgd, Starts(5, index))
        maps = activation_maps(models["robust"], "layer3", 7, x[index], x_adv)
        for r, change in zip(rows, maps.change):
            assert abs(float(change.mean()) - r["value"]) <= 1e-4 * max(1.0, r["value"])
        for path in [card["images"]["clean"], card["images"]["change"]["0.1"], card["images"]["bars"]["activation"]]:
            with strict_images():
                Image.open(tmp_path / attack / path).load()
        assert card["weights"] is None  # layer3 is not the first conv
        assert card["map_scale"]["activation"][1] > card["map_scale"]["activation"][0]
