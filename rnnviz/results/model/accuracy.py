"""Accuracy: per model and eps, per class, its Wilson intervals under each attack, and the strong
evaluation's (the lowest measured)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from rnnviz.common.names import STRONG_COMPONENTS, ApgdVersion, StrongComponent
from rnnviz.results.model.values import (
    AnyText,
    Attack,
    ByModel,
    Count,
    EpsIndex,
    Interval,
    Nonnegative,
    Number,
    Omittable,
    PerEps,
    Positive,
    Probability,
    distinct,
    most,
)


class Wilson(BaseModel):
    """a Wilson interval of an accuracy"""

    model_config = ConfigDict(json_schema_extra={"x-ordered": [["correct", "n"], ["low", "high"]]})

    correct: Count
    n: Count
    accuracy: Probability
    low: Probability
    high: Probability


WilsonPerEps = TypeAliasType("WilsonPerEps", PerEps[Wilson])
SigmaPerEps = TypeAliasType(
    "SigmaPerEps", Annotated[PerEps[Nonnegative | None], Field(description="null where nothing was measured (eps = 0)")]
)


class AccuracyByModel(ByModel[PerEps[Probability]]):
    pass


class WilsonByModel(ByModel[WilsonPerEps]):
    pass


class SigmaByModel(ByModel[SigmaPerEps]):
    pass


class SweetSpot(BaseModel):
    fraction: Omittable[PerEps[Number]] = None
    best_index: EpsIndex | None


class StrongSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    components: list[StrongComponent] = distinct(min_length=1, max_length=len(STRONG_COMPONENTS))
    iterations: Positive
    targets: Count = Field(description="APGD-T's target classes (0: the model has under 4 classes, APGD-T not run)")
    restarts: Omittable[Positive] = Field(None, description="APGD-CE's random starts")
    version: ApgdVersion = Field(
        description="standard: AutoAttack's standard version (100 iterations, 9 targets); fast: the cheaper "
        "default (iterations and targets as recorded here)"
    )
    norm: Literal["linf"]
    seed: Count


class FlippedBy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    analysis: PerEps[Count]
    apgd_ce: PerEps[Count] = Field(alias="apgd-ce")
    apgd_t: PerEps[Count] = Field(alias="apgd-t")
    smaller_eps: PerEps[Count]


class StrongAccuracy(BaseModel):
    """one model's strongest accuracy per eps: images right under every analysis attack and APGD-CE/T, and
    what broke the others"""

    model_config = ConfigDict(extra="forbid")

    n: Count
    correct: PerEps[Count]
    accuracy: PerEps[Probability]
    interval: PerEps[Interval[Probability]] = Field(description="Wilson 95% [low, high] of each accuracy")
    flipped_by: FlippedBy = Field(
        description="images broken at each eps, each counted once under the first cause: smaller_eps (broken at "
        "a smaller eps or clean), analysis (an analysis attack; at eps 0 the clean errors), apgd-ce, apgd-t; "
        "correct + all four = n"
    )


class StrongAttack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: StrongSettings
    analysis: Omittable[list[Attack]] = most(
        "attacks_max",
        default=None,
        description="the analysis attacks whose verdicts it starts from (the run's Linf ones)",
    )
    models: dict[str, StrongAccuracy] = most(
        "models", description="role -> its strongest accuracy; empty when not run (see note)"
    )
    note: Omittable[AnyText] = Field(None, description="why it did not run (all attacks L2), else empty")
