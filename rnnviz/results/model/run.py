"""What was run: the settings, the two models, the classes and where they came from.

Older runs wrote fewer settings, so most of ``RunConfig`` may be absent; what the report reads is
required.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from rnnviz.common.names import ExemplarPool, Quality, RankMeasure, Recipe, StrongVersion
from rnnviz.results.model.values import (
    AnyText,
    AttackList,
    Count,
    Eps,
    InFileOrder,
    Nonnegative,
    Norm,
    Omittable,
    Percent,
    PerEps,
    Positive,
    Probability,
    Text,
    most,
)

SEED_LEAST = -(2**63)  # a seed is any 64-bit integer


class PgdSettings(BaseModel):
    steps: Positive
    step_size: Nonnegative | None
    random_start: bool


class RunConfig(BaseModel):
    preset: AnyText | None
    classes: Omittable[list[Text]] = most("classes_max", default=None)
    eps: list[Eps] = most("eps_max", min_length=1)
    eps_labels: PerEps[Text]
    eps_255: PerEps[Text]
    attack: AttackList = most("attacks_max", description="every attack run, the primary first")
    train_eps: Percent | None = None
    fgsm_grid: Omittable[Count] = None
    transfer: Omittable[bool] = None
    exemplars: Omittable[Count] = None
    exemplar_pool: ExemplarPool = Field(
        description="where the cards' clean exemplars come from: all (every class of the source, at most "
        "n_images per class) or chosen (the analysed images)",
    )
    strong_attack: StrongVersion = Field(description="the strong evaluation's version (--strong-attack)")
    pgd_steps: Omittable[Positive] = None
    pgd_step_size: Nonnegative | None = None
    pgd: Omittable[PgdSettings] = None
    top_k: Count
    n_images: Count
    n_examples: Count
    diversity: Count
    seed: Annotated[int, Field(ge=SEED_LEAST)]
    quality: Quality
    recipes: list[Recipe] = most("recipes_max")
    layers: list[Text] = most("layers_max")
    data: Text
    device: Text
    rank_by: RankMeasure = Field(
        description="the leading ranking: zscore (default) = sigma - sigma_noise standardised within each layer; "
        "see rnnviz.measures.rank_measures"
    )
    patch: AnyText | None = None
    patch_draws: Count | None = None
    patch_share: Probability | None = None
    neurons: list[Text] | None = most("neurons_max", default=None)
    standard: AnyText | None = None
    robust: AnyText | None = None
    arch: AnyText | None = None
    label: AnyText | None = None
    out: AnyText | None = None
    trust_pickle: Omittable[bool] = None
    pdf: Omittable[bool] = None
    slides: Omittable[bool] = None
    batch_size: Omittable[Positive] = None
    workers: Omittable[Count] = None
    bootstrap: Omittable[Count] = None
    primary: str | None = Field(None, description="--primary-attack; null: the strongest attack leads")
    replicate: list[Text] | None = most(
        "replicate_specs",
        default=None,
        description="further model specs, (standard, robust) in pairs (--replicate); absent without them",
    )


class ModelIdentity(BaseModel):
    name: Text
    arch: Text
    sha256: Text
    source: Text
    pickle_used: bool
    input_size: Count
    labels: Omittable[Text] = None


class AnalysedClass(BaseModel):
    name: Text
    index: Count
    n_images: Count


class Environment(InFileOrder):
    # versions and the device, and whatever else the engine records (one short value each; a count
    # stays an integer, as the appendix shows it: JSON Schema's number already admits it)
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, AnyText | SkipJsonSchema[int] | float | bool | None] = Field(init=False)

    rnnviz: Text
    device: Text


class TrainEps(BaseModel):
    standard: Nonnegative | None
    robust: Nonnegative | None
    norm: Norm
    source: Text


class FullTestAccuracy(BaseModel):
    standard: Percent | None
    robust: Percent | None
    source: Text


class ModelCardContext(BaseModel):
    train_eps: TrainEps | None
    full_test_accuracy: FullTestAccuracy | None


class SourceCounts(BaseModel):
    per_class: Count | None = None
    counts: Omittable[dict[str, Count]] = most("classes", default=None)
