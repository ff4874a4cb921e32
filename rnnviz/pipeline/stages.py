"""The job's measuring stages, each a plain function of one shard of the images.

Each stage measures what it is given (all images in one process, a rank's shard under torchrun)
and returns accumulators whose shards merge (``rnnviz.pipeline.shards``); how the ranks exchange
them is ``rnnviz.pipeline.job``'s business, not a stage's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from rnnviz.channels.cards import CardImages, Remake, write_cards
from rnnviz.common.names import MODELS, NORMS, parse_channel_key
from rnnviz.data.images import ImageSet
from rnnviz.measures import patch_plan, patching, strong
from rnnviz.measures.curves import eps_grid, fgsm_curve
from rnnviz.measures.transfer import TransferCounts, transfer
from rnnviz.models.loading import LoadedModel, copy_signature, random_copy
from rnnviz.pipeline.load import Job, batch_note
from rnnviz.pipeline.memo import measure
from rnnviz.results.build import skipped_note
from rnnviz.results.parts import ByAttack, Curve, Findings, Measured, PatchCounts, Pictures, Run, find
from rnnviz.results.sample_images import choose_examples, write_examples
from rnnviz.settings.config import Config
from rnnviz.settings.patching import patch_ladder
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.apgd import FAST, VERSIONS
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.cross import CrossStats, cross_model_stats
from rnnviz.sweep.loop import analyze_attacks
from rnnviz.sweep.passes import Batching, NonFiniteOutput
from rnnviz.sweep.settings import SweepSettings

if TYPE_CHECKING:
    import torch


def pixels(images: ImageSet) -> torch.Tensor:
    """The engine's ``images``: a tensor, or a ``LazyImages`` view, which serves all the engine reads
    of one (``len``, slices, index lists), so it stands in for the tensor."""
    return cast("torch.Tensor", images.images)


def sweep_settings(
    cfg: Config,
    layers: list[str],
    examples: Sequence[int] = (),
    classes: Sequence[int] = (),
    first_index: int = 0,
) -> SweepSettings:
    """The engine's settings for ``cfg``: one object, shared by both models (``first_index``: the
    global index of the first image of this rank's shard)."""
    return SweepSettings(
        eps=cfg.eps,
        layers=layers,
        attack=cfg.primary_attack,
        pgd=pgd_settings(cfg),
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        examples=examples,
        neurons=[parse_channel_key(n) for n in cfg.neurons or []],
        device=cfg.device,
        bootstrap=cfg.bootstrap,
        noise=True,
        classes=classes,
        exemplars=cfg.exemplars,
        first_index=first_index,
    )


def pgd_settings(cfg: Config) -> PGDSettings:
    """The iterative attacks' settings: PGD's steps, and an analysis APGD's iterations and targets
    (those of ``--strong-attack``'s version; fast where it is off)."""
    return PGDSettings(cfg.pgd_steps, cfg.pgd_step_size, apgd=VERSIONS.get(cfg.strong_attack, FAST))


def attack_settings(job: Job) -> SweepSettings:
    """The attack stage's settings: the report's example images (those in this shard) are kept."""
    examples = choose_examples(job.images.labels, job.images.class_indices, job.cfg.n_examples)
    mine = [i - job.span.start for i in examples if i in job.span]
    return sweep_settings(job.work, list(job.work.layers or []), mine, job.images.class_indices, job.span.start)


def attack_stage(job: Job, progress: bool) -> ByAttack:
    """Every attack on both models, on this shard."""
    settings = attack_settings(job)

    def sweep(models: dict[str, LoadedModel]) -> dict[str, dict[str, ModelAnalysis]]:
        by_attack = run_analysis(job.work, models, job.part, settings, progress, job.ctx.world)
        return {m: {a: by_attack[a][m] for a in by_attack} for m in models}

    per_model = measure(job.memo, "attack", job.work, job.span, job.models, sweep)
    return {a: {m: per_model[m][a] for m in MODELS} for a in job.work.attack}


def side_stage(job: Job) -> tuple[dict[tuple[str, str], TransferCounts] | None, Curve | None]:
    """Transfer between the models and the FGSM curve, on this shard."""
    plain = sweep_settings(job.work, list(job.work.layers or []), first_index=job.span.start)
    return run_transfer(job.work, job.models, job.part, plain), fgsm_counts(job.work, job.models, job.part)


def cross_stage(job: Job) -> CrossStats:
    """Both models' clean activations on this shard's images: the sums channel matching and CKA need,
    with each model against a randomly initialised copy of its architecture (seeded from the run's
    seed; one copy serves both where the two share their build) as the CKA's baseline."""
    cfg = job.work
    modules: dict = {m: job.models[m].module for m in MODELS}
    copies: dict = {}
    for m in MODELS:
        build = copy_signature(job.models[m])
        if build not in copies:
            copies[build] = random_copy(job.models[m], cfg.seed, cfg.device)
        modules[f"random_{m}"] = copies[build]
    layers = list(cfg.layers or [])
    images = pixels(job.part)
    return cross_model_stats(modules, images, layers, cfg.batch_size, cfg.device, job.span.start, job.part.labels)


def patch_stage(job: Job, plans: dict | None) -> PatchCounts | None:
    """The patching counts of ``plans`` (rank 0's, from the merged analysis), on this shard."""
    layers = list(job.work.layers or [])
    settings = sweep_settings(job.work, layers, (), job.images.class_indices, job.span.start)
    if plans is None:
        return None
    return measure(
        job.memo,
        "patch",
        job.work,
        job.span,
        job.models,
        lambda models: patch_counts(job.work, models, job.part, plans, settings),
    )


def strong_right(cfg: Config, by_attack: ByAttack) -> dict[str, np.ndarray] | None:
    """model -> (n_eps, N) bool, right under every Linf analysis attack (from the merged sweep): where
    the strong evaluation starts. None where it does not run."""
    plan = strong.run_plan(cfg)
    if plan is None or strong.skipped(plan):
        return None
    return strong.analysis_correct({m: {a: by_attack[a][m] for a in plan.analysis} for m in MODELS}, plan.analysis)


def strong_stage(
    job: Job, right: dict[str, np.ndarray] | None, progress: bool
) -> dict[str, strong.StrongCounts] | None:
    """APGD-CE then APGD-T on this shard's images each model still gets right (``right``: the whole
    set's verdicts, rank 0's, of which this shard takes its span)."""
    plan = strong.run_plan(job.work)
    if plan is None or right is None:
        return None
    cfg, span = job.work, job.span

    def evaluate(models: dict[str, LoadedModel]) -> dict[str, strong.StrongCounts]:
        return {
            m: strong.evaluate(
                models[m].module,
                pixels(job.part),
                job.part.labels,
                right[m][:, span.start : span.stop],
                plan,
                Batching(cfg.batch_size, cfg.device, span.start),
                progress=f"APGD {m}" if progress else None,
            )
            for m in models
        }

    return measure(job.memo, "strong", cfg, span, {m: job.models[m] for m in right}, evaluate)


def run_analysis(
    cfg: Config,
    models: dict[str, LoadedModel],
    images: ImageSet,
    settings: SweepSettings,
    progress: bool = True,
    ranks: int = 1,
) -> dict[str, dict[str, ModelAnalysis]]:
    """Attack both models with every attack of ``cfg`` (attack -> model -> analysis); a NaN names
    the model that produced it. ``images`` is one of ``ranks`` shards (the bar shows the job's rate)."""
    by_attack: dict[str, dict[str, ModelAnalysis]] = {a: {} for a in cfg.attack}
    for m in models:
        try:
            per = analyze_attacks(
                models[m].module,
                pixels(images),
                images.labels,
                settings,
                cfg.attack,
                progress=f"{'+'.join(cfg.attack).upper()} {m}" if progress else None,
                ranks=ranks,
            )
        except NonFiniteOutput as err:
            raise NonFiniteOutput(f"the {m} model ({models[m].name}) {err}") from None
        for a in cfg.attack:
            by_attack[a][m] = per[a]
    return by_attack


def run_transfer(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet, settings: SweepSettings
) -> dict[tuple[str, str], TransferCounts] | None:
    """Each model on the other's adversarial images (the primary attack); None with ``--no-transfer``."""
    if not cfg.transfer:
        return None
    return transfer({m: models[m].module for m in MODELS}, pixels(images), images.labels, settings)


def fgsm_counts(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet
) -> tuple[list[float], dict[str, np.ndarray]] | None:
    """The FGSM curve's grid and its correct counts per model (counts of shards add up)."""
    grid = eps_grid(cfg.eps, cfg.fgsm_grid) if any(NORMS[a] == "linf" for a in cfg.attack) else []
    if not grid:
        return None
    return grid, {
        m: fgsm_curve(models[m].module, pixels(images), images.labels, grid, cfg.batch_size, cfg.device) for m in MODELS
    }


def patch_plans(cfg: Config, analyses: dict[str, ModelAnalysis]) -> dict[str, dict] | None:
    """Per model, eps index -> the channel sets to patch (from the merged analysis); None when off."""
    ladder = patch_ladder(cfg.patch)
    if not ladder:
        return None
    return {
        m: {
            e: patch_plan.plan(analyses[m], e, ladder, cfg.patch_draws, cfg.seed, cfg.rank_by)
            for e, eps in enumerate(cfg.eps)
            if eps > 0
        }
        for m in MODELS
    }


def patch_counts(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet, plans: dict, settings: SweepSettings
) -> dict[str, dict[int, patching.PatchCounts]]:
    """Per model, eps index -> the patching counts over ``images`` (counts of shards merge)."""
    return {
        m: patching.patch_sweep(models[m].module, pixels(images), images.labels, settings, plans[m], cfg.patch_share)
        for m in models
    }


def findings(job: Job, measured: Measured) -> Findings:
    """The rankings, matching and shown channels of the merged measurement (rank 0)."""
    labels = job.models["standard"].labels
    return find(job.resolved, measured, [labels.display(i) for i in job.images.class_indices])


def write_pictures(job: Job, out: Path, measured: Measured, found: Findings, timings: dict) -> Pictures:
    """The example images and the channel cards (rank 0), before the renders, which start from the cards."""
    cfg, images = job.work, job.images
    analyses = measured.by_attack[cfg.primary_attack]
    examples = write_examples(out, job.resolved, images, analyses, job.models["standard"].labels)
    t = time.perf_counter()
    source = CardImages(
        pixels(images), images.labels, job.pool, measured.pool, cfg.exemplar_pool, job.models["standard"].labels.display
    )
    remake = Remake(cfg.primary_attack, cfg.eps, pgd_settings(cfg), cfg.seed, cfg.device)
    modules = {m: job.models[m].module for m in MODELS}
    cards = write_cards(out, found.shown, modules, analyses, source, remake)
    timings["cards_s"] = round(time.perf_counter() - t, 3)
    return Pictures(examples, cards)


def run_facts(job: Job) -> Run:
    """What results.json says of the run beyond its measurements: the notes only the pipeline knows."""
    notes = []
    if job.work.batch_size < job.resolved.batch_size:  # lowered to fit in memory (rnnviz.pipeline.load)
        notes.append(batch_note(job.resolved.batch_size, job.work.batch_size))
    if job.pool is not None and job.pool.stream.skipped:  # stderr alone would lose it with the terminal
        notes.append(skipped_note(job.pool.stream.skipped, "the exemplar pool "))
    return Run(job.resolved, job.models, job.images, tuple(notes), job.ctx.world)
