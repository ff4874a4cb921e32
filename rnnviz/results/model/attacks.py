"""Every attack's numbers beside the primary one's: accuracy, sensitivity, top-k and how the top-k
overlap across attacks and eps, the FGSM curve, transfer between the models, collapse of the
predictions onto few classes; and why the primary attack leads, and the matched noise's sizes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from rnnviz.common.names import LABELS_MAX, AttackName
from rnnviz.results.model.accuracy import SigmaByModel, Wilson, WilsonByModel
from rnnviz.results.model.values import (
    AnyNonnegative,
    Attack,
    AttackList,
    ByAttack,
    ByModel,
    Correlation,
    Count,
    Eps,
    EpsIndex,
    Nonnegative,
    Norm,
    Number,
    Omittable,
    PerEps,
    PerEpsNullAtZero,
    Probability,
    Text,
    most,
)

CURVE_EPS_MOST = 10_000  # a fixed bound on the curve's eps (config.fgsm_grid bounds its points)


class OverlapCondition(BaseModel):
    attack: Literal[AttackName, "noise"]  # the matched noise is a condition beside the attacks
    eps: Eps
    eps_index: EpsIndex


class Overlap(BaseModel):
    conditions: list[OverlapCondition] = most("conditions")
    jaccard: list[Annotated[list[Probability], most("conditions")]] = most("conditions")
    spearman: list[Annotated[list[Correlation], most("conditions")]] = most("conditions")
    expected_jaccard: list[Probability | None] = most("conditions")


class PredictedClass(BaseModel):
    class_: Text = Field(alias="class")
    index: Count
    count: Count
    share: Probability


class Confusion(BaseModel):
    rows: list[Text] = most("classes")
    cols: list[Text] = most("classes_and_other")
    counts: list[Annotated[list[Count], most("classes_and_other")]] = most("classes")


class Collapse(BaseModel):
    predicted: list[PredictedClass] = Field(max_length=LABELS_MAX)
    confusion: Confusion
    dominant: list[Text] = most("labels")
    rising: list[Text] = most("classes")


class FgsmCurve(BaseModel):
    eps: list[Eps] = Field(min_length=1, max_length=CURVE_EPS_MOST)
    standard: list[Wilson] = most("fgsm_grid")
    robust: list[Wilson] = most("fgsm_grid")


class Transfer(BaseModel):
    attack: Attack
    eps: PerEps[Eps]
    accuracy: ByModel[WilsonByModel]
    sigma_mean: ByModel[SigmaByModel]


class Attacks(BaseModel):
    names: AttackList = most("attacks_max")
    primary: Attack
    norm: ByAttack[Norm]
    accuracy: ByAttack[WilsonByModel]
    sigma_mean: ByAttack[SigmaByModel]
    noise_sigma_mean: SigmaByModel
    top: ByAttack[ByModel[PerEps[Annotated[list[Text], most("top_k")]]]]
    overlap: ByModel[Overlap]
    fgsm_curve: FgsmCurve | None
    transfer: Transfer | None
    collapse: ByAttack[ByModel[PerEps[Collapse | None]]]
    warnings: list[Text] = most("attack_warnings")


class PrimaryAttack(BaseModel):
    name: Attack
    rule: Text
    listed: list[Attack] = most("attacks_max")
    eps: AnyNonnegative
    accuracy_at_largest_eps: dict[str, Annotated[dict[str, Probability], most("models")]] = most("attacks_max")


class PerturbationSize(BaseModel):
    mean_abs: Omittable[Nonnegative] = None
    l2: Omittable[Nonnegative] = None


class NoiseMatch(BaseModel):
    front: Omittable[Literal["grayscale", "rgb"]] = None
    shared_across_channels: Omittable[bool] = None
    gradient_channel_spread: Number | None = None
    rule: Omittable[Text] = None
    sizes: Omittable[PerEpsNullAtZero[Annotated[dict[str, PerturbationSize], most("perturbations")]]] = None
