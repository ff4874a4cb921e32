"""Feature visualization: batched, truncated, cached channel renders built on lucent.

lucent's ``render_vis`` renders one channel per call, leaves a hook on every module,
computes weight gradients and draws its transforms from numpy's global RNG. This module
keeps lucent's parameterization (``param.spatial``, ``param.color``) and objectives
(``objectives.channel``, ``objectives.diversity``) and runs its own loop instead:

* all channels of one model in one optimization (batch dim = channel, ``chunk`` at a time),
  each batch element with its own seed and its own random transform per step;
* the forward pass stops after the last target layer (a hook raises ``_StopForward``);
* weights frozen, hooks only on the target layers and removed afterwards;
* ReLU gradient pass-through for the first steps and while a channel is still flat (lucent
  issues #9, #34: otherwise some channels stay flat grey);
* every render cached under ``cache_dir("renders")``, keyed by weights and settings.

Two recipes: ``lucid`` (Olah et al. 2017: decorrelated Fourier image, transformation
robustness, Adam 0.05) and ``raw`` (Engstrom et al. 2019: pixel-space normalized-L2 ascent from
grey, no prior). Robust models show recognisable shapes even under ``raw``; standard models give
noise there and need lucid's prior, so showing both recipes reveals the difference.

Reproducibility: a channel's initial image and transform draws depend only on ``seed``, layer
and channel, so the same call on the same CPU and versions gives identical PNG bytes. Renders
of one channel batched with different neighbours can differ by float rounding, and on CUDA
``grid_sample``'s backward accumulates with atomics, so GPU renders may differ in the last bits.
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from lucent.optvis import objectives
from lucent.optvis.param import color, spatial

from . import __version__
from .cache import atomic_path, atomic_write_json, cache_dir, key_digest
from .errors import UsageError
from .models import check_layers

__all__ = ["QUALITY", "RECIPES", "RENDER_VERSION", "Quality", "Render", "render_channels"]

# Bump when a change to this module changes the pixels of a render: old cache entries then miss.
RENDER_VERSION = 1
RECIPES = ("lucid", "raw")


@dataclass(frozen=True)
class Quality:
    """Optimization steps and rendered size; ``size()`` turns the model's input size into pixels."""

    steps: int
    min_size: int
    max_size: int | None = None

    def size(self, input_size: int) -> int:
        """The model's own size, capped for drafts; small-input (28 px) models are rendered larger,
        since a fully convolutional net with global pooling accepts any size and 28 px is too
        small to see a pattern repeat."""
        capped = input_size if self.max_size is None else min(input_size, self.max_size)
        return max(self.min_size, capped)


QUALITY = {
    "draft": Quality(steps=64, min_size=56, max_size=128),   # 224 -> 128 px, 28 -> 56 px
    "standard": Quality(steps=512, min_size=84),            # 224 -> 224 px, 28 -> 84 px
    "high": Quality(steps=1024, min_size=112),              # 224 -> 224 px, 28 -> 112 px
}

LUCID_LR = 0.05
# ReLU gradient pass-through for the first steps, and after them while a channel is still flat
# (small raw-recipe steps need longer to leave zero); it changes nothing for a live channel.
PASSTHROUGH_STEPS = 16
DIVERSITY_WEIGHT = 1e2          # lucent README: channel - 1e2 * diversity
RAW_NOISE = 0.01                # raw recipe starts at grey 0.5 plus this much Gaussian noise
RAW_TRAVEL = 0.5                # raw recipe: RMS pixel distance of all steps together
                                # (Engstrom et al.: 200 L2 steps of 1 on a 224 px image, ~0.5)
DEAD_ACTIVATION = 1e-6
# Lucid's default transforms at 224 px (pad 12, jitter 8 then 4, scale 0.9-1.1, rotate +-10 deg),
# scaled to the model's input size.
PAD_PX, JITTER_PX, SCALE_RANGE, ROTATE_DEG = 12, 6, 0.1, 10


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


@dataclass(frozen=True)
class _Element:
    """One image being optimized: which channel it maximizes, and its own seed."""

    layer: str
    channel: int
    seed: int


@dataclass
class _Result:
    images: np.ndarray          # uint8 (N, H, W, 3)
    start: list[float]
    final: list[float]
    losses: list[list[float]]


class _StopForward(Exception):
    """Raised by the last target layer's hook: nothing after it is needed."""


# --------------------------------------------------------------------------- public API

def render_channels(model: nn.Module, channels: list[tuple[str, int]], *, model_id: str, input_size: int,
                    recipe: str = "lucid", quality: str = "standard", seed: int = 0, device="cpu",
                    grayscale: bool = False, diversity: int = 0,
                    max_activation: dict[tuple[str, int], float] | None = None,
                    progress: str | None = "standard model", chunk: int = 8) -> list[Render]:
    """Render each (layer, channel) of ``model``; cached renders are reused, the rest batched.

    Returns one ``Render`` per entry of ``channels``, in order. ``model`` takes RGB NCHW in [0, 1];
    it is left exactly as it was (hooks, ReLU modules, grad flags, train/eval mode).
    """
    q = _check_args(model, channels, recipe, quality, diversity, chunk)
    dev = torch.device(device)
    settings = {
        "model_id": model_id, "recipe": recipe, "quality": quality, "steps": q.steps,
        "size": q.size(input_size), "seed": seed, "input_size": input_size, "grayscale": grayscale,
        "diversity": diversity, "device": dev.type, "precision": _precision(dev),
        "versions": _versions(), "render_version": RENDER_VERSION,
    }
    wanted = list(dict.fromkeys((layer, int(c)) for layer, c in channels))
    entries = {lc: _entry_dir(settings, *lc) for lc in wanted}
    metas = {lc: _load_entry(entries[lc]) for lc in wanted}
    todo = [lc for lc in wanted if metas[lc] is None]
    if todo:
        metas.update(_render_missing(model, todo, entries, settings, dev, progress, chunk))
    return [_to_render(layer, int(c), recipe, entries[(layer, int(c))], metas[(layer, int(c))],
                       hit=(layer, int(c)) not in todo, max_activation=max_activation)
            for layer, c in channels]


def _check_args(model, channels, recipe, quality, diversity, chunk) -> Quality:
    """Bad settings fail before any work, each with the fix in the message."""
    if recipe not in RECIPES:
        raise UsageError(f"unknown render recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    if quality not in QUALITY:
        raise UsageError(f"unknown quality {quality!r}; choose one of: {', '.join(QUALITY)}")
    if diversity < 0 or chunk < 1:
        raise UsageError(f"diversity must be >= 0 and chunk >= 1 (got {diversity}, {chunk})")
    check_layers(model, sorted({layer for layer, _ in channels}))
    return QUALITY[quality]


def _precision(dev: torch.device) -> str:
    """bf16 autocast only where the CPU has native bf16 (about 2x there; far slower when emulated)."""
    caps = getattr(torch.cpu, "get_capabilities", dict)()     # torch >= 2.5
    native = caps.get("avx512_bf16", False) or caps.get("amx_bf16", False)
    return "bf16" if dev.type == "cpu" and native else "fp32"


def _versions() -> dict:
    return {"rnnviz": __version__, "torch": torch.__version__,
            "lucent": importlib.metadata.version("torch-lucent")}


def _to_render(layer, channel, recipe, entry: Path, meta: dict, *, hit: bool, max_activation) -> Render:
    peak = (max_activation or {}).get((layer, channel))
    final = meta["final_activation"]
    return Render(layer=layer, channel=channel, recipe=recipe, png=entry / meta["image"],
                  diversity=[entry / name for name in meta["diversity"]],
                  final_activation=final, start_activation=meta["start_activation"],
                  relative_activation=final / peak if peak and peak > 0 else None,
                  dead=meta["dead"], losses=meta["losses"], cache_hit=hit)


# --------------------------------------------------------------------------- cache

def _entry_dir(settings: dict, layer: str, channel: int) -> Path:
    return cache_dir("renders") / key_digest(layer=layer, channel=channel, **settings)


def _load_entry(entry: Path) -> dict | None:
    """The entry's metadata if it is complete and readable; a damaged one is warned about and redone."""
    meta_path = entry / "meta.json"
    if not meta_path.exists():
        if entry.is_dir() and any(entry.iterdir()):
            warnings.warn(f"incomplete render cache entry {entry} (no meta.json); rendering it again")
        return None
    try:
        meta = json.loads(meta_path.read_text())
        for name in [meta["image"], *meta["diversity"]]:
            with Image.open(entry / name) as im:
                im.verify()
        float(meta["final_activation"]), float(meta["start_activation"])
    except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
        warnings.warn(f"damaged render cache entry {entry} ({type(exc).__name__}: {exc}); rendering it again")
        return None
    return meta


def _save_entry(entry: Path, images: list[np.ndarray], meta: dict) -> dict:
    """PNGs first, meta.json last, each atomically: meta.json's presence means the entry is complete."""
    names = ["image.png"] + [f"diversity-{i}.png" for i in range(1, len(images))]
    for name, array in zip(names, images):
        with atomic_path(entry / name) as tmp:
            Image.fromarray(array).save(tmp, format="PNG")
    meta = {**meta, "image": names[0], "diversity": names[1:]}
    atomic_write_json(entry / "meta.json", meta)
    return meta


# --------------------------------------------------------------------------- rendering

def _render_missing(model, todo, entries, settings, dev, progress, chunk) -> dict:
    """Render the uncached channels in batches and write each entry as soon as it is complete."""
    steps, diversity = settings["steps"], settings["diversity"]
    elements = [_Element(layer, c, _seed(settings["seed"], layer, c)) for layer, c in todo]
    elements = _sorted_by_depth(model, elements)
    batches = [elements[i:i + chunk] for i in range(0, len(elements), chunk)]
    total = steps * (len(batches) + (len(elements) if diversity else 0))
    opt = _Optimizer(model, settings, dev)
    metas = {}
    with _render_mode(model, channels_last=dev.type == "cpu"), torch.random.fork_rng(devices=[]):
        _check_channels(opt, elements)
        with tqdm(total=total, desc=progress, unit="step", disable=progress is None) as bar:
            for batch in batches:
                result = opt.run(batch, bar)
                for i, el in enumerate(batch):
                    images = [result.images[i]] + _diversity_images(opt, el, diversity, bar)
                    meta = {"layer": el.layer, "channel": el.channel, **settings,
                            "start_activation": result.start[i], "final_activation": result.final[i],
                            "dead": _is_dead(result.start[i], result.final[i]), "losses": result.losses[i]}
                    metas[(el.layer, el.channel)] = _save_entry(entries[(el.layer, el.channel)], images, meta)
    return metas


def _diversity_images(opt: "_Optimizer", el: _Element, n: int, bar) -> list[np.ndarray]:
    """n more images of one channel, optimized together and pushed apart by lucent's diversity term."""
    if not n:
        return []
    extra = [_Element(el.layer, el.channel, _seed(el.seed, "diversity", k)) for k in range(n)]
    return list(opt.run(extra, bar, diverse=True).images)


def _seed(*parts) -> int:
    """A 60-bit seed from any fields, so one channel's randomness ignores its batch neighbours."""
    return int(key_digest(parts=parts)[:15], 16)


def _sorted_by_depth(model: nn.Module, elements: list[_Element]) -> list[_Element]:
    """Shallow layers first, so a batch of shallow channels stops its forward pass early."""
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return sorted(elements, key=lambda el: (order[el.layer], el.channel))


def _is_dead(start: float, final: float) -> bool:
    """Nothing the optimizer did raised the channel: the report shows a note, not a grey square."""
    return abs(final) <= DEAD_ACTIVATION or final <= start


def _check_channels(opt: "_Optimizer", elements: list[_Element]) -> None:
    counts = opt.channel_counts(sorted({el.layer for el in elements}))
    for el in elements:
        n = counts[el.layer]
        if not 0 <= el.channel < n:
            raise UsageError(f"channel {el.channel} is out of range for layer '{el.layer}', which has {n} "
                             f"channels; use a channel from 0 to {n - 1}")


class _Optimizer:
    """One model's render loop: parameterize a batch, optimize it, measure and quantize the result."""

    def __init__(self, model: nn.Module, settings: dict, dev: torch.device):
        self.model, self.dev = model, dev
        self.recipe, self.steps, self.size = settings["recipe"], settings["steps"], settings["size"]
        self.gray = settings["grayscale"]
        self.bf16 = settings["precision"] == "bf16"
        self.px = settings["input_size"] / 224     # Lucid's pixel amounts are for 224 px models

    def channel_counts(self, layers: list[str]) -> dict[str, int]:
        with _capture(self.model, layers) as forward, torch.no_grad():
            feats = forward(torch.full((1, 3, self.size, self.size), 0.5, device=self.dev))
        return {name: f.shape[1] for name, f in feats.items()}

    def run(self, elements: list[_Element], bar, diverse: bool = False) -> _Result:
        layers = sorted({el.layer for el in elements})
        params, image_f = self._parameterize(elements)
        objective = _objective(elements, diverse)
        step = self._lucid_step(params) if self.recipe == "lucid" else self._raw_step(params)
        losses = [[] for _ in elements]
        gens = [torch.Generator().manual_seed(el.seed) for el in elements]
        with _capture(self.model, layers) as forward:
            start = acts = self._activations(forward, image_f().detach(), elements)
            for i in range(self.steps):
                redirect = i < PASSTHROUGH_STEPS or min(acts) <= DEAD_ACTIVATION
                with _relu_passthrough(self.model) if redirect else nullcontext():
                    image = image_f()
                    if self.recipe == "lucid":
                        image = _transform(image, gens, self.px)
                    feats = self._forward(forward, image)
                    loss = objective(feats.__getitem__)
                    loss.backward()
                step()
                acts = _channel_means(feats, elements).tolist()
                for k, act in enumerate(acts):
                    losses[k].append(-act)
                bar.update(1)
            images = _to_uint8(image_f().detach())
            final = self._activations(forward, torch.from_numpy(images).to(self.dev).permute(0, 3, 1, 2) / 255,
                                      elements)
        return _Result(images=images, start=start, final=final, losses=losses)

    def _forward(self, forward, image: torch.Tensor) -> dict:
        """The model part in channels-last (on CPU, ~15% faster here) and, where native, bf16;
        the parameterization, transforms and objective stay fp32."""
        if self.dev.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return forward(image)

    def _activations(self, forward, image: torch.Tensor, elements) -> list[float]:
        with torch.no_grad():
            return _channel_means(self._forward(forward, image), elements).tolist()

    def _parameterize(self, elements: list[_Element]):
        """One lucent image per element, each from its own seed; returns (params, batch image fn)."""
        channels = 1 if self.gray else 3
        shape = [1, channels, self.size, self.size]
        parts = []
        with _lucent_device(self.dev):
            for el in elements:
                torch.default_generator.manual_seed(el.seed)
                if self.recipe == "lucid":
                    parts.append(spatial.fft_image(shape))
                else:
                    parts.append(spatial.pixel_image(shape, sd=RAW_NOISE))
        params = [p for ps, _ in parts for p in ps]
        fns = [fn for _, fn in parts]
        to_rgb = _lucid_rgb if self.recipe == "lucid" else _raw_rgb
        return params, lambda: to_rgb(torch.cat([fn() for fn in fns]), self.gray)

    def _lucid_step(self, params):
        adam = torch.optim.Adam(params, lr=LUCID_LR)

        def step():
            adam.step()
            adam.zero_grad(set_to_none=True)
        return step

    def _raw_step(self, params):
        """Normalized L2 ascent on each image (the loss is minus the activation), clamped to [0, 1]."""
        numel = params[0][0].numel()
        rate = RAW_TRAVEL / self.steps * math.sqrt(numel)

        @torch.no_grad()
        def step():
            for p in params:
                p -= rate * p.grad / p.grad.norm().clamp_min(1e-12)
                p.clamp_(-0.5, 0.5)
                p.grad = None
        return step


def _objective(elements: list[_Element], diverse: bool) -> objectives.Objective:
    """Each element maximizes its own channel; a diversity batch (one channel throughout) uses
    lucent's README objective, the batch-mean channel minus the weighted diversity term."""
    if diverse:
        el = elements[0]
        return objectives.channel(el.layer, el.channel) - DIVERSITY_WEIGHT * objectives.diversity(el.layer)
    return objectives.Objective.sum([objectives.channel(el.layer, el.channel, batch=i)
                                     for i, el in enumerate(elements)])


def _channel_means(feats: dict, elements: list[_Element]) -> torch.Tensor:
    """Each element's activation: the spatial mean of its channel map (what objectives.channel raises)."""
    return torch.stack([feats[el.layer][i, el.channel].mean() for i, el in enumerate(elements)]).detach()


def _lucid_rgb(t: torch.Tensor, gray: bool) -> torch.Tensor:
    """lucent's colour decorrelation and sigmoid, on the image's own device (lucent's picks cuda:0)."""
    if gray:
        return torch.sigmoid(t).expand(-1, 3, -1, -1)
    m = torch.as_tensor(color.color_correlation_normalized, device=t.device)
    return torch.sigmoid(torch.einsum("bchw,dc->bdhw", t, m))


def _raw_rgb(t: torch.Tensor, gray: bool) -> torch.Tensor:
    return (t + 0.5).expand(-1, 3, -1, -1) if gray else t + 0.5


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@contextmanager
def _lucent_device(dev: torch.device):
    """lucent's ``spatial`` module puts new tensors on cuda:0 whenever CUDA exists; use ours."""
    with mock.patch.object(spatial, "device", dev):
        yield


def _transform(images: torch.Tensor, gens: list[torch.Generator], px: float) -> torch.Tensor:
    """Lucid's transformation robustness as one affine warp per image, each with its own draw:
    grey padding, jitter, scale and rotation, so every channel sees different views each step."""
    n, c, size, _ = images.shape
    pad = max(1, round(PAD_PX * px))
    out = size + 2 * pad
    theta = torch.stack([_affine(g, size, out, px) for g in gens]).to(images.device)
    grid = F.affine_grid(theta, [n, c, out, out], align_corners=False)
    return F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


def _affine(gen: torch.Generator, size: int, out: int, px: float) -> torch.Tensor:
    """The 2x3 matrix mapping output coordinates to the source image (normalized, align_corners=False)."""
    u = torch.rand(4, generator=gen, dtype=torch.float64) * 2 - 1
    scale = 1 + SCALE_RANGE * u[0]
    angle = math.radians(ROTATE_DEG) * u[1]
    shift = JITTER_PX * px * u[2:] * 2 / size          # pixels -> normalized source units
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, sin]), torch.stack([-sin, cos])])
    linear = rot * (out / size) / scale
    return torch.cat([linear, (-rot @ shift / scale)[:, None]], dim=1).float()


# --------------------------------------------------------------------------- model state

@contextmanager
def _render_mode(model: nn.Module, channels_last: bool):
    """Eval mode, frozen weights and (on CPU) channels-last conv weights for the render, then
    every flag and the original weight tensors themselves put back."""
    grads = [(p, p.requires_grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    weights = [(p, p.data) for p in model.parameters() if channels_last and p.dim() == 4]
    model.eval().requires_grad_(False)
    for p, data in weights:
        p.data = data.contiguous(memory_format=torch.channels_last)
    try:
        yield
    finally:
        for p, data in weights:
            p.data = data
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


@contextmanager
def _capture(model: nn.Module, layers: list[str]):
    """Yield ``forward(x) -> {layer: activation}`` that stops once every target layer has run.

    Outputs are cloned (in fp32): an in-place ReLU after a hooked layer would change them.
    A module called twice per forward (torchvision's shared ``relu``) counts at its first call.
    """
    feats: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor) or output.dim() < 2:
                raise UsageError(f"layer '{name}' does not output an (N, C, ...) tensor; "
                                 "pick a conv or block layer")
            if name not in feats:
                feats[name] = output.to(torch.float32, copy=True)
            if len(feats) == len(layers):
                raise _StopForward
        return hook

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats.clear()
        try:
            model(x)
        except _StopForward:
            return dict(feats)
        missing = sorted(set(layers) - set(feats))
        raise UsageError(f"layer(s) {', '.join(missing)} never run in the model's forward pass; "
                         "pick layers the model uses")

    handles = [model.get_submodule(name).register_forward_hook(hook_for(name)) for name in layers]
    try:
        yield forward
    finally:
        for handle in handles:
            handle.remove()


class _PassthroughReLU(torch.autograd.Function):
    """ReLU whose gradient also reaches negative inputs, but only where it would raise them and
    only for images whose ordinary ReLU gradient is zero (Lucid's redirected ReLU)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x > 0, grad, 0)
        blocked = ~relu_grad.any(dim=tuple(range(1, x.dim())))
        if not blocked.any():
            return relu_grad
        redirected = torch.where((x < 0) & (grad > 0), 0, grad)
        return torch.where(blocked.view(-1, *[1] * (x.dim() - 1)), redirected, relu_grad)


@contextmanager
def _relu_passthrough(model: nn.Module):
    """Swap every ``nn.ReLU``'s forward for the pass-through one; the modules themselves stay."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    saved = [(m, m.__dict__["forward"]) for m in relus if "forward" in m.__dict__]
    for m in relus:
        m.forward = _PassthroughReLU.apply
    try:
        yield
    finally:
        for m in relus:
            del m.forward
        for m, forward in saved:
            m.forward = forward
