"""results.json's ``replication``: the run's pair beside further pairs of the same kind (another
training seed, ``--replicate`` or the ``fashion-seeds`` preset), each measured on the run's images
(issue 28).

A finding from one training seed is one sample. Per pair this records what the report leads with,
computed by the same code as the run's own numbers (``rnnviz.results.build.rank``): the standard /
robust ratio of mean relative σ with its paired-bootstrap interval at every eps. Per further pair and
model it records how much of the run's top-k comes back: the run model's top-k carried into the
other seed's model through the Hungarian matching of their channels, then Jaccard against that
model's own top-k (``rnnviz.measures.replication``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnviz.common.names import MODELS
from rnnviz.measures.replication import seed_overlap
from rnnviz.results.build import rank
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


def replication_results(cfg, results: dict, replicas: list[Replica] | None) -> dict | None:
    """The ``replication`` entry from the run's own results (``ranking``, ``comparison``, ``models``,
    ``accuracy``) and the further pairs; None when no further pair was asked for."""
    if not replicas:
        return None
    first = {
        "models": {m: _named(results["models"][m]) for m in MODELS},
        "accuracy": results["accuracy"],
        "comparison": results["comparison"],
        "top": {m: results["top_channels"][m] for m in MODELS},
        "overlap": None,
    }
    pairs = [first]
    for rep in replicas:
        ranking, comparison = rank(cfg, rep.analyses, [])
        pairs.append(
            {
                "models": {m: _named(rep.models[m]) for m in MODELS},
                "accuracy": {m: rep.analyses[m].accuracy for m in MODELS},
                "comparison": comparison,
                "top": {m: [r["top"] if r else [] for r in ranking[m]] for m in MODELS},
                "overlap": {m: seed_overlap(rep.cross[m], results["ranking"][m], ranking[m]) for m in MODELS},
            }
        )
    return {"measure": MEASURE, "overlap": OVERLAP, "n_images": results["n_images"], "pairs": pairs}


def _named(described: dict) -> dict:
    """A model as the replication table names it: its name, spec and weights' sha256."""
    return {k: described.get(k) for k in ("name", "source", "sha256")}
