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
from pathlib import Path

import torch

from rnnviz.channels.maps import (
    CHANGE_CMAP,
    activation_maps,
    change_sheet_png,
    clean_sheet_png,
    colour_bar_png,
    filter_weights_png,
    first_conv,
    map_scale,
)
from rnnviz.common.names import MODELS, channel_key, parse_channel_key, slug
from rnnviz.data.pool import ExemplarPool, PooledImages
from rnnviz.sweep.accumulators import merged
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.attacks import PGDSettings, attack
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.passes import eval_mode


def card_channels(results: dict, model: str) -> dict[str, list[int]]:
    """Layer -> channels of the union of the model's top-k over eps (what its gallery shows)."""
    chosen: dict[str, set[int]] = {}
    for per_eps in results["top_channels"][model]:
        for row in per_eps:
            chosen.setdefault(row["layer"], set()).add(int(row["channel"]))
    return {layer: sorted(chs) for layer, chs in chosen.items()}


def write_cards(
    out: Path,
    results: dict,
    modules: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    analyses: dict[str, ModelAnalysis],
    *,
    attack_name: str,
    pgd: PGDSettings,
    seed: int,
    device: str,
    pool: ExemplarPool | None = None,
    pool_exemplars: dict[str, TopExemplars] | None = None,
    pool_mode: str = "chosen",
    class_name: Callable[[int], str] | None = None,
) -> dict | None:
    """Write every card's pictures; returns results.json's ``exemplars`` (None when none were kept).

    With a ``pool`` (and its ``pool_exemplars``, model -> clean top-n) the clean lists are the
    analysed images' and the pool's merged; change lists and ``best_analysed`` stay the analysed
    images' own. Each row names its image's class (``class_name`` of its label index).
    """
    first = analyses[MODELS[0]].exemplars
    if first is None:
        return None
    eps = results["config"]["eps"]
    pooled = PooledImages(images, labels, pool)
    cards: dict = {"n": first.n, "pool": pool_record(pool, pool_mode, class_name)}
    for m in MODELS:
        exemplars = analyses[m].exemplars
        assert exemplars is not None
        chosen = card_channels(results, m)
        summary = exemplars.summary(chosen, eps)
        for card in summary.values():
            card["best_analysed"] = dict(card["clean"][0]) if card["clean"] else None
        if pool is not None and pool_exemplars is not None:
            shown = merged([exemplars, pool_exemplars[m]]).summary(chosen, eps)
            for key, card in summary.items():
                card["clean"] = shown[key]["clean"]
        adversarial = _adversarial_images(modules[m], images, labels, summary, eps, attack_name, pgd, seed, device)
        for key, card in summary.items():
            layer, ch = parse_channel_key(key)
            folder = f"figures/cards/{m}/{slug(layer)}-{ch}"
            _label_rows(card, pooled, class_name)
            card.update(_draw(out, folder, modules[m], layer, ch, pooled, card, adversarial))
        cards[m] = summary
    return cards


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


def _adversarial_images(model, images, labels, summary: dict, eps: list[float], name, pgd, seed, device) -> dict:
    """(eps key, image index) -> the adversarial image the sweep made, for every change exemplar."""
    made = {}
    for e in eps:
        if e == 0:
            continue
        key = repr(float(e))
        wanted = sorted({row["index"] for card in summary.values() for row in card["change"].get(key, [])})
        if not wanted:
            continue
        index = torch.tensor(wanted)
        x, y = images[index].to(device), labels[index].to(device)
        with eval_mode(model):
            x_adv = attack(name, model, x, y, e, pgd, seed=seed, indices=index).detach().cpu()
        made.update({(key, i): x_adv[j] for j, i in enumerate(wanted)})
    return made


def _draw(out: Path, folder: str, model, layer: str, ch: int, images, card: dict, adversarial: dict) -> dict:
    """The card's sheets: clean exemplars with their maps, per eps the change exemplars (clean |
    adversarial | |dF|), colour bars on the channel's own scale, and the first layer's filter."""
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
    colour_bar_png(scale, out / files["bars"]["activation"], label=f"{channel_key(layer, ch)} activation")
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
        colour_bar_png(change_scale, out / files["bars"]["change"][key], label="|ΔF|", cmap=CHANGE_CMAP)
    weight = first_conv(model, layer)
    weights = None
    if weight is not None:
        weights = f"{folder}/weights.png"
        filter_weights_png(weight.detach().cpu(), ch, out / weights)
    return {"images": files, "weights": weights, "map_scale": scales}
