"""Transfer: each model on the other model's adversarial images.

A model's own attack gives each model a different perturbation, so "the robust model's channels
move less" mixes the model with the input it was given. Here the images crafted on one model
(exactly the ones the sweep made: same gradient, same per-image random start) are shown to the
other, which measures accuracy and sigma of both models on identical inputs. Running sums only.

The images are recomputed, not reused: the sweep keeps adversarial images only for the report's
example indices (``ExampleKeeper``). Keeping all of them would cost N x n_eps x C x H x W floats
(2,000 ImageNet images x 6 eps at 224 px: 7.2 GB), against the sweep's memory, flat in N.
Recomputing costs the attack once more per source model: for FGSM one gradient pass per batch
(every eps reuses it); measured on the tiny test ResNets (128 images, 28 px, 3 eps, one thread)
about as much CPU time per image as the sweep of both models (12 ms each, issue 26).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rnnviz.sweep.attacks import input_gradient
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.passes import CleanBatch, adversarial, eval_mode, forward_no_grad
from rnnviz.sweep.sensitivity import SensitivityMeter
from rnnviz.sweep.settings import SweepSettings


@dataclass
class TransferCounts:
    """One (source, target) pair: the target's correct count and sigma per eps on source-crafted images."""

    correct: np.ndarray  # (n_eps,) int
    meters: list[SensitivityMeter]  # per eps: the target's channels, clean vs source-crafted
    n: int = 0
    layers: list[str] = field(default_factory=list)

    def sigma_mean(self, e: int) -> float | None:
        """Mean sigma over every channel of the analysed layers (None where nothing moved: eps = 0)."""
        channels = self.meters[e].channels()
        if not channels or self.meters[e].count == 0:
            return None
        return float(torch.cat(list(channels.values())).mean())

    def merge(self, other: "TransferCounts") -> "TransferCounts":
        self.correct += other.correct
        self.n += other.n
        for mine, theirs in zip(self.meters, other.meters):
            mine.merge(theirs)
        return self


def transfer(
    models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, settings: SweepSettings
) -> dict[tuple[str, str], TransferCounts]:
    """For every ordered pair of different models: the target evaluated on the source's adversarial images.

    Args:
        models: role -> network (both take RGB NCHW in [0, 1]).
        images, labels: the analysed set; settings: the sweep's (its attack, eps, seed, layers).
    Returns:
        ``(source, target) -> TransferCounts``.
    """
    s = settings
    pairs = [(src, tgt) for src in models for tgt in models if src != tgt]
    counts = {
        p: TransferCounts(np.zeros(len(s.eps), dtype=np.int64), [SensitivityMeter(list(s.layers)) for _ in s.eps])
        for p in pairs
    }
    with ExitStack() as stack:
        for module in models.values():
            stack.enter_context(eval_mode(module))
        hooks = {m: stack.enter_context(LayerHooks(module, list(s.layers))) for m, module in models.items()}
        for start in range(0, len(labels), s.batch_size):
            x = images[start : start + s.batch_size].to(s.device, memory_format=torch.channels_last)
            y = labels[start : start + s.batch_size].to(s.device)
            index = torch.arange(start, start + len(y)) + s.first_index
            grads: dict[str, torch.Tensor | None] = {}
            logits, clean = {}, {}
            for m, module in models.items():
                grads[m], logits[m] = (
                    input_gradient(module, x, y) if s.attack == "fgsm" else (None, forward_no_grad(module, x))
                )
                clean[m] = hooks[m].take()
            batches = {m: CleanBatch(x, y, index, grads[m]) for m in models}
            for (src, tgt), c in counts.items():
                c.n += len(y)
                for e, eps in enumerate(s.eps):
                    if eps == 0:
                        c.correct[e] += int((logits[tgt].argmax(1) == y).sum())
                        continue
                    x_adv = adversarial(models[src], hooks[src], batches[src], eps, s)
                    out = forward_no_grad(models[tgt], x_adv)
                    c.correct[e] += int((out.argmax(1) == y).sum())
                    c.meters[e].add(clean[tgt], hooks[tgt].take())
    return counts
