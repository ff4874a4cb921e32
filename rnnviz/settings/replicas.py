"""Further model pairs (``--replicate``): another training seed of the pair, measured beside it."""

from __future__ import annotations

from rnnviz.common.errors import UsageError

MAX_REPLICAS = 4  # each further pair costs one more sweep of both models


def replicate_pairs(specs: list[str] | None) -> list[tuple[str, str]]:
    """``--replicate STD,ROB[,STD,ROB...]`` -> (standard spec, robust spec) pairs, in the order given."""
    specs = specs or []
    if len(specs) % 2 or len(specs) > 2 * MAX_REPLICAS:
        raise UsageError(
            f"--replicate lists {len(specs)} model specs; give 1 to {MAX_REPLICAS} pairs as STANDARD,ROBUST, "
            "e.g. builtin:fashion-standard-seed1,builtin:fashion-robust-seed1"
        )
    return list(zip(specs[::2], specs[1::2]))
