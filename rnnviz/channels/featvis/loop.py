"""The optimization loop: one batch of images, each raising its own channel.

lucent's ``render_vis`` renders one channel per call, computes weight gradients and runs the
whole model; this loop batches channels, runs with frozen weights (see ``modelstate``) and
stops the forward pass after the deepest target layer (``LayerHooks(stop=True)``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnnviz.channels.featvis import modelstate, objectives, param, transforms
from rnnviz.channels.featvis.objectives import Element
from rnnviz.common.files import key_digest
from rnnviz.sweep.hooks import LayerHooks, channel_counts

LUCID_LR = 0.05
# ReLU gradient pass-through for the first steps, and after them while a channel is still flat
# (small raw-recipe steps need longer to leave zero); it changes nothing for a live channel.
PASSTHROUGH_STEPS = 16
RAW_TRAVEL = 0.5  # raw recipe: RMS pixel distance of all steps together
# (Engstrom et al.: 200 L2 steps of 1 on a 224 px image, ~0.5)
DEAD_ACTIVATION = 1e-6


def element_seed(*parts) -> int:
    """A 60-bit seed from any fields, so one channel's randomness ignores its batch neighbours."""
    return int(key_digest(parts=parts)[:15], 16)


@dataclass
class Result:
    images: np.ndarray  # uint8 (N, H, W, 3)
    start: list[float]
    final: list[float]
    losses: list[list[float]]


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
        self.gray = settings["grayscale"]
        self.bf16 = settings["precision"] == "bf16"
        self.px = settings["input_size"] / 224  # Lucid's pixel amounts are for 224 px models

    def channel_counts(self, layers: list[str]) -> dict[str, int]:
        return channel_counts(self.model, layers, torch.full((1, 3, self.size, self.size), 0.5, device=self.dev))

    def run(self, elements: list[Element], bar, diverse: bool = False) -> Result:
        layers = sorted({el.layer for el in elements})
        seeds = self._seed_batch(elements)
        params, image_f = param.images(
            [el.seed for el in elements], recipe=self.recipe, size=self.size, gray=self.gray, dev=self.dev, start=seeds
        )
        step = self._raw_step(params) if self.recipe == "raw" else self._lucid_step(params)
        losses: list[list[float]] = [[] for _ in elements]
        gens = [torch.Generator().manual_seed(el.seed) for el in elements]
        # With the autograd graph (the objective differentiates through it), in fp32 (under bf16
        # autocast the loss stays fp32), cloned (an in-place ReLU after a hooked layer would change it).
        with LayerHooks(self.model, layers, detach=False, dtype=torch.float32, stop=True) as hooks:
            start = acts = self._activations(hooks, image_f().detach(), elements)
            loss_f = self._loss(elements, diverse, start, seeds)
            for i in range(self.steps):
                redirect = i < PASSTHROUGH_STEPS or min(acts) <= DEAD_ACTIVATION
                with modelstate.relu_passthrough(self.model) if redirect else nullcontext():
                    image = image_f()
                    feats = self._forward(hooks, self._transform(image, gens))
                    loss = loss_f(feats, image)
                    loss.backward()
                step()
                acts = objectives.channel_means(feats, elements).tolist()
                for k, act in enumerate(acts):
                    losses[k].append(-act)
                bar.update(1)
            images = param.to_uint8(image_f().detach())
            final = self._activations(hooks, torch.from_numpy(images).to(self.dev).permute(0, 3, 1, 2) / 255, elements)
        return Result(images=images, start=start, final=final, losses=losses)

    def _seed_batch(self, elements: list[Element]) -> torch.Tensor | None:
        """accent: the batch's seed images, (N, 3, H, W) on the render's device; else None."""
        if self.recipe != "accent":
            return None
        return torch.stack([self.seed_images[(el.layer, el.channel)] for el in elements]).float().to(self.dev)

    def _loss(self, elements, diverse: bool, start: list[float], seeds: torch.Tensor | None):
        """``loss(feats, image)``: lucent's channel objectives, or accent's pull towards the seeds."""
        if self.recipe == "accent":
            assert seeds is not None
            return objectives.accent(elements, start, seeds)
        objective = objectives.objective(elements, diverse)
        return lambda feats, image: objective(feats.__getitem__)

    def _transform(self, image: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
        """What the model sees: Lucid's transforms, accent's light jitter, or raw's untouched image."""
        if self.recipe == "lucid":
            return transforms.transform(image, gens, self.px)
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

    def _activations(self, hooks: LayerHooks, image: torch.Tensor, elements) -> list[float]:
        with torch.no_grad():
            return objectives.channel_means(self._forward(hooks, image), elements).tolist()

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
