"""How the shards of one run become the whole's: the merges rank 0 runs under torchrun.

Every merge takes the parts in rank order (= image order) and sums counts and sums, never means;
one part is returned as it is, so a single process keeps its numbers bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnviz.common.names import MODELS
from rnnviz.results.parts import ByAttack, Curve, Measured
from rnnviz.sweep.accumulators import merged
from rnnviz.sweep.analysis import ModelAnalysis, concat_attacks
from rnnviz.sweep.cross import merge_cross


def merge_measured(by_attack: ByAttack, side: list[tuple[Any, Curve | None]], counts: list, cross: list) -> Measured:
    """The (merged) attack, and the transfer + curve, patching and cross-model parts of every rank -> the whole's."""
    return Measured(
        by_attack,
        merge_transfer([s[0] for s in side]),
        merge_curve([s[1] for s in side]),
        merge_patch_counts(counts),
        merge_cross(cross),
    )


def merge_analyses(shards: list[dict[str, dict[str, ModelAnalysis]]]) -> dict[str, dict[str, ModelAnalysis]]:
    """attack -> model -> analysis of every shard (rank order = image order) -> the whole's.
    One shard is returned as it is, so a single process keeps its numbers bit for bit."""
    if len(shards) == 1:
        return shards[0]
    attacks = list(shards[0])
    out: dict[str, dict[str, ModelAnalysis]] = {a: {} for a in attacks}
    for m in MODELS:
        whole = concat_attacks([{a: shard[a][m] for a in attacks} for shard in shards])
        for a in attacks:
            out[a][m] = whole[a]
    return out


def merge_transfer(parts: list[Any]) -> dict | None:
    """(source, target) -> TransferCounts of every shard, summed in rank order."""
    if parts[0] is None or len(parts) == 1:
        return parts[0]
    return {pair: merged([part[pair] for part in parts]) for pair in parts[0]}


def merge_curve(parts: list) -> tuple[list[float], dict[str, np.ndarray]] | None:
    """The FGSM curve's counts of every shard, summed."""
    if parts[0] is None:
        return None
    grid = parts[0][0]
    return grid, {m: sum((p[1][m] for p in parts), np.zeros(len(grid), dtype=np.int64)) for m in MODELS}


def merge_strong(parts: list) -> dict | None:
    """model -> the strong evaluation's counts of every shard, added."""
    if not parts or parts[0] is None:
        return None
    return {m: merged([part[m] for part in parts]) for m in parts[0]}


def merge_patch_counts(parts: list) -> dict | None:
    """model -> eps index -> PatchCounts of every shard, merged in rank order."""
    if parts[0] is None or len(parts) == 1:
        return parts[0]
    return {m: {e: merged([part[m][e] for part in parts]) for e in parts[0][m]} for m in parts[0]}
