"""The two models' channels matched on the same clean images (rnnviz.measures.matching), and the run's
pair beside further pairs of the same kind (rnnviz.results.replication)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from rnnviz.results.model.accuracy import AccuracyByModel
from rnnviz.results.model.channels import TopChannelsByModel
from rnnviz.results.model.values import (
    AnyNonnegative,
    AnyText,
    ByModel,
    Correlation,
    Count,
    Interval,
    Nonnegative,
    Omittable,
    PerEpsNullAtZero,
    Positive,
    Probability,
    Text,
    most,
)

SLACK = 1e-6  # a CKA or a correlation computed in float may pass its bound by rounding
Cka = Annotated[float, Field(ge=-SLACK, le=1 + SLACK)]
LooseCorrelation = Annotated[float, Field(ge=-1 - SLACK, le=1 + SLACK)]


class LayerMatch(BaseModel):
    channels: list[Count] = most("models")
    threshold: float | None
    partner: list[Annotated[int, Field(ge=-1)]] = most("channels")  # -1: no partner
    r: list[LooseCorrelation] = most("channels")
    n_real: Count
    median_r: float | None


class MatchedChannel(BaseModel):
    layer: Text
    channel: Count
    rank: Positive
    sensitivity: Omittable[Nonnegative] = None
    partner: Count | None
    r: Correlation | None
    real: bool
    best: Count | None = None
    best_r: Correlation | None = None
    partner_rank: Positive | None
    partner_sensitivity: AnyNonnegative | None = None
    sensitivity_ratio: AnyNonnegative | None


class CkaColumns(BaseModel):
    pair: Cka | None
    random_standard: Cka | None
    random_robust: Cka | None
    seed_standard: Cka | None
    seed_robust: Cka | None


class BaselineLayer(BaseModel):
    layer: Text
    cka: CkaColumns
    class_removed: CkaColumns


class CkaBaselines(BaseModel):
    pairs: dict[str, Text] = most("keys", description="what each column compares")
    random: Text
    random_seed: int
    class_removed: Text
    layers: list[BaselineLayer] = most("layers")


class Matching(BaseModel):
    features: Omittable[Text] = None
    n_images: Count
    n_baseline: Omittable[Count] = None
    baseline: Omittable[Text] = None
    quantile: Probability
    layers: list[Text] = most("layers")
    cka: list[Annotated[list[Cka | None], most("layers")]] = most("layers")
    per_layer: dict[str, LayerMatch] = most("layers")
    top: dict[str, Annotated[list[Annotated[list[MatchedChannel], most("top_k")] | None], most("eps")]] = most("models")
    baselines: Omittable[CkaBaselines] = Field(
        None,
        description="per layer, the CKA of the standard and the robust model's same layer beside its baselines: "
        "each model against a randomly initialised copy of its architecture, and (with --replicate) each model "
        "against itself retrained from another seed; each also with the class means removed "
        "(rnnviz.measures.matching.baselines)",
    )


class ReplicaModel(BaseModel):
    name: Omittable[Text] = None
    source: AnyText | None = None
    sha256: AnyText | None = None


class ReplicaComparison(BaseModel):
    measure: Text
    ratio: Nonnegative | None
    ratio_ci: Interval[Nonnegative] | None
    standard: Nonnegative | None = None
    robust: Nonnegative | None = None


class MappedChannel(BaseModel):
    layer: Omittable[Text] = None
    channel: Omittable[Count] = None
    partner: Count | None = None
    r: Correlation | None = None
    real: Omittable[bool] = None


class LayerChannel(BaseModel):
    layer: Omittable[Text] = None
    channel: Omittable[Count] = None


class CarriedTopK(BaseModel):
    k: Count
    matched_jaccard: Probability
    chance_jaccard: Omittable[Probability] = Field(
        None,
        description="the matched Jaccard a random draw of the second model's top-k (same layer counts) gives on "
        "average",
    )
    p_chance: Omittable[Probability] = Field(
        None, description="how often such a random draw reaches the observed matched Jaccard"
    )
    raw_jaccard: Probability
    n_real: Count
    mapped: Omittable[list[MappedChannel]] = most("top_k", default=None)
    second_top: Omittable[list[LayerChannel]] = most("top_k", default=None)


class CarriedOverlap(BaseModel):
    standard: Omittable[PerEpsNullAtZero[CarriedTopK]] = None
    robust: Omittable[PerEpsNullAtZero[CarriedTopK]] = None

    def of(self, role: str) -> list[CarriedTopK | None] | None:
        """The per-eps entries of the model ``role`` names (``"standard"`` or ``"robust"``)."""
        if role not in ("standard", "robust"):
            raise KeyError(f"{role!r} is not a model role")
        return self.standard if role == "standard" else self.robust


class ReplicaPair(BaseModel):
    models: ByModel[ReplicaModel]
    accuracy: Omittable[AccuracyByModel] = None
    comparison: PerEpsNullAtZero[ReplicaComparison] = Field(
        description="as results.json's comparison, for this pair: standard / robust mean relative sigma with its "
        "interval"
    )
    top: Omittable[TopChannelsByModel] = None
    overlap: CarriedOverlap | None = Field(
        description="per model kind and eps, the run model's top-k carried into this pair's model by matching; null "
        "for the run's own pair"
    )


class Replication(BaseModel):
    measure: Omittable[Text] = None
    overlap: Omittable[Text] = None
    n_images: Omittable[Count] = None
    pairs: list[ReplicaPair] = most(
        "pairs", min_length=2, description="the run's own pair first, then each further pair"
    )
