"""The exemplar pool's stage: the cards' clean exemplars from every class of the source.

``rnnviz.pipeline.load`` builds the pool (``rnnviz.data.pool``) beside the analysed images; ``pool_stage``
streams this rank's shard of it through a clean forward pass of each model into a bounded top-n,
and ``merge_pool`` folds the ranks' parts (order-free: ties go to the smaller global index). Nothing
here touches a measurement: the sweep's exemplars stay as they are, the cards merge the pool in.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS
from rnnviz.models.loading import LoadedModel
from rnnviz.pipeline.load import Job
from rnnviz.pipeline.memo import measure
from rnnviz.sweep.accumulators import merged
from rnnviz.sweep.exemplars import TopExemplars, clean_exemplars

PoolExemplars = dict[str, TopExemplars]  # model -> the pool's clean top-n


def pool_stage(job: Job) -> PoolExemplars | None:
    """This rank's shard of the pool, one clean pass of each model: the clean top-n per channel."""
    pool, cfg, ctx = job.pool, job.work, job.ctx
    if pool is None:
        return None

    def clean_pass(models: dict[str, LoadedModel]) -> PoolExemplars:
        out = {}
        for m in models:
            shard = (ctx.rank, ctx.world)
            batches = ((b.start, b.images) for b in pool.stream.batches(cfg.batch_size, cfg.workers, shard))
            out[m] = clean_exemplars(
                models[m].module, batches, list(cfg.layers or []), cfg.exemplars, cfg.eps, pool.offset, cfg.device
            )
        return out

    return measure(job.memo, "pool", cfg, range(ctx.rank, ctx.world), job.models, clean_pass)


def merge_pool(parts: list[PoolExemplars | None]) -> PoolExemplars | None:
    """Every rank's pool top-n -> the whole pool's (the same lists one process keeps)."""
    if not parts or parts[0] is None:
        return None
    return {m: merged([p[m] for p in parts if p is not None]) for m in MODELS}
