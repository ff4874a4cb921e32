"""The typed parts results.json is assembled from: the run itself (``Run``), what the stages measured
(``Measured``), what follows from it before any picture is made (``Findings``: the rankings, the
matching and the channels each model shows) and the pictures written (``Pictures``).

The cards, the renders and results.json all read these pieces; none of them reads results.json's
dict back, so the folder's one writer (``rnnviz.results.build``) is also the only place its keys
are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnviz.channels.shown import ShownChannels, shown_channels
from rnnviz.common.names import MODELS
from rnnviz.data.images import ImageSet
from rnnviz.measures import patching
from rnnviz.measures.matching import matching_results, partner_channels
from rnnviz.measures.ranking import EpsRanking, compare
from rnnviz.measures.strong import StrongCounts
from rnnviz.measures.transfer import TransferCounts
from rnnviz.models.loading import LoadedModel
from rnnviz.settings.config import Config
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.cross import CrossStats

ByAttack = dict[str, dict[str, ModelAnalysis]]  # attack -> model -> analysis
Curve = tuple[list[float], dict[str, np.ndarray]]  # the FGSM curve's grid and correct counts per model
PatchCounts = dict[str, dict[int, patching.PatchCounts]]  # model -> eps index -> counts


@dataclass(frozen=True)
class Run:
    """What results.json records about the run itself: its settings as resolved (primary attack first),
    its models and images, and what only the pipeline knows (notes such as a lowered batch size, and
    torchrun's number of processes)."""

    cfg: Config
    models: dict[str, LoadedModel]
    images: ImageSet
    notes: tuple[str, ...] = ()
    world: int = 1


@dataclass(frozen=True)
class Pictures:
    """The folder's pictures as results.json lists them: the example images, the channel cards
    (``exemplars``, None without exemplars) and the renders (empty before or without rendering)."""

    examples: list[dict]
    exemplars: dict | None
    renders: list[dict] = field(default_factory=list)


@dataclass
class Measured:
    """Everything the measuring stages returned, merged over the shards."""

    by_attack: ByAttack
    transferred: dict[tuple[str, str], TransferCounts] | None
    curve: Curve | None
    patch_counts: PatchCounts | None
    cross: CrossStats | None = None  # both models' clean activations on the same images (matching)
    primary: dict | None = None  # results.json's primary_attack: which attack leads, and why
    replicas: list | None = None  # further pairs (--replicate; rnnviz.results.replication.Replica)
    pool: dict | None = None  # model -> the exemplar pool's clean top-n (rnnviz.pipeline.pool)
    strong: dict[str, StrongCounts] | None = None  # model -> the strong evaluation's counts


@dataclass(frozen=True)
class Findings:
    """Per model and ε the ranking summaries (None at ε = 0), per ε the standard / robust comparison,
    the channel matching (None without cross statistics), and per model the channels it shows."""

    ranking: dict[str, list[dict | None]]
    comparison: list[dict | None]
    matching: dict | None
    shown: dict[str, ShownChannels]

    def top(self, model: str) -> list[list[dict]]:
        """results.json's ``top_channels[model]``: each ε's top rows (empty at ε = 0)."""
        return top_rows(self.ranking[model])


def find(cfg: Config, measured: Measured, class_names: list[str]) -> Findings:
    """The findings of the primary attack's merged analyses (``cfg.primary_attack``)."""
    analyses = measured.by_attack[cfg.primary_attack]
    ranking, comparison = rank(cfg, analyses, class_names)
    seeds = measured.replicas[0].cross if measured.replicas else None
    matching = matching_results(measured.cross, analyses, ranking, seeds, cfg.seed) if measured.cross else None
    partners = {"standard": [], "robust": partner_channels(matching)}
    shown = {
        m: shown_channels(top_rows(ranking[m]), partners[m], analyses[m].max_activation, cfg.layers or [])
        for m in MODELS
    }
    return Findings(ranking, comparison, matching, shown)


def top_rows(ranking: list[dict | None]) -> list[list[dict]]:
    """One model's top rows per ε from its ranking summaries (empty at ε = 0, where nothing is ranked)."""
    return [r["top"] if r else [] for r in ranking]


def rank(cfg: Config, analyses: dict[str, ModelAnalysis], class_names: list[str]) -> tuple[dict, list]:
    """Per model and non-zero eps the ranking with its stability; per eps the cross-model ratio.
    At eps = 0 nothing moves (sigma is 0 by construction), so there is nothing to rank: None."""
    rankings = {
        m: [EpsRanking(analyses[m], e, cfg.rank_by) if eps > 0 else None for e, eps in enumerate(cfg.eps)]
        for m in MODELS
    }
    ranking = {m: [r.summary(cfg.top_k, class_names) if r else None for r in rankings[m]] for m in MODELS}
    comparison = [compare(s, r) if s and r else None for s, r in zip(rankings["standard"], rankings["robust"])]
    return ranking, comparison
