"""Forward hooks on named layers: the one place rnnviz registers them.

Every stage that needs a layer's output goes through ``LayerHooks`` (as pytorch-grad-cam serves
all its methods from one hook class): the attack sweep records clean and adversarial outputs,
feature visualization records with gradients and stops the forward pass after the deepest
target, and patching replaces chosen channels with given values. The hooks are removed when
the ``with`` block ends, also on error, so a model leaves every stage as it came.

A layer is named by its module path (``layer3.1``). Outputs are recorded channel first, (N, C, ...):
conv outputs as they are; a Vision Transformer's tokens (N, T, D) as (N, D, T) and a Swin stage's
(N, H, W, C) as (N, C, H, W), the layout of each layer coming from ``architectures.layout``.
A module called twice in one forward pass (torchvision's shared ``relu``) counts at its first call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from rnnviz.common.errors import UsageError
from rnnviz.models.architectures import channel_first, default_layers, layout


class StopForward(Exception):
    """Raised once every recorded layer has run: nothing after them is needed."""


class LayerHooks:
    """Record (and optionally replace channels of) the outputs of ``layers`` during forward passes.

    Args:
        model: the network; ``model.get_submodule(name)`` must find every layer.
        layers: module paths whose outputs are recorded.
        detach: record without the autograd graph (measurements) or with it (optimization).
        dtype: record in this dtype (e.g. fp32 under bf16 autocast); ``None`` keeps the output's.
        stop: end the forward pass as soon as every layer has been recorded (see ``run``).
        layouts: each layer's output layout (``"NCHW"``, ``"NTD"``, ``"NHWC"``); by default
            ``architectures.layout`` of the model, which keeps conv outputs untouched.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: list[str],
        *,
        detach: bool = True,
        dtype: torch.dtype | None = None,
        stop: bool = False,
        layouts: dict[str, str] | None = None,
    ):
        self.model, self.layers = model, list(dict.fromkeys(layers))
        self.layouts = dict(layouts or {})
        self.detach, self.dtype, self.stop = detach, dtype, stop
        self.outputs: dict[str, torch.Tensor] = {}
        self.recording = True
        self._replace: dict[str, StackedChannels] = {}
        self._handles: list = []

    def __enter__(self) -> "LayerHooks":
        try:
            for name in self.layers:
                module = self.model.get_submodule(name)
                self.layouts.setdefault(name, layout(self.model, name))
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.outputs = {}

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor) or output.dim() < 2:
                raise UsageError(f"layer '{name}' does not output an (N, C, ...) tensor; pick a conv or block layer")
            form = self.layouts[name]
            if name in self._replace:
                output = self._replace[name].applied(output, form)
            if self.recording and name not in self.outputs:
                kept = channel_first(output.detach() if self.detach else output, form)
                self.outputs[name] = kept.to(self.dtype or kept.dtype, copy=True)
                if self.stop and len(self.outputs) == len(self.layers):
                    raise StopForward
            return output if name in self._replace else None

        return hook

    def take(self) -> dict[str, torch.Tensor]:
        """The outputs recorded since the last ``take``; the hooks forget them."""
        outputs, self.outputs = self.outputs, {}
        return outputs

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One forward pass of ``x``; returns every layer's output (stopping early if ``stop``)."""
        self.outputs = {}
        try:
            self.model(x)
        except StopForward:
            pass
        missing = [name for name in self.layers if name not in self.outputs]
        if missing and self.recording:
            raise UsageError(
                f"layer(s) {', '.join(missing)} never run in the model's forward pass; pick layers the model uses"
            )
        return self.take()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No recording inside (PGD's inner steps are not measurements)."""
        self.recording = False
        try:
            yield
        finally:
            self.recording = True

    @contextmanager
    def replacing(self, values: Mapping[str, StackedChannels]) -> Iterator[None]:
        """Inside, each hooked layer in ``values`` has the channels its ``StackedChannels`` names taken
        from that one's ``source`` (e.g. the layer's clean activations for the same images)."""
        unknown = sorted(set(values) - set(self.layers))
        if unknown:
            raise ValueError(f"cannot replace un-hooked layer(s): {', '.join(unknown)}")
        self._replace = dict(values)
        try:
            yield
        finally:
            self._replace = {}


@dataclass(frozen=True)
class StackedChannels:
    """Channels to replace in a batch that stacks copies of the ``n`` images of ``source`` (n, C, ...),
    copy k taking its own channels from ``source`` (patching's draws in one pass); one copy is the
    plain case, the same channels for every image of the batch.

    Only the replaced channels are written (gathered (row, channel) pairs), so the cost follows the
    number of patched channels, not the size of the stacked batch as a per-image mask's would.
    """

    source: torch.Tensor
    rows: torch.Tensor  # (P,) row of the stacked batch
    images: torch.Tensor  # (P,) its image in ``source``
    channels: torch.Tensor  # (P,) the channel replaced there

    @classmethod
    def of(cls, source: torch.Tensor, per_copy: list[list[int]]) -> "StackedChannels":
        """``per_copy[k]``: the channels copy k takes from ``source`` (may be empty)."""
        n, device = len(source), source.device
        copy = torch.tensor([k for k, chs in enumerate(per_copy) for _ in chs], dtype=torch.long, device=device)
        chans = torch.tensor([c for chs in per_copy for c in chs], dtype=torch.long, device=device)
        image = torch.arange(n, device=device)
        return cls(
            source,
            rows=(copy[:, None] * n + image[None, :]).flatten(),
            images=image.repeat(len(chans)),
            channels=chans[:, None].expand(-1, n).flatten(),
        )

    def applied(self, output: torch.Tensor, form: str) -> torch.Tensor:
        patched = output.clone()
        channel_first(patched, form)[self.rows, self.channels] = self.source[self.images, self.channels].to(
            output.dtype
        )
        return patched


def channel_mean(act: torch.Tensor) -> torch.Tensor:
    """Per image, per channel spatial mean -> (N, C): a channel's value, as an objective sees it."""
    return act.flatten(2).mean(2) if act.dim() > 2 else act


def channel_counts(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, int]:
    """How many channels each layer outputs for input ``x`` (one no-grad forward, stopped early)."""
    with torch.no_grad(), LayerHooks(model, layers, stop=True) as hooks:
        return {name: out.shape[1] for name, out in hooks.run(x).items()}


def check_layers(module: nn.Module, layers: list[str]) -> list[str]:
    """Every layer name must be a module path; a bad one gets the defaults and valid names listed."""
    known = dict(module.named_modules())
    for layer in layers:
        if not layer or layer not in known:
            defaults = default_layers(module)
            names = [n for n in known if n and n.count(".") <= 2 and not n.startswith("input_normalize")]
            names = list(dict.fromkeys([*defaults, *names]))
            raise UsageError(
                f"unknown layer '{layer}'; the defaults for this {type(module).__name__} are "
                f"{', '.join(defaults)}; valid names include: {', '.join(names[:24])}"
                f"{' ...' if len(names) > 24 else ''} (any module path)"
            )
    return layers
