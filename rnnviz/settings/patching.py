"""The ``--patch`` ladder and how many channel sets it makes: one home for the engine's parse and the
renderer's bound on an untrusted folder's ``patching`` entries (torch-free, like all of settings)."""

from __future__ import annotations

from rnnviz.common.errors import UsageError

MAX_LADDER = 8  # channel counts in one --patch
MAX_K = 10_000  # channels in one patched set


def patch_ladder(text) -> tuple[int, ...]:
    """``--patch 1,3,10,30`` -> (1, 3, 10, 30); ``none`` -> () (no patching)."""
    if str(text).strip().lower() == "none":
        return ()
    try:
        ladder = tuple(sorted({int(t) for t in str(text).split(",")}))
    except ValueError:
        raise UsageError(f"--patch '{text}' is not a list of channel counts; write e.g. 1,3,10,30 or none") from None
    if not ladder or len(ladder) > MAX_LADDER or ladder[0] < 1 or ladder[-1] > MAX_K:
        raise UsageError(f"--patch '{text}': give 1 to {MAX_LADDER} channel counts from 1 to {MAX_K}, or none")
    return ladder


def most_sets(steps: int, draws: int, layers: int) -> int:
    """The most sets ``rnnviz.measures.patch_plan.plan`` makes at one eps: per ladder step the top-k by
    sigma, by excess and by the leading measure, its converse, and a random and a magnitude-matched
    control per draw; one set per layer."""
    return steps * (3 + 1 + 2 * draws) + layers
