"""The channel ranking: per model and eps the top-k channels by the leading measure, with their
bootstrap intervals, near misses, per-layer and per-class summaries, and the pair's comparison."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rnnviz.common.names import RankMeasure
from rnnviz.results.model.values import (
    ByModel,
    BySomeClasses,
    Correlation,
    Count,
    Interval,
    Nonnegative,
    Number,
    Omittable,
    PerEps,
    Probability,
    Text,
    most,
)


class ChannelRow(BaseModel):
    """the ranking's top rows (ranking.*[i].top) without the ranking-only fields required"""

    layer: Text
    channel: Count
    sensitivity: Nonnegative
    relative: Omittable[Nonnegative] = None
    noise: Omittable[Nonnegative] = None
    noise_ratio: Omittable[Nonnegative] = None
    excess: Omittable[Number] = None
    p_top: Probability | None = None
    sensitivity_ci: Interval[Nonnegative] | None = None
    excess_ci: Interval[Number] | None = None


class TopChannelsByModel(ByModel[PerEps[Annotated[list[ChannelRow], most("top_k")]]]):
    pass


class TopRow(BaseModel):
    layer: Text
    channel: Count
    sensitivity: Nonnegative
    relative: Nonnegative = Field(description="sigma / mean clean |F| of the channel")
    noise: Nonnegative = Field(description="sigma under a random perturbation of the same size (bootstrap.noise)")
    noise_ratio: Nonnegative = Field(description="noise / sigma")
    excess: Number
    p_top: Probability | None = Field(
        description="share of bootstrap resamples of the images in which the channel is in the top-k (the report "
        "marks p_top < 0.5 with a dagger); null with --bootstrap 0"
    )
    sensitivity_ci: Interval[Nonnegative] | None = Field(description="percentile bootstrap interval at bootstrap.level")
    excess_ci: Interval[Number] | None


class Candidate(BaseModel):
    layer: Text
    channel: Count
    p_top: Probability


class LayerSummary(BaseModel):
    sigma: Nonnegative
    relative: Nonnegative
    noise: Nonnegative
    noise_ratio: Nonnegative
    sigma_ci: Interval[Nonnegative] | None
    relative_ci: Interval[Nonnegative] | None
    channels: Count = Field(description="channels in the layer")
    relative_excess: Number | None = Field(None, description="(mean sigma - mean sigma_noise) / mean clean |F|")


class ClassTopChannel(BaseModel):
    layer: Text
    channel: Count
    value: Number


class ClassTop(BaseModel):
    top: list[ClassTopChannel] = most("top_k")
    jaccard_to_pooled: Probability | None


class ConvergencePoint(BaseModel):
    fraction: Probability
    n_images: Count
    jaccard: Probability | None = Field(description="mean over the subsets drawn at this fraction")
    jaccard_range: Annotated[list[Probability | None], Field(min_length=2, max_length=2)] = Field(
        description="lowest and highest Jaccard over the subsets drawn"
    )
    draws: Count = Field(description="independent subsets drawn at this fraction")


class Confound(BaseModel):
    sigma: dict[str, Correlation | None] = most("layers")
    measure: dict[str, Correlation | None] = most("layers")


class Agreement(BaseModel):
    sigma: Probability | None
    scale: Probability | None
    noise: Probability | None


class RankingEntry(BaseModel):
    """null at eps = 0 (nothing is ranked there)"""

    measure: RankMeasure = Field(description="= config.rank_by")
    top: list[TopRow] = most("top_k")
    candidates: list[Candidate] = most("candidates", description="channels outside the top-k with a notable p_top")
    expected_jaccard: Probability | None = Field(
        description="mean Jaccard index between a resample's top-k and top (null when undefined)"
    )
    jaccard_ci: Interval[Probability] | None
    layers: dict[str, LayerSummary] = most(
        "layers", description="per hooked layer: mean sigma, relative sigma and noise over its channels"
    )
    per_class: BySomeClasses[ClassTop] = Field(
        description="each class's own top-k (value = the ranking measure) and its Jaccard to top"
    )
    convergence: list[ConvergencePoint] = most(
        "convergence",
        description="Jaccard between the top-k on a random fraction of the images and the full-set top-k",
    )
    confound: Confound = Field(
        description="Spearman rank correlation with the clean mean |F| per layer: of sigma and of the leading measure",
    )
    agreement: Agreement = Field(
        description="Jaccard of this top-k with the top-k by sigma, by clean |F| and by sigma under the matched noise",
    )


class Comparison(BaseModel):
    measure: Text
    ratio: Nonnegative
    ratio_ci: Interval[Nonnegative] | None
    standard: Nonnegative
    robust: Nonnegative


class BootstrapSettings(BaseModel):
    resamples: Count
    level: Probability
    noise: Text


GRID = "an H x W grid of sensitivities"
# at most as many rows and columns as its model's input has pixels on a side
StandardRow = Annotated[list[Nonnegative], most("side_standard")]
StandardGrid = Annotated[list[StandardRow], most("side_standard", description=GRID)]
RobustRow = Annotated[list[Nonnegative], most("side_robust")]
RobustGrid = Annotated[list[RobustRow], most("side_robust", description=GRID)]


class NeuronSensitivity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standard: PerEps[Annotated[dict[str, StandardGrid], most("neurons")]]
    robust: PerEps[Annotated[dict[str, RobustGrid], most("neurons")]]
