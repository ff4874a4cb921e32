"""A ladder run: one pair run per rung, (the least robust model, the rung), then ladder.json.

Each pair run is the whole pair pipeline (``rnnviz.pipeline.job.run``) with the ladder's settings, so
its numbers equal those of the same pair run alone, and its folder is a complete run folder that
``--from`` renders on its own. A ladder interrupted midway resumes with the same command: finished
pair folders are kept and read, an unfinished one resumes from its own caches.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from rnnviz.pipeline.job import run
from rnnviz.pipeline.memo import ModelMemo
from rnnviz.results.ladder import ladder_document, write_ladder
from rnnviz.results.runfolder import claim, is_unfinished
from rnnviz.settings.config import Config
from rnnviz.settings.ladder import pair_settings
from rnnviz.sweep.distributed import Distributed, session


def run_ladder(cfg: Config, progress: bool = True, dist: Distributed | None = None) -> Path:
    """Run every rung's pair and write ladder.json; returns the ladder folder (on every rank)."""
    if dist is not None:
        return _run_ladder(cfg, progress, dist)
    with session() as ctx:
        return _run_ladder(cfg, progress, ctx)


def _run_ladder(cfg: Config, progress: bool, ctx: Distributed) -> Path:
    models = cfg.ladder
    assert models, "a ladder run has a ladder"
    with ExitStack() as stack:
        name = f"{cfg.preset}-ladder-" + "-".join(cfg.classes)
        folder = ctx.stage(
            "claiming the output folder",
            lambda: stack.enter_context(claim(cfg.out, cfg.to_json(), name)) if ctx.is_main else None,
        )
        root: Path = ctx.share("claiming the output folder", lambda: folder.path if folder else Path())
        memo = ModelMemo()  # the reference model's per-model stages, measured in the first pair
        for rung in models[1:]:
            here = rung.folder(root)
            done = ctx.share("checking the pair folder", lambda: _finished(here))  # noqa: B023 - called at once
            if not done:
                run(pair_settings(cfg, models[0], rung, root), progress, ctx, memo)
        document = ladder_document(cfg, models)
        ctx.stage("writing ladder.json", lambda: write_ladder(root, document) if ctx.is_main else None)
        ctx.stage("finishing", lambda: folder.finish() if folder else None)
    return root


def _finished(folder: Path) -> bool:
    """A pair folder a previous try of this ladder completed (its run removed the unfinished marker)."""
    return (folder / "results.json").is_file() and not is_unfinished(folder)
