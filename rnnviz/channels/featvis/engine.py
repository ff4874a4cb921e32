"""``render_channels``: check the request, reuse cached renders, batch and render the rest.

This module decides what to render and in which order; how one batch is optimized is
``loop``, where results live is ``rendercache``, and the model's state is ``modelstate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnviz.channels.featvis import settings as render_settings
from rnnviz.channels.featvis.loop import DEAD_ACTIVATION, Optimizer, element_seed
from rnnviz.channels.featvis.modelstate import render_mode
from rnnviz.channels.featvis.objectives import OBJECTIVES, Element
from rnnviz.channels.featvis.rendercache import RenderCache, seed_digest
from rnnviz.channels.featvis.settings import QUALITY, ModelFacts, RenderRequest
from rnnviz.common.errors import UsageError
from rnnviz.common.names import RECIPES
from rnnviz.sweep.hooks import check_layers

# A render with a known best real image stops once it excites its channel this many times as much
# (1: as much as the best real image, where the report's "weak" mark ends).
TARGET_RATIO = 1.0


@dataclass
class Render:
    """One channel's visualization: a PNG in the cache plus the numbers the report prints."""

    layer: str
    channel: int
    recipe: str
    png: Path
    diversity: list[Path]
    final_activation: float
    start_activation: float
    relative_activation: float | None
    dead: bool
    losses: list[float]
    cache_hit: bool
    steps: int  # optimization steps taken (at most the quality's cap)
    stop: str  # "target", "plateau" or "cap" (rnnviz.common.names.STOPS)
    target: float | None  # the activation it was optimized towards; None: no best real image known


def render_channels(
    model: nn.Module,
    channels: list[tuple[str, int]],
    facts: ModelFacts,
    request: RenderRequest = RenderRequest(),
    *,
    max_activation: dict[tuple[str, int], float] | None = None,
    seeds: dict[tuple[str, int], torch.Tensor] | None = None,
    progress: str | None = "standard model",
) -> list[Render]:
    """One ``Render`` per (layer, channel) of ``model``, in order; cached renders are reused, the rest
    batched. ``model`` (RGB NCHW in [0, 1]) is left exactly as it was (hooks, ReLUs, grad flags, mode).

    The ``accent`` recipe (feature accentuation) starts each channel from ``seeds[(layer, channel)]``,
    its best real image ((3, S, S) in [0, 1]), at size S; a channel without one is left out.

    A channel with a positive ``max_activation`` (its best real image's) is optimized until its
    render reaches ``TARGET_RATIO`` times it, or plateaus, or reaches the quality's step cap; the
    others (and every accent render) until a plateau or the cap. The ``neuron`` objective (a channel's
    centre value) has no comparable best real image, hence no target.
    """
    _check_args(model, channels, request)
    channels, seed_images = _accent_seeds(request.recipe, channels, seeds)
    if not channels:
        return []
    dev = torch.device(request.device)
    seed_size = next(iter(seed_images.values())).shape[-1] if seed_images else None
    settings = render_settings.build(facts, request, dev, seed_size)
    wanted = list(dict.fromkeys((layer, int(c)) for layer, c in channels))
    targets = {lc: _target(max_activation, lc, request.recipe, request.objective) for lc in wanted}
    seed_images = {lc: seed_images[lc] for lc in wanted if lc in seed_images}
    cache = RenderCache(settings, {lc: seed_digest(img) for lc, img in seed_images.items()}, targets)
    cached = {lc: cache.load(*lc) for lc in wanted}
    metas: dict[tuple[str, int], dict] = {lc: meta for lc, meta in cached.items() if meta is not None}
    todo = [lc for lc in wanted if lc not in metas]
    if todo:
        opt = Optimizer(model, settings, dev, seed_images)
        metas.update(_render_missing(opt, todo, cache, settings, targets, request.chunk, progress))
    known = max_activation if request.objective == "channel" else None
    return [_channel_render(layer, int(c), request.recipe, cache, metas, todo, known) for layer, c in channels]


def _channel_render(layer: str, c: int, recipe: str, cache, metas: dict, todo: list, known) -> Render:
    return _to_render(
        layer, c, recipe, cache.entry(layer, c), metas[(layer, c)], hit=(layer, c) not in todo, max_activation=known
    )


def _accent_seeds(recipe: str, channels: list, seeds) -> tuple[list, dict[tuple[str, int], torch.Tensor]]:
    """Accent renders start from each channel's seed image: keep the channels that have one."""
    if recipe != "accent":
        return channels, {}
    seed_images = _check_seeds(seeds)
    return [(layer, c) for layer, c in channels if (layer, int(c)) in seed_images], seed_images


def _target(max_activation, lc: tuple[str, int], recipe: str, objective: str) -> float | None:
    """The activation the channel's render stops at: a multiple of its best real image's. accent
    starts at that image, so it has none (it runs to a plateau or the cap), nor has a neuron."""
    peak = (max_activation or {}).get(lc)
    if recipe == "accent" or objective != "channel" or peak is None or not peak > 0:
        return None
    return TARGET_RATIO * float(peak)


def _check_args(model, channels, request: RenderRequest) -> None:
    """Bad settings fail before any work, each with the fix in the message."""
    if request.objective not in OBJECTIVES:
        raise UsageError(f"unknown render objective {request.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    if request.recipe not in RECIPES:
        raise UsageError(f"unknown render recipe {request.recipe!r}; choose one of: {', '.join(RECIPES)}")
    if request.quality not in QUALITY:
        raise UsageError(f"unknown quality {request.quality!r}; choose one of: {', '.join(QUALITY)}")
    if request.diversity < 0 or request.chunk < 1:
        raise UsageError(f"diversity must be >= 0 and chunk >= 1 (got {request.diversity}, {request.chunk})")
    check_layers(model, sorted({layer for layer, _ in channels}))


def _check_seeds(seeds) -> dict[tuple[str, int], torch.Tensor]:
    """accent's seed images: one size, square, RGB, finite and in [0, 1], each fixed on the CPU
    as float32 (what its cache key digests)."""
    out: dict[tuple[str, int], torch.Tensor] = {}
    for (layer, c), img in (seeds or {}).items():
        t = torch.as_tensor(img).detach().to("cpu", torch.float32)
        if t.dim() != 3 or t.shape[0] != 3 or t.shape[1] != t.shape[2] or t.shape[1] < 1:
            raise UsageError(f"the seed image of {layer}:{c} has shape {tuple(t.shape)}; expected (3, S, S)")
        if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
            raise UsageError(f"the seed image of {layer}:{c} is not in [0, 1]; pass images as the model takes them")
        out[(layer, int(c))] = t
    if len({t.shape for t in out.values()}) > 1:
        raise UsageError("accent seed images differ in size; pass them all at the model's input size")
    return out


def _to_render(layer, channel, recipe, entry: Path, meta: dict, *, hit: bool, max_activation) -> Render:
    peak = (max_activation or {}).get((layer, channel))
    final = meta["final_activation"]
    return Render(
        layer=layer,
        channel=channel,
        recipe=recipe,
        png=entry / meta["image"],
        diversity=[entry / name for name in meta["diversity"]],
        final_activation=final,
        start_activation=meta["start_activation"],
        relative_activation=final / peak if peak and peak > 0 else None,
        dead=meta["dead"],
        losses=meta["losses"],
        cache_hit=hit,
        steps=meta["steps_used"],
        stop=meta["stop"],
        target=meta.get("target"),
    )


def _render_missing(opt: Optimizer, todo, cache: RenderCache, settings: dict, targets, chunk: int, progress) -> dict:
    """Render the uncached channels in batches and write each entry as soon as it is complete."""
    model, steps, diversity = opt.model, settings["steps"], settings["diversity"]
    elements = [Element(layer, c, element_seed(settings["seed"], layer, c)) for layer, c in todo]
    elements = _sorted_by_depth(model, elements)
    batches = [elements[i : i + chunk] for i in range(0, len(elements), chunk)]
    total = steps * (len(batches) + (len(elements) if diversity else 0))
    metas = {}
    with render_mode(model, channels_last=opt.dev.type == "cpu"), torch.random.fork_rng(devices=[]):
        _check_channels(opt, elements)
        cache.prepare()  # a read-only cache fails here, before the first optimization step
        with tqdm(total=total, desc=progress, unit="step", disable=progress is None) as bar:
            for batch in batches:
                result = opt.run(batch, bar, targets=[targets[(el.layer, el.channel)] for el in batch])
                for i, el in enumerate(batch):
                    images = [result.images[i]] + _diversity_images(opt, el, diversity, bar)
                    meta = {
                        "layer": el.layer,
                        "channel": el.channel,
                        **settings,
                        "start_activation": result.start[i],
                        "final_activation": result.final[i],
                        "dead": _is_dead(result.start[i], result.final[i]),
                        "losses": result.losses[i],
                        "steps_used": result.steps[i],
                        "stop": result.stops[i],
                        "target": targets[(el.layer, el.channel)],
                    }
                    metas[(el.layer, el.channel)] = cache.save(el.layer, el.channel, images, meta)
    return metas


def _diversity_images(opt: Optimizer, el: Element, n: int, bar) -> list[np.ndarray]:
    """n more images of one channel, optimized together and pushed apart by lucent's diversity term."""
    if not n:
        return []
    extra = [Element(el.layer, el.channel, element_seed(el.seed, "diversity", k)) for k in range(n)]
    return list(opt.run(extra, bar, diverse=True).images)


def _sorted_by_depth(model: nn.Module, elements: list[Element]) -> list[Element]:
    """Shallow layers first, so a batch of shallow channels stops its forward pass early."""
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return sorted(elements, key=lambda el: (order[el.layer], el.channel))


def _is_dead(start: float, final: float) -> bool:
    """Nothing the optimizer did raised the channel: the report shows a note, not a grey square."""
    return abs(final) <= DEAD_ACTIVATION or final <= start


def _check_channels(opt: Optimizer, elements: list[Element]) -> None:
    counts = opt.channel_counts(sorted({el.layer for el in elements}))
    for el in elements:
        n = counts[el.layer]
        if not 0 <= el.channel < n:
            raise UsageError(
                f"channel {el.channel} is out of range for layer '{el.layer}', which has {n} "
                f"channels; use a channel from 0 to {n - 1}"
            )
