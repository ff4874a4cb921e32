"""What the report shows as pictures: the example images under attack, the feature visualizations
(renders), the channel cards (exemplars) and the CSV tables beside results.json. Every path is
checked to be a plain file inside the folder (x-file), since a folder may come from someone else."""

from __future__ import annotations

from typing import Annotated, NoReturn

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from rnnviz.common.names import ExemplarPool, ModelRole, Recipe, RenderStop
from rnnviz.results.model.values import (
    ByEps,
    CardPicture,
    Count,
    Eps,
    File,
    InFileOrder,
    Interval,
    Nonnegative,
    Number,
    Omittable,
    PerEps,
    Probability,
    Text,
    most,
)

EXEMPLARS_MOST = 1000  # a fixed bound on exemplars per card (a run's --exemplars stays far below)
POOL_CLASSES_MOST = 5000  # classes of the exemplar pool's source beyond the chosen ones
CLASS_NAME = "the exemplar image's class (display name)"


class Shot(BaseModel):
    image: File
    perturbation: File = Field(description="0.5 + (x_adv - x) / (2 eps) clipped to [0, 1]")
    pred_index: Omittable[Count] = None
    pred: Text
    confidence: Probability
    correct: bool


class ExampleAtEps(BaseModel):
    eps: Eps
    standard: Shot
    robust: Shot

    def of(self, role: str) -> Shot:
        """The shot of the model ``role`` names (``"standard"`` or ``"robust"``)."""
        return self.standard if role == "standard" else self.robust if role == "robust" else _no_role(role)


class Example(BaseModel):
    class_: Text = Field(alias="class")
    true_index: Omittable[Count] = None
    true_label: Text
    source: Omittable[Text] = None
    image: File
    by_eps: PerEps[ExampleAtEps] = Field(
        description="one entry per eps including eps 0, where the 'adversarial' image is the clean one and the "
        "perturbation image is flat grey; each model is attacked with its own gradient"
    )


class Render(BaseModel):
    model: ModelRole
    layer: Text
    channel: Count
    recipe: Recipe
    image: File
    relative_activation: Number | None = None
    final_activation: Number | None = None
    dead: bool = Field(
        description="the channel's activation stayed at zero: the report shows a note, not a grey square"
    )
    diversity: list[File] = most("diversity")
    steps: Omittable[Count] = Field(None, description="optimization steps taken (at most the quality's cap)")
    stop: Omittable[RenderStop] = Field(
        None,
        description="why the optimization stopped: the best real image's activation reached, no more progress, or "
        "the step cap",
    )
    high_frequency_share: Probability | None = Field(
        None,
        description="share of the render's spectral power above 0.25 cycles per pixel (rnnviz.common.spectrum); "
        "lower is smoother",
    )


class CleanExemplar(BaseModel):
    index: Count
    value: Number
    class_: Omittable[Text] = Field(None, alias="class", description=CLASS_NAME)


class ExemplarRow(BaseModel):
    index: Count
    value: Nonnegative
    class_: Omittable[Text] = Field(None, alias="class", description=CLASS_NAME)


ExemplarRows = TypeAliasType("ExemplarRows", Annotated[list[ExemplarRow], most("exemplars")])


class CardBars(BaseModel):
    activation: CardPicture
    change: ByEps[CardPicture]


class CardImages(BaseModel):
    clean: CardPicture
    change: ByEps[CardPicture]
    bars: CardBars


class MapScale(BaseModel):
    activation: Interval[Number] | None = None
    change: ByEps[Interval[Nonnegative]] | None = None


class BestAnalysed(BaseModel):
    index: Count
    value: Number


class Card(BaseModel):
    clean: list[CleanExemplar] = most("exemplars")
    change: ByEps[ExemplarRows]
    images: CardImages
    weights: CardPicture
    map_scale: MapScale | None = None
    best_analysed: BestAnalysed | None = Field(
        None,
        description="the best of the analysed images (the chosen classes'), what the renders' relative activation "
        "is measured against; absent in older runs: the first clean exemplar",
    )


CardKey = Annotated[
    str,
    Field(
        pattern=r"^[^\u0000-\u001f]{1,200}:[0-9]{1,9}$",
        json_schema_extra={"x-expected": "a key 'layer:channel', e.g. 'layer4.0:53'"},
    ),
]
Cards = TypeAliasType("Cards", Annotated[dict[CardKey, Card], most("cards")])


class ExemplarPoolInfo(BaseModel):
    mode: ExemplarPool
    classes: list[Text] = Field(max_length=POOL_CLASSES_MOST)
    n_images: Count
    per_class: Count


class Exemplars(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: Annotated[int, Field(ge=0, le=EXEMPLARS_MOST)]
    standard: Cards
    robust: Cards
    pool: ExemplarPoolInfo | None = Field(
        None,
        description="the clean exemplars' pool beyond the analysed images: its classes (those not chosen), how many "
        "images it held (indices from the number of analysed images on) and the cap per class",
    )

    def of(self, role: str) -> dict[str, Card]:
        """The cards of the model ``role`` names (``"standard"`` or ``"robust"``)."""
        return self.standard if role == "standard" else self.robust if role == "robust" else _no_role(role)


def _no_role(role: str) -> NoReturn:
    raise KeyError(f"{role!r} is not a model role")


class DataFiles(InFileOrder):
    # the two tables the report reads, and any other the engine writes
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, File] = Field(init=False)

    accuracy_per_class: File
    channel_sensitivity: File
