"""The optimization loop: one batch of images, each raising its own channel.

lucent's ``render_vis`` renders one channel per call, computes weight gradients and runs the
whole model; this loop batches channels, runs with frozen weights (see ``modelstate``) and
stops the forward pass after the deepest target layer (``LayerHooks(stop=True)``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.channels.featvis import modelstate, objectives, param, transforms
from rnnviz.channels.featvis.objectives import Element
from rnnviz.common.files import key_digest
from rnnviz.sweep.hooks import LayerHooks, channel_counts

LUCID_LR = 0.05
# ReLU gradient pass-through for the first steps, and after them while a channel is still flat
# (small raw-recipe steps need longer to leave zero); it changes nothing for a live channel.
PASSTHROUGH_STEPS = 16
# raw recipe: RMS pixel distance per step, Engstrom et al.'s 200 L2 steps of 1 on a 224 px image
# (~0.5 in all) spread over 64 steps; with a target the render stops once it gets there.
RAW_STEP_RMS = 0.5 / 64
DEAD_ACTIVATION = 1e-6
# Stopping. Every CHECK_EVERY steps each element's current image is quantized as its PNG will be
# and measured without transforms (what results.json records): it stops at its target ("target"),
# when that measure has not risen by PLATEAU_RISE of its target (or of itself, without a target)
# over PLATEAU_STEPS steps ("plateau"), or at the cap, the quality's step count ("cap").
CHECK_EVERY = 4
PLATEAU_STEPS = 64
PLATEAU_RISE = 0.01


def element_seed(*parts) -> int:
    """A 60-bit seed from any fields, so one channel's randomness ignores its batch neighbours."""
    return int(key_digest(parts=parts)[:15], 16)


@dataclass
class Result:
    images: np.ndarray  # uint8 (N, H, W, 3)
    start: list[float]
    final: list[float]  # measured in fp32 on ``images``, untransformed
    losses: list[list[float]]
    steps: list[int]  # optimization steps each element took
    stops: list[str]  # why it stopped, one of rnnviz.common.names.STOPS


@dataclass
class _Progress:
    """Where each element of a batch stands: the best measure so far and when it was reached,
    and, once it stopped, its image, measure, steps and reason."""

    targets: list[float | None]
    best: list[float] = field(default_factory=list)
    best_at: list[int] = field(default_factory=list)
    done: dict[int, tuple[np.ndarray, float, int, str]] = field(default_factory=dict)

    def __post_init__(self):
        self.best = [-math.inf] * len(self.targets)
        self.best_at = [0] * len(self.targets)

    def stop_reason(self, k: int, act: float, step: int) -> str | None:
        """Record element k's measure after ``step`` steps; the reason to stop it now, if any."""
        target = self.targets[k]
        if target is not None and act >= target:
            return "target"
        unit = abs(target) if target is not None else abs(self.best[k])
        if act > self.best[k] + PLATEAU_RISE * unit or not math.isfinite(self.best[k]):
            self.best[k], self.best_at[k] = act, step
        return "plateau" if step - self.best_at[k] >= PLATEAU_STEPS else None


class Optimizer:
    """One model's render loop: parameterize a batch, optimize it, measure and quantize the result."""

    def __init__(
        self,
        model: nn.Module,
        settings: dict,
        dev: torch.device,
        seed_images: dict[tuple[str, int], torch.Tensor] | None = None,
    ):
        self.model, self.dev = model, dev
        self.seed_images = seed_images or {}  # accent: (layer, channel) -> (3, H, W) in [0, 1]
        self.recipe, self.steps, self.size = settings["recipe"], settings["steps"], settings["size"]
        self.objective = settings.get("objective", "channel")
        self.gray = settings["grayscale"]
        self.bf16 = settings["precision"] == "bf16"
        self.px = settings["input_size"] / 224  # Lucid's pixel amounts are for 224 px models
        # a network built for one image size (torchvision's ViT records it) cannot take Lucid's padded image
        self.fixed_size = any(isinstance(getattr(m, "image_size", None), int) for m in model.modules())

    def channel_counts(self, layers: list[str]) -> dict[str, int]:
        return channel_counts(self.model, layers, torch.full((1, 3, self.size, self.size), 0.5, device=self.dev))

    def run(self, elements: list[Element], bar, diverse: bool = False, targets: list | None = None) -> Result:
        """Optimize the batch; each element stops on its own (target, plateau or cap) and from
        then on is left out of the batch, so its image no longer changes. A diversity batch
        (its elements push each other apart) always runs to the cap."""
        layers = sorted({el.layer for el in elements})
        seeds = self._seed_batch(elements)
        params, image_f = param.images(
            [el.seed for el in elements], recipe=self.recipe, size=self.size, gray=self.gray, dev=self.dev, start=seeds
        )
        step = self._raw_step(params) if self.recipe == "raw" else self._lucid_step(params)
        losses: list[list[float]] = [[] for _ in elements]
        gens = [torch.Generator().manual_seed(el.seed) for el in elements]
        progress = _Progress(list(targets) if targets and not diverse else [None] * len(elements))
        active = list(range(len(elements)))
        # With the autograd graph (the objective differentiates through it), in fp32 (under bf16
        # autocast the loss stays fp32), cloned (an in-place ReLU after a hooked layer would change it).
        with LayerHooks(self.model, layers, detach=False, dtype=torch.float32, stop=True) as hooks:
            start = self._measure(hooks, image_f(active).detach(), elements)
            acts, loss_f = list(start), None
            batch: list[Element] = []
            for i in range(self.steps):
                if len(batch) != len(active):  # the batch changed: its objective too
                    batch = [elements[k] for k in active]
                    loss_f = self._loss(batch, diverse, [start[k] for k in active], seeds, active)
                assert loss_f is not None
                redirect = i < PASSTHROUGH_STEPS or min(acts) <= DEAD_ACTIVATION
                with modelstate.relu_passthrough(self.model) if redirect else nullcontext():
                    image = image_f(active)
                    feats = self._forward(hooks, self._transform(image, [gens[k] for k in active]))
                    loss_f(feats, image).backward()
                step()
                acts = objectives.measure(feats, batch, self.objective).tolist()
                for k, act in zip(active, acts):
                    losses[k].append(-act)
                bar.update(1)
                if not diverse and ((i + 1) % CHECK_EVERY == 0 or i + 1 == self.steps):
                    before, active = active, self._check(hooks, image_f, elements, active, progress, i + 1)
                    acts = [a for k, a in zip(before, acts) if k in active]
                if not active:
                    break
            self._finish(hooks, image_f, elements, active, progress)
        bar.update(self.steps - max(s for _, _, s, _ in progress.done.values()))
        order = range(len(elements))
        return Result(
            images=np.stack([progress.done[k][0] for k in order]),
            start=start,
            final=[progress.done[k][1] for k in order],
            losses=losses,
            steps=[progress.done[k][2] for k in order],
            stops=[progress.done[k][3] for k in order],
        )

    def _check(self, hooks, image_f, elements, active: list[int], progress: _Progress, done: int) -> list[int]:
        """Measure the active elements as their PNGs will be; stop those that reached their target
        or plateaued, and return the ones that go on."""
        images = param.to_uint8(image_f(active).detach())
        acts = self._measure(hooks, self._from_uint8(images), [elements[k] for k in active])
        still = []
        for j, k in enumerate(active):
            reason = progress.stop_reason(k, acts[j], done)
            if reason is None:
                still.append(k)
            else:
                progress.done[k] = (images[j], acts[j], done, reason)
        return still

    def _finish(self, hooks, image_f, elements, active: list[int], progress: _Progress) -> None:
        """Elements still running when the cap is reached."""
        if not active:
            return
        images = param.to_uint8(image_f(active).detach())
        acts = self._measure(hooks, self._from_uint8(images), [elements[k] for k in active])
        for j, k in enumerate(active):
            progress.done[k] = (images[j], acts[j], self.steps, "cap")

    def _from_uint8(self, images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images).to(self.dev).permute(0, 3, 1, 2) / 255

    def _seed_batch(self, elements: list[Element]) -> torch.Tensor | None:
        """accent: the batch's seed images, (N, 3, H, W) on the render's device; else None."""
        if self.recipe != "accent":
            return None
        return torch.stack([self.seed_images[(el.layer, el.channel)] for el in elements]).float().to(self.dev)

    def _loss(self, elements, diverse: bool, start: list[float], seeds: torch.Tensor | None, active: list[int]):
        """``loss(feats, image)`` of the active elements: lucent's objectives, or accent's pull
        towards their seeds."""
        if self.recipe == "accent":
            assert seeds is not None
            return objectives.accent(elements, start, seeds[active])
        objective = objectives.objective(elements, diverse, self.objective)
        return lambda feats, image: objective(feats.__getitem__)

    def _transform(self, image: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
        """What the model sees: Lucid's transforms, accent's light jitter, or raw's untouched image."""
        if self.recipe == "lucid":
            seen = transforms.transform(image, gens, self.px)
            if self.fixed_size:  # back to the size it takes: the same view, resampled
                seen = F.interpolate(seen, size=image.shape[-2:], mode="bilinear", align_corners=False)
            return seen
        if self.recipe == "accent":
            return transforms.jitter(image, gens, self.px)
        return image

    def _forward(self, hooks: LayerHooks, image: torch.Tensor) -> dict:
        """The model part in channels-last (on CPU, ~15% faster here) and, where native, bf16;
        the parameterization, transforms and objective stay fp32."""
        if self.dev.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return hooks.run(image)

    def _measure(self, hooks: LayerHooks, image: torch.Tensor, elements) -> list[float]:
        """The elements' activations in fp32 whatever the render's precision: the numbers
        results.json records and a reader can recompute from the PNGs."""
        if self.dev.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            return objectives.measure(hooks.run(image), elements, self.objective).tolist()

    def _lucid_step(self, params: param.Params):
        adam = torch.optim.Adam([p for ps in params for p in ps], lr=LUCID_LR)

        def step():
            adam.step()  # an element out of the batch has no gradient: Adam leaves it as it is
            adam.zero_grad(set_to_none=True)

        return step

    def _raw_step(self, params: param.Params):
        """Normalized L2 ascent on each image (the loss is minus the activation), clamped to [0, 1]."""
        rate = RAW_STEP_RMS * math.sqrt(params[0][0].numel())

        @torch.no_grad()
        def step():
            for p in (p for ps in params for p in ps):
                if p.grad is None:  # out of the batch
                    continue
                p -= rate * p.grad / p.grad.norm().clamp_min(1e-12)
                p.clamp_(-0.5, 0.5)
                p.grad = None

        return step
