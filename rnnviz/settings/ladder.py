"""A robustness ladder (``--models``, or a preset's rungs): several models of one kind trained at
increasing training eps, each compared with the least robust one.

A ladder run is a pair run per rung: (the least robust model, the rung), each with the settings of
the whole run and the same images, seeds and draws, so each pair's numbers equal those of the same
pair run alone. This module only resolves which models, in which order, with which training eps,
and the settings of each pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.names import slug
from rnnviz.settings.presets import PRESETS

MAX_MODELS = 12  # every rung is one more pair run
PAIRS_DIR = "pairs"  # the ladder folder's subfolder holding one run folder per rung


@dataclass(frozen=True)
class LadderModel:
    """One model of a ladder: its spec, its training eps and the short label figures name it by."""

    spec: str
    train_eps: float
    label: str
    published: float | None = None  # clean top-1 % on the whole test set, where the preset knows it
    given: bool = False  # the training eps came from --train-eps, not from the preset
    note: str = ""  # the preset's word on what else sets this model apart

    def folder(self, root: Path) -> Path:
        """This rung's pair folder under the ladder's ``root``."""
        return Path(root) / PAIRS_DIR / self.label


def spec_label(spec: str) -> str:
    """``builtin:fashion-robust-eps0.05`` -> ``fashion-robust-eps0.05``; a URL or file -> its stem."""
    name = spec.split(":", 1)[1] if spec.startswith("builtin:") or spec.startswith("torchvision:") else spec
    name = name.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"\.(ckpt|pt|pth|bin|safetensors)$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or slug(spec)


def ladder_models(specs: list[str], train_eps: list[float] | None, preset: str) -> list[LadderModel]:
    """The ladder's models in increasing training eps. Each eps is the one given (``--train-eps``), or
    the preset's for a model the preset lists; a model with neither is refused in one line."""
    if not 2 <= len(specs) <= MAX_MODELS:
        raise UsageError(f"--models lists {len(specs)} models; give 2 to {MAX_MODELS}, least robust first")
    if len(set(specs)) < len(specs):
        raise UsageError("--models lists the same model twice; give each once")
    if train_eps is not None and len(train_eps) != len(specs):
        raise UsageError(
            f"--train-eps gives {len(train_eps)} values for {len(specs)} --models; give one training eps per model"
        )
    known = {r.spec: r for r in PRESETS[preset].ladder}
    models = [_model(spec, train_eps[i] if train_eps else None, known.get(spec)) for i, spec in enumerate(specs)]
    models.sort(key=lambda m: m.train_eps)
    _check_distinct(models)
    return models


def _model(spec: str, eps: float | None, rung) -> LadderModel:
    if eps is None and rung is None:
        raise UsageError(
            f"the training eps of --models entry {spec} is unknown; give one per model with --train-eps, e.g. 0,0.1,0.2"
        )
    train = float(eps if eps is not None else rung.train_eps)
    published, note = (rung.published, rung.note) if rung is not None else (None, "")
    return LadderModel(spec, train, spec_label(spec), published, eps is not None, note)


def _check_distinct(models: list[LadderModel]) -> None:
    for a, b in zip(models, models[1:]):
        if a.train_eps == b.train_eps:
            raise UsageError(
                f"--models {a.spec} and {b.spec} share training eps {a.train_eps:g}; a ladder needs one model per eps"
            )
    labels = [m.label for m in models]
    if len(set(labels)) < len(labels):
        raise UsageError("two --models share a file name; give models whose names differ (they name the pair folders)")


def pair_settings(cfg, reference: LadderModel, rung: LadderModel, root: Path):
    """The settings of one rung's pair run: the whole run's, with the pair's two models, the rung's
    training eps where the user gave it (a preset's own is known to the pair run from the preset) and
    its folder under ``root``."""
    return replace(
        cfg,
        standard=reference.spec,
        robust=rung.spec,
        train_eps=rung.train_eps if rung.given else None,
        models=None,
        models_train_eps=None,
        out=str(rung.folder(root)),
    )
