"""How a job's images are cut between ranks: the one shard rule, torch-free.

Both the image stream (``rnnviz.data.stream``: which files a rank checks and decodes) and the
process group (``rnnviz.sweep.distributed``: which images a rank measures) cut with it, so a rank's
files and its measurements are always the same block.
"""

from __future__ import annotations


def shard(n: int, rank: int, world: int) -> range:
    """The contiguous indices of ``rank`` in ``range(n)``: ``np.array_split`` sizes (the first
    ``n % world`` ranks get one more), every index in exactly one shard, no padding and no repeats
    (unlike ``DistributedSampler``, whose padding would count some images twice)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a world of {world}: need 0 <= rank < world")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))
