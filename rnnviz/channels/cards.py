"""Channel cards, engine side: for every channel a gallery shows, its real exemplars and their maps.

The sweep kept, per channel, the top-n images by clean activation and by change under attack
(``rnnviz.sweep.exemplars``, running top-n). Here one small pass over just those images recomputes the
channel's activation maps (the adversarial images re-made exactly as the sweep made them: same
attack, same seed, same global image index) and writes the card's pictures under
``figures/cards/<model>/<layer>-<channel>/``. results.json's ``exemplars`` key describes them.
The clean exemplars may also come from the exemplar pool (``rnnviz.data.pool``: the source's other
classes, indices after the analysed images'); every row names its image's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnviz.channels.maps import (
    CHANGE_CMAP,
    ColourBars,
    activation_maps,
    change_sheet_png,
    clean_sheet_png,
    filter_weights_png,
    first_conv,
    map_scale,
)
from rnnviz.channels.shown import ShownChannels
from rnnviz.common.names import MODELS, channel_key, eps_key, parse_channel_key, slug
from rnnviz.data.pool import ExemplarPool, PooledImages
from rnnviz.sweep.accumulators import merged
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.attacks import PGDSettings, attack
from rnnviz.sweep.draws import Starts
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.passes import eval_mode


@dataclass(frozen=True)
class CardImages:
    """The images a card's exemplar indices point into: the analysed ``images`` with their ``labels``
    and, with a ``pool`` (``mode`` "all"), the pool's images after them, whose clean top-n per model
    (``pool_top``) widen the clean lists. ``class_name`` names each row's class (its label index)."""

    images: torch.Tensor
    labels: torch.Tensor
    pool: ExemplarPool | None = None
    pool_top: dict[str, TopExemplars] | None = None
    mode: str = "chosen"
    class_name: Callable[[int], str] | None = None


@dataclass(frozen=True)
class Remake:
    """How the sweep made its adversarial images (attack, eps, PGD settings, seed), so a card re-makes
    exactly the ones it measured; ``device`` is where the small re-making pass runs."""

    attack: str
    eps: list[float]
    pgd: PGDSettings
    seed: int
    device: str


def write_cards(
    out: Path,
    shown: dict[str, ShownChannels],
    modules: dict,
    analyses: dict[str, ModelAnalysis],
    source: CardImages,
    remake: Remake,
) -> dict | None:
    """Write the cards of every model's top channels (``shown``); returns results.json's ``exemplars``
    (None when the sweep kept none).

    With a pool the clean lists are the analysed images' and the pool's merged; the change lists and
    ``best_analysed`` stay the analysed images' own (the renders start from the latter).
    """
    first = analyses[MODELS[0]].exemplars
    if first is None:
        return None
    pooled = PooledImages(source.images, source.labels, source.pool)
    cards: dict = {"n": first.n, "pool": pool_record(source.pool, source.mode, source.class_name)}
    bars = ColourBars()
    for m in MODELS:
        summary = _summary(analyses[m], shown[m].by_layer(), source, m, remake.eps)
        adversarial = _adversarial_images(modules[m], source, summary, remake)
        for key, card in summary.items():
            layer, ch = parse_channel_key(key)
            folder = f"figures/cards/{m}/{slug(layer)}-{ch}"
            _label_rows(card, pooled, source.class_name)
            card.update(_draw(out, folder, (modules[m], layer, ch), pooled, card, adversarial, bars))
        cards[m] = summary
    return cards


def _summary(analysis: ModelAnalysis, chosen: dict[str, list[int]], source: CardImages, model: str, eps) -> dict:
    """The cards' exemplar lists: the sweep's own, with the pool's clean top-n merged in where given."""
    exemplars = analysis.exemplars
    assert exemplars is not None
    summary = exemplars.summary(chosen, eps)
    for card in summary.values():
        card["best_analysed"] = dict(card["clean"][0]) if card["clean"] else None
    if source.pool is not None and source.pool_top is not None:
        shown = merged([exemplars, source.pool_top[model]]).summary(chosen, eps)
        for key, card in summary.items():
            card["clean"] = shown[key]["clean"]
    return summary


def pool_record(pool: ExemplarPool | None, mode: str, class_name: Callable[[int], str] | None) -> dict:
    """results.json's ``exemplars.pool``: which classes beyond the analysed ones the clean exemplars
    were drawn from, how many images that was, and the cap per class."""
    if pool is None:
        return {"mode": mode, "classes": [], "n_images": 0, "per_class": 0}
    name = class_name or str
    return {
        "mode": mode,
        "classes": [name(c) for c in pool.class_indices],
        "n_images": len(pool),
        "per_class": pool.per_class,
    }


def _label_rows(card: dict, pooled: PooledImages, class_name: Callable[[int], str] | None) -> None:
    """Each exemplar row gets its image's class name (what the card prints under the picture)."""
    if class_name is None:
        return
    for rows in [card["clean"], *card["change"].values()]:
        for row in rows:
            row["class"] = class_name(pooled.label(row["index"]))


def _adversarial_images(model, source: CardImages, summary: dict, remake: Remake) -> dict:
    """(eps key, image index) -> the adversarial image the sweep made, for every change exemplar."""
    made = {}
    for e in remake.eps:
        if e == 0:
            continue
        key = eps_key(e)
        wanted = sorted({row["index"] for card in summary.values() for row in card["change"].get(key, [])})
        if not wanted:
            continue
        index = torch.tensor(wanted)
        x, y = source.images[index].to(remake.device), source.labels[index].to(remake.device)
        with eval_mode(model):
            x_adv = attack(remake.attack, model, x, y, e, remake.pgd, Starts(remake.seed, index)).detach().cpu()
        made.update({(key, i): x_adv[j] for j, i in enumerate(wanted)})
    return made


def _draw(out: Path, folder: str, unit: tuple, images, card: dict, adversarial: dict, bars: ColourBars) -> dict:
    """The card's sheets for ``unit`` (model, layer, channel): clean exemplars with their maps, per eps
    the change exemplars (clean | adversarial | |dF|), colour bars on the channel's own scale, and the
    first layer's filter."""
    model, layer, ch = unit
    (out / folder).mkdir(parents=True, exist_ok=True)
    clean_index = [row["index"] for row in card["clean"]]
    clean = activation_maps(model, layer, ch, images[clean_index]).clean if clean_index else None
    pairs = {}
    for key, rows in card["change"].items():
        index = [row["index"] for row in rows]
        if index:
            x_adv = torch.stack([adversarial[(key, i)] for i in index])
            pairs[key] = (index, x_adv, activation_maps(model, layer, ch, images[index], x_adv))
    drawn = ([clean] if clean is not None else []) + [m.clean for _, _, m in pairs.values()]
    drawn += [m.adv for _, _, m in pairs.values() if m.adv is not None]
    scale = map_scale(*drawn) if drawn else (0.0, 1.0)
    files: dict = {"clean": None, "change": {}, "bars": {"activation": f"{folder}/activation-bar.png", "change": {}}}
    scales: dict = {"activation": list(scale), "change": {}}
    bars.write(scale, out / files["bars"]["activation"], label=f"{channel_key(layer, ch)} activation")
    if clean is not None:
        files["clean"] = f"{folder}/clean.png"
        clean_sheet_png([images[i] for i in clean_index], list(clean), scale, out / files["clean"])
    for key, (index, x_adv, maps) in pairs.items():
        assert maps.adv is not None
        files["change"][key] = f"{folder}/change-{key}.png"
        change_scale = change_sheet_png(
            [images[i] for i in index], list(x_adv), list(maps.clean), list(maps.adv), scale, out / files["change"][key]
        )
        scales["change"][key] = list(change_scale)
        files["bars"]["change"][key] = f"{folder}/change-{key}-bar.png"
        bars.write(change_scale, out / files["bars"]["change"][key], label="|ΔF|", cmap=CHANGE_CMAP)
    weight = first_conv(model, layer)
    weights = None
    if weight is not None:
        weights = f"{folder}/weights.png"
        filter_weights_png(weight.detach().cpu(), ch, out / weights)
    return {"images": files, "weights": weights, "map_scale": scales}
