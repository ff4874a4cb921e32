"""results.json's ``replication``: the run's pair beside further pairs of the same kind (another
training seed, ``--replicate`` or the ``fashion-seeds`` preset), each measured on the run's images.

A finding from one training seed is one sample. Per pair this records what the report leads with,
computed by the same code as the run's own numbers (``rnnviz.results.parts.rank``): the standard /
robust ratio of mean relative σ with its paired-bootstrap interval at every eps. Per further pair and
model it records how much of the run's top-k comes back: the run model's top-k carried into the
other seed's model through the Hungarian matching of their channels, then Jaccard against that
model's own top-k (``rnnviz.measures.replication``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnviz.common.names import MODELS
from rnnviz.measures.replication import seed_overlap
from rnnviz.results.parts import Findings, Measured, Run, rank, top_rows
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.cross import CrossStats

MEASURE = "standard / robust mean relative σ (results.json's comparison), 95% paired-bootstrap interval"
OVERLAP = (
    "the run model's top-k carried into the other pair's model of the same kind by the one-to-one matching of "
    "clean activations (as in matching), then Jaccard with that model's own top-k; raw_jaccard compares "
    "channel numbers without matching"
)


@dataclass
class Replica:
    """One further pair as measured on the run's images: its models (``LoadedModel.describe``), each model's analysis
    under the run's primary attack, and per model the cross statistics of the run's model (role
    "standard" in the sums) with this pair's model of the same kind (role "robust")."""

    models: dict[str, dict]
    analyses: dict[str, ModelAnalysis]
    cross: dict[str, CrossStats]


def replication_results(run: Run, measured: Measured, found: Findings) -> dict | None:
    """The ``replication`` entry: the run's own pair (its models, accuracy, comparison and top-k) beside
    the further pairs, each ranked by the same code (``rank``); None when no further pair was asked for."""
    if not measured.replicas:
        return None
    analyses = measured.by_attack[run.cfg.primary_attack]
    first = {
        "models": {m: _named(run.models[m].describe()) for m in MODELS},
        "accuracy": {m: analyses[m].accuracy for m in MODELS},
        "comparison": found.comparison,
        "top": {m: found.top(m) for m in MODELS},
        "overlap": None,
    }
    pairs = [first]
    for rep in measured.replicas:
        ranking, comparison = rank(run.cfg, rep.analyses, [])
        pairs.append(
            {
                "models": {m: _named(rep.models[m]) for m in MODELS},
                "accuracy": {m: rep.analyses[m].accuracy for m in MODELS},
                "comparison": comparison,
                "top": {m: top_rows(ranking[m]) for m in MODELS},
                "overlap": {m: seed_overlap(rep.cross[m], found.ranking[m], ranking[m]) for m in MODELS},
            }
        )
    return {"measure": MEASURE, "overlap": OVERLAP, "n_images": len(run.images), "pairs": pairs}


def _named(described: dict) -> dict:
    """A model as the replication table names it: its name, spec and weights' sha256."""
    return {k: described.get(k) for k in ("name", "source", "sha256")}
