"""The further pairs of ``--replicate`` (another training seed of the pair): loaded and checked with
the run's own models, then measured on the same images (issue 28).

Each further pair gets the run's sweep under the primary attack (without exemplars: no cards are
drawn for it) and, per model kind, the cross statistics of the run's model with the further pair's
model on the same clean images, which the seed-to-seed matching needs. A run without ``--replicate``
loads nothing here and runs no stage.
"""

from __future__ import annotations

from dataclasses import replace

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS
from rnnviz.models.loading import LoadedModel, load_model
from rnnviz.pipeline.load import Job, check_same_labels
from rnnviz.pipeline.shards import merge_analyses
from rnnviz.pipeline.stages import pixels, run_analysis, sweep_settings
from rnnviz.results.replication import Replica
from rnnviz.settings.config import Config
from rnnviz.settings.replicas import replicate_pairs
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.cross import CrossStats, cross_model_stats, merge_cross
from rnnviz.sweep.distributed import Distributed
from rnnviz.sweep.hooks import check_layers

Part = tuple[dict[str, dict[str, ModelAnalysis]], dict[str, CrossStats]]  # one pair on one shard


def load_replicas(cfg: Config, ctx: Distributed, run_models: dict[str, LoadedModel], layers: list[str]) -> list:
    """Each further pair's models, checked to share the run's label set and to have its layers.
    Rank 0 loads (and downloads) first; the others then load from the warm cache."""
    if not cfg.replicate:
        return []

    def load() -> list[dict[str, LoadedModel]]:
        pairs = []
        for specs in replicate_pairs(cfg.replicate):
            models = {
                m: load_model(spec, arch=cfg.arch, trust_pickle=cfg.trust_pickle, device=cfg.device)
                for m, spec in zip(MODELS, specs)
            }
            for m, spec in zip(MODELS, specs):
                check_same_labels(run_models["standard"], models[m])
                _check_replica_layers(spec, models[m], layers)
            pairs.append(models)
        return pairs

    first = ctx.stage("loading the further pairs", lambda: load() if ctx.is_main else None)
    return ctx.stage("loading the further pairs", lambda: first if first is not None else load())


def _check_replica_layers(spec: str, model: LoadedModel, layers: list[str]) -> None:
    """The run's layers, in a further pair's model: a miss names that model, not only the layer."""
    try:
        check_layers(model.module, layers)
    except UsageError as err:
        raise UsageError(
            f"--replicate model {spec} ({model.arch}) lacks a layer the run analyses: {err}; replicate with the "
            "run's architecture, or pass --layers that both architectures have"
        ) from None


def replica_stage(job: Job, progress: bool) -> list[Part]:
    """Every further pair on this shard: its sweep under the primary attack, and per model kind the
    cross statistics of the run's model (role "standard" in the sums) with the pair's (role "robust")."""
    cfg, layers = job.work, list(job.work.layers or [])
    settings = replace(sweep_settings(cfg, layers, first_index=job.span.start), exemplars=0)
    lead = replace(cfg, attack=[cfg.primary_attack])
    parts = []
    for models in job.replicas:
        analyses = run_analysis(lead, models, job.part, settings, progress, job.ctx.world)
        cross = {
            m: cross_model_stats(
                {"standard": job.models[m].module, "robust": models[m].module},
                pixels(job.part),
                layers,
                cfg.batch_size,
                cfg.device,
                job.span.start,
                job.part.labels,
            )
            for m in MODELS
        }
        parts.append((analyses, cross))
    return parts


def merge_replicas(job: Job, shards: list[list[Part]]) -> list[Replica]:
    """Every rank's parts (rank order = image order) -> each further pair's whole, as a ``Replica``."""
    out = []
    for i, models in enumerate(job.replicas):
        by_attack = merge_analyses([shard[i][0] for shard in shards])
        cross = {m: merge_cross([shard[i][1][m] for shard in shards]) for m in MODELS}
        out.append(
            Replica(
                models={m: models[m].describe() for m in MODELS},
                analyses=by_attack[job.work.primary_attack],
                cross={m: c for m, c in cross.items() if c is not None},
            )
        )
    return out
