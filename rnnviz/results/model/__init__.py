"""results.json as typed pydantic models: the one definition of the file.

rnnviz/results/schema.json is generated from ``Results`` (rnnviz.results.schema_gen), and from it the
``--from`` validation (rnnviz.report.validate) and docs/results-schema.md. A part of the document
lives in the module named for it: run (settings, models, classes), accuracy (and the strong
evaluation), attacks, channels (the ranking), patching, matching (and replication), pictures
(examples, renders, cards, files); values holds what they share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from rnnviz.common.names import SCHEMA_VERSION
from rnnviz.results.model.accuracy import AccuracyByModel, StrongAttack, SweetSpot
from rnnviz.results.model.attacks import Attacks, NoiseMatch, PrimaryAttack
from rnnviz.results.model.channels import (
    BootstrapSettings,
    Comparison,
    NeuronSensitivity,
    RankingEntry,
    TopChannelsByModel,
)
from rnnviz.results.model.matching import Matching, Replication
from rnnviz.results.model.patching import PatchEntry
from rnnviz.results.model.pictures import DataFiles, Example, Exemplars, Render
from rnnviz.results.model.run import (
    AnalysedClass,
    Environment,
    ModelCardContext,
    ModelIdentity,
    RunConfig,
    SourceCounts,
)
from rnnviz.results.model.values import (
    ByEveryClass,
    ByModel,
    Count,
    Nonnegative,
    Number,
    PerEps,
    PerEpsNullAtZero,
    PerEpsNullOnlyAtZero,
    Probability,
    Text,
    most,
)


def _this_version(version: int) -> int:
    """A folder of another version is refused before anything reads it (rnnviz.report.validate says so)."""
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema_version {version}: this rnnviz reads {SCHEMA_VERSION}")
    return version


SchemaVersion = Annotated[int, AfterValidator(_this_version), Field(json_schema_extra={"const": SCHEMA_VERSION})]
Created = Annotated[
    datetime,
    Field(json_schema_extra={"format": "local-datetime", "x-expected": "a date and time like 2026-11-25T14:03:11"}),
]
LayerSensitivity = PerEps[Annotated[dict[str, Nonnegative], most("layers")]]


class Results(BaseModel):
    """What one rnnviz run writes and the renderer reads. Bump schema_version on any rename."""

    schema_version: SchemaVersion
    created: Created
    config: RunConfig = Field(description="the run's settings (rnnviz.settings.config.Config.to_json)")
    models: ByModel[ModelIdentity]
    label_set: Text
    classes: list[AnalysedClass] = most("classes_max", min_length=1)
    n_images: Count
    accuracy: AccuracyByModel = Field(description="share correct per eps (eps = 0: clean)")
    accuracy_per_class: ByModel[ByEveryClass[PerEps[Probability]]]
    sweet_spot: SweetSpot = Field(
        description="where the robust model is furthest ahead; best_index null when it never is"
    )
    layer_sensitivity: ByModel[LayerSensitivity]
    top_channels: TopChannelsByModel = Field(
        description="the ranking's top-k per eps (ranking.*[i].top); empty at eps = 0"
    )
    ranking: ByModel[PerEpsNullOnlyAtZero[RankingEntry]] = Field(
        description="per model and eps; null at eps = 0, where sigma is 0 by construction and nothing is ranked"
    )
    comparison: PerEpsNullOnlyAtZero[Comparison] = Field(
        description="mean relative sigma per model and ratio = standard / robust with a paired bootstrap interval; "
        "null at eps = 0"
    )
    bootstrap: BootstrapSettings
    channel_max_activation: ByModel[Annotated[dict[str, Number], most("shown_per_model")]]
    neuron_sensitivity: NeuronSensitivity = Field(
        description="for each channel asked for with --neurons LAYER:CH, the sensitivity per spatial position (an "
        "H x W grid); empty objects when none was asked for",
    )
    patching: ByModel[PerEpsNullAtZero[PatchEntry]] | None = Field(
        description="null with --patch none; otherwise per model one entry per eps, null at eps 0 and where not "
        "patched",
    )
    examples: list[Example] = most("examples")
    renders: list[Render] = most(
        "renders", description="empty when rendering was skipped (--quality none); the report then says so"
    )
    data_files: DataFiles = most("keys", description="the CSV tables beside results.json, by name")
    warnings: list[Text] = most("warnings")
    environment: Environment = most("keys")
    timings: dict[str, Nonnegative] = most(
        "keys",
        description="seconds per engine stage (load_s, attack_s, ...); the report stage's own are in "
        "report-timings.json beside report.html",
    )
    attacks: Attacks = Field(
        description="every attack's numbers, primary first (names[0]); the top-level accuracy, ranking, "
        "patching and galleries are the primary attack's",
    )
    context: ModelCardContext = Field(
        description="the models' training eps and full-test-set accuracy from their model cards, where known",
    )
    exemplars: Exemplars | None = Field(
        description="channel cards: null with --exemplars 0; one card per 'layer:channel' of the galleries",
    )
    noise_match: dict[str, NoiseMatch] = most(
        "models",
        description="per model: how it reads its input, and each perturbation's size in that input "
        "(rnnviz.sweep.noise)",
    )
    primary_attack: PrimaryAttack = Field(
        description="which attack drives ranking, patching, cards and galleries, and why"
    )
    source: SourceCounts = Field(description="how many images the source holds per class (advice never asks for more)")
    matching: Matching | None = Field(
        description="channels of the two models matched on the same clean images (rnnviz.measures.matching): "
        "linear CKA between layers, Hungarian matching of channels with a shuffled-image baseline",
    )
    replication: Replication | None = Field(
        description="the run's pair beside further pairs of the same kind (--replicate, preset fashion-seeds: "
        "another training seed), on the same images (rnnviz.results.replication); null without --replicate",
    )
    strong_attack: StrongAttack | None = Field(
        description="the strongest accuracy measured (rnnviz.measures.strong): APGD-CE then APGD-T (Croce & Hein "
        "2020) on the images every Linf analysis attack left right, eps in increasing order, an image broken at "
        "a smaller eps counted broken; null with --strong-attack off",
    )


__all__ = ["Results"]
