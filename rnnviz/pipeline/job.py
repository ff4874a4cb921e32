"""The whole job, stage by stage: models -> images -> attack + sensitivity -> renders -> folder.

results.json is assembled and written once, at the end (``rnnviz.results.build``); a render that is
interrupted first writes what was measured, so an interrupted run loses nothing that is done, and
the render cache makes a rerun with the same settings resume where it stopped. ``run`` changes
neither its ``Config`` nor any global state (every random draw has its own generator).

This module only orders the stages and carries their parts between the ranks: what a stage
measures is ``rnnviz.pipeline.stages``, how shards merge is ``rnnviz.pipeline.shards``, the
checks and loading before any work are ``rnnviz.pipeline.load``.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rnnviz.channels import galleries
from rnnviz.measures import primary
from rnnviz.pipeline.load import Job, prepare
from rnnviz.pipeline.memo import ModelMemo
from rnnviz.pipeline.pool import merge_pool, pool_stage
from rnnviz.pipeline.replicas import load_replicas, merge_replicas, replica_stage
from rnnviz.pipeline.shards import merge_analyses, merge_measured, merge_strong
from rnnviz.pipeline.stages import (
    attack_stage,
    cross_stage,
    findings,
    patch_plans,
    patch_stage,
    run_facts,
    side_stage,
    strong_right,
    strong_stage,
    write_pictures,
)
from rnnviz.results.build import assemble, write_results
from rnnviz.results.parts import Findings, Measured, Pictures
from rnnviz.results.runfolder import RunFolder, claim
from rnnviz.settings.config import Config
from rnnviz.sweep.distributed import Distributed, session

T = TypeVar("T")


def run(cfg: Config, progress: bool = True, dist: Distributed | None = None, memo: ModelMemo | None = None) -> Path:
    """Run every stage for ``cfg`` and return the finished report folder (without the report
    itself: ``render_report`` writes that from the folder).

    Under torchrun every rank calls ``run``: each measures its shard of the images, rank 0 merges
    the shards, writes the folder and shows progress; the renders are split across the ranks.

    Args:
        cfg: a validated ``Config``; it is not modified.
        progress: show progress bars on stderr (rank 0 only).
        dist: the job's ranks (``rnnviz.sweep.distributed.session``); opened from torchrun's
            environment when not given (one process outside torchrun).
        memo: per-model results kept between the pair runs of a ladder (``rnnviz.pipeline.memo``).
    Returns:
        The folder holding results.json, data/*.csv and figures/ (on every rank).
    """
    if dist is not None:
        return _run(cfg, progress, dist, memo)
    with session() as ctx:
        return _run(cfg, progress, ctx, memo)


def _since(t: float) -> float:
    return round(time.perf_counter() - t, 3)


def _held(part: T | None) -> T:
    """A part only rank 0 holds (the gathered shards, the merged analysis), on rank 0."""
    assert part is not None, "rank 0 holds every gathered part"
    return part


def _path(folder: RunFolder | None) -> Path:
    return _held(folder).path


def _run(cfg: Config, progress: bool, ctx: Distributed, memo: ModelMemo | None) -> Path:
    t0 = time.perf_counter()
    main = ctx.is_main
    job = replace(prepare(cfg, ctx), memo=memo)
    job = replace(job, replicas=tuple(load_replicas(job.work, ctx, job.models, list(job.work.layers or []))))
    with ExitStack() as stack:
        name = cfg.preset + "-" + "-".join(cfg.classes)
        folder = ctx.stage(
            "claiming the output folder",
            lambda: stack.enter_context(claim(cfg.out, job.resolved.to_json(), name)) if main else None,
        )
        out = ctx.share("claiming the output folder", lambda: _path(folder))
        timings = {"load_s": _since(t0)}
        job, measured = _measure(job, progress and main, timings)
        made = ctx.stage("writing the pictures", lambda: _pictures(job, out, measured, timings) if main else None)

        def write(renders: list[dict]) -> None:
            found, pictures = _held(made)
            whole = assemble(run_facts(job), _held(measured), found, replace(pictures, renders=renders), timings)
            write_results(out, whole, _held(measured).by_attack)

        renders: list[dict] = []
        if cfg.quality != "none":
            t = time.perf_counter()
            try:
                renders = _render(job, out, made, progress and main) or []
            except BaseException:  # an interrupted render keeps what was measured
                if main:
                    write([])
                raise
            timings["render_s"] = _since(t)
        ctx.stage("writing the results", lambda: write(renders) if main else None)
        ctx.stage("finishing", lambda: _held(folder).finish() if main else None)
    return out


def _measure(job: Job, progress: bool, timings: dict) -> tuple[Job, Measured | None]:
    """The attack, transfer and patching stages on every rank's shard; rank 0 merges the parts.
    Returns the job with its primary attack first (the strongest, or the one chosen) and the merged
    measurement (None on the other ranks)."""
    ctx = job.ctx
    t = time.perf_counter()
    shards = ctx.gather("the attack", lambda: attack_stage(job, progress))
    by_attack = ctx.stage("merging the attack", lambda: merge_analyses(shards) if shards else None)
    timings["attack_s"] = _since(t)
    chosen = ctx.share("choosing the primary attack", lambda: primary.choose(job.work, _held(by_attack)))
    job = replace(job, **{k: primary.first(getattr(job, k), chosen["name"]) for k in ("cfg", "resolved", "work")})
    t = time.perf_counter()  # APGD-CE + APGD-T on what every analysis attack left right: the strongest accuracy
    right = ctx.share("choosing the images for APGD", lambda: strong_right(job.work, _held(by_attack)))
    strong = ctx.gather("the strong attack", lambda: strong_stage(job, right, progress))
    timings["strong_s"] = _since(t)
    t = time.perf_counter()  # both models on the same clean images: channel matching and CKA
    cross = ctx.gather("cross-model statistics", lambda: cross_stage(job))
    timings["cross_s"] = _since(t)
    t = time.perf_counter()  # further pairs (--replicate): their sweep, and their matching to the run's models
    replicas = ctx.gather("the further pairs", lambda: replica_stage(job, progress)) if job.replicas else None
    if job.replicas:
        timings["replicate_s"] = _since(t)
    t = time.perf_counter()
    side = ctx.gather("transfer", lambda: side_stage(job))
    timings["transfer_s"] = _since(t)
    t = time.perf_counter()
    lead = job.work.primary_attack
    plans = ctx.share("planning the patching", lambda: patch_plans(job.work, _held(by_attack)[lead]))
    counts = ctx.gather("patching", lambda: patch_stage(job, plans))
    timings["patch_s"] = _since(t)
    t = time.perf_counter()  # the cards' wider exemplar pool: a clean pass, no measurement changes
    pool = ctx.gather("the exemplar pool", lambda: pool_stage(job))
    timings["pool_s"] = _since(t)

    def merge() -> Measured:
        measured = merge_measured(_held(by_attack), _held(side), _held(counts), _held(cross))
        merged = merge_replicas(job, replicas) if replicas else None
        return replace(
            measured, primary=chosen, replicas=merged, pool=merge_pool(_held(pool)), strong=merge_strong(_held(strong))
        )

    return job, ctx.stage("merging the measurements", lambda: merge() if ctx.is_main else None)


def _pictures(job: Job, out: Path, measured: Measured | None, timings: dict) -> tuple[Findings, Pictures]:
    """Rank 0: the findings of the merged measurement, and the example images and cards they lead to."""
    found = findings(job, _held(measured))
    return found, write_pictures(job, out, _held(measured), found, timings)


def _render(job: Job, out: Path, made: tuple[Findings, Pictures] | None, progress: bool) -> list[dict] | None:
    """The feature visualizations: in one process directly, under torchrun split across the ranks."""
    ctx = job.ctx
    if ctx.world == 1:
        found, pictures = _held(made)
        return galleries.render_galleries(
            job.resolved, out, job.models, found.shown, pictures.exemplars, job.images, progress
        )
    plan = galleries.render_jobs
    jobs = ctx.share(
        "planning the renders", lambda: plan(job.work, _held(made)[0].shown, _held(made)[1].exemplars, job.images)
    )
    shares = ctx.gather("rendering", lambda: galleries.render_share(job.work, job.models, jobs, ctx, progress))
    return ctx.stage(
        "writing the renders", lambda: galleries.write_shared_renders(out, jobs, shares) if shares else None
    )
