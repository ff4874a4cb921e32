"""Channel cards, engine side: for every channel a gallery shows, its real exemplars and their maps.

The sweep kept, per channel, the top-n images by clean activation and by change under attack
(``rnnviz.sweep.exemplars``, running top-n). Here one small pass over just those images recomputes the
channel's activation maps (the adversarial images re-made exactly as the sweep made them: same
attack, same seed, same global image index) and writes the card's pictures under
``figures/cards/<model>/<layer>-<channel>/``. results.json's ``exemplars`` key describes them.
"""

from __future__ import annotations

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
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.attacks import PGDSettings, attack
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
) -> dict | None:
    """Write every card's pictures; returns results.json's ``exemplars`` (None when none were kept)."""
    first = analyses[MODELS[0]].exemplars
    if first is None:
        return None
    eps = results["config"]["eps"]
    cards: dict = {"n": first.n}
    for m in MODELS:
        exemplars = analyses[m].exemplars
        assert exemplars is not None
        chosen = card_channels(results, m)
        summary = exemplars.summary(chosen, eps)
        adversarial = _adversarial_images(modules[m], images, labels, summary, eps, attack_name, pgd, seed, device)
        for key, card in summary.items():
            layer, ch = parse_channel_key(key)
            folder = f"figures/cards/{m}/{slug(layer)}-{ch}"
            card.update(_draw(out, folder, modules[m], layer, ch, images, card, adversarial))
        cards[m] = summary
    return cards


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
