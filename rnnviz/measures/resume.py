"""Patched forward passes that resume at the first patched layer instead of starting over.

Every patched set re-ran the whole network on the adversarial batch, although everything before
the first patched layer is the same for all sets. Here the model's forward is traced once with
torch.fx (as ``torchvision.models.feature_extraction`` does), with the hooked layers kept as
leaf calls so ``LayerHooks`` still records and replaces their outputs. A patched pass then runs
the graph once on the unrepeated batch up to the layer, keeps the values still needed after it
(in a residual net: the block input *and* the skip branch), repeats them once per set and runs
only the rest. fx rather than caching a top-level child's input: it needs no assumption that
``forward`` is a sequence of children, so every family that traces is served by the same code.

A model that does not trace, a root with hooks the trace cannot see (other than forward
pre-hooks, which are applied by hand), or a graph whose live values are not batch-first tensors
falls back to the full forward pass. Each resume point is checked once against the full forward
pass on the first batch (same logits within float rounding) before it is used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

_CHECK_IMAGES = 2  # images the one-time check of a resume point runs on
_CHECK_TOLERANCE = 1e-4  # resumed and full logits agree to float rounding (batch-size-dependent kernels)


class _LayerLeaves(fx.Tracer):
    """The default tracer, with every hooked layer one opaque call (its hooks fire as in eager mode)."""

    def __init__(self, layers: list[str]):
        super().__init__()
        self.layers = set(layers)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.layers or super().is_leaf_module(m, module_qualified_name)


class Resumable:
    """``model``'s traced graph, with for each hooked layer the node where a pass can resume."""

    def __init__(self, model: nn.Module, graph: fx.Graph, layers: list[str]):
        self.model, self.nodes = model, list(graph.nodes)
        self.interpreter = fx.Interpreter(model, garbage_collect_values=False, graph=graph)
        position = {node: i for i, node in enumerate(self.nodes)}
        self.last_use = {node: max((position[u] for u in node.users), default=i) for i, node in enumerate(self.nodes)}
        self.batch = _depends_on_input(self.nodes)
        self.start: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            if node.op != "call_module":
                continue
            for layer in layers:
                if layer == node.target or layer.startswith(f"{node.target}."):
                    self.start.setdefault(layer, i)
        self.checked: dict[int, bool] = {}

    @classmethod
    def of(cls, model: nn.Module, layers: list[str]) -> Resumable | None:
        """The model split at its hooked layers, or None where a resumed pass cannot be trusted."""
        if model._forward_hooks or model._forward_pre_hooks_with_kwargs or model._forward_hooks_with_kwargs:
            return None
        try:
            graph = _LayerLeaves(layers).trace(model)
        except Exception:  # noqa: BLE001 - any trace failure means: use the full forward pass
            return None
        if sum(node.op == "placeholder" for node in graph.nodes) != 1:
            return None
        return cls(model, graph, layers)

    def start_of(self, layers: list[str]) -> int | None:
        """The node where a pass patching ``layers`` resumes (the earliest of them), if known."""
        points = [self.start.get(layer) for layer in layers]
        return None if not points or None in points else min(p for p in points if p is not None)

    def prefix(self, x: torch.Tensor, points: set[int]) -> dict[int, dict[fx.Node, Any]]:
        """Run the graph on ``x`` up to each of ``points``: the values still needed at each one."""
        x = _root_pre_hooks(self.model, x)
        env: dict[fx.Node, Any] = {}
        snapshots: dict[int, dict[fx.Node, Any]] = {}
        for i, node in enumerate(self.nodes[: max(points) + 1]):
            if i in points:
                live = {n: env[n] for n in env if self.last_use[n] >= i}
                if all(n not in self.batch or _batch_first(v, len(x)) for n, v in live.items()):
                    snapshots[i] = live
            env[node] = x if node.op == "placeholder" else self._run(node, env)
            for n in [n for n in env if self.last_use[n] <= i]:
                del env[n]
        return snapshots

    def finish(self, snapshot: dict[fx.Node, Any], i: int, copies: int) -> torch.Tensor:
        """The graph from node ``i`` on, its batch-dependent inputs repeated ``copies`` times."""
        env = {n: _repeat(v, copies) if n in self.batch else v for n, v in snapshot.items()}
        for k, node in enumerate(self.nodes[i:], start=i):
            if node.op == "output":
                return self._run(node, env)
            env[node] = self._run(node, env)
            for n in [n for n in env if self.last_use[n] <= k]:
                del env[n]
        raise AssertionError("a traced graph ends with its output node")

    def trusted(self, i: int, snapshot: dict[fx.Node, Any], x: torch.Tensor) -> bool:
        """Once per resume point: does resuming reproduce the full forward pass on ``x``'s first
        images? (A few images: the check is a structural one, its cost should not show.)"""
        if i not in self.checked:
            k = min(_CHECK_IMAGES, len(x))
            few = {n: v[:k] if n in self.batch else v for n, v in snapshot.items()}
            full, resumed = self.model(x[:k]), self.finish(few, i, 1)
            same = isinstance(resumed, torch.Tensor) and resumed.shape == full.shape
            self.checked[i] = same and torch.allclose(resumed, full, rtol=_CHECK_TOLERANCE, atol=_CHECK_TOLERANCE)
        return self.checked[i]

    def _run(self, node: fx.Node, env: dict[fx.Node, Any]) -> Any:
        self.interpreter.env = env
        return self.interpreter.run_node(node)


def _depends_on_input(nodes: list[fx.Node]) -> set[fx.Node]:
    """Nodes whose value changes with the input batch (the rest, e.g. parameters, are shared)."""
    batch: set[fx.Node] = set()
    for node in nodes:
        if node.op == "placeholder" or any(n in batch for n in node.all_input_nodes):
            batch.add(node)
    return batch


def _batch_first(value: Any, n: int) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n


def _repeat(value: torch.Tensor, copies: int) -> torch.Tensor:
    if copies == 1:
        return value
    out = value.repeat(copies, *[1] * (value.dim() - 1))
    return out.contiguous(memory_format=torch.channels_last) if out.dim() == 4 else out


def _root_pre_hooks(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The root's forward pre-hooks (e.g. input normalization), which a trace of ``forward`` skips."""
    for hook in model._forward_pre_hooks.values():
        out = hook(model, (x,))
        if out is not None:
            x = out[0] if isinstance(out, tuple) else out
    return x
