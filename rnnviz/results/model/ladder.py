"""ladder.json: what a ladder run (``--models``, or a ladder preset) ran, as typed models.

A ladder run is one pair run per rung, each a complete run folder under ``pairs/``: every number
lives in those folders' results.json, and ladder.json only says which models, in which order, with
which training eps, and where each pair's folder is. The renderer reads the numbers from the pairs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rnnviz.results.model.values import Eps, Percent, Text
from rnnviz.settings.ladder import MAX_MODELS

LADDER_VERSION = 1  # of ladder.json; bump on any rename
FolderName = Annotated[str, Field(pattern=r"^pairs/[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]  # never a path out


class LadderRung(BaseModel):
    """One model of the ladder and its pair folder (none for the least robust model: every pair holds it)."""

    model_config = ConfigDict(extra="forbid")

    label: Text
    spec: Text
    train_eps: Eps
    published: Percent | None = Field(description="clean top-1 % on the whole test set, where the preset knows it")
    folder: FolderName | None = Field(description="its pair run with the least robust model; null for that model")
    note: Text = Field("", description="what else sets this model apart from its neighbours (the preset's word)")


class Ladder(BaseModel):
    """The ladder's models in increasing training eps; ``rungs[0]`` is the reference of every pair."""

    model_config = ConfigDict(extra="forbid")

    ladder_version: Annotated[int, Field(ge=LADDER_VERSION, le=LADDER_VERSION)]
    created: Text
    preset: Text
    train_norm: Text = Field(description="the unit of train_eps: linf or l2")
    rungs: list[LadderRung] = Field(min_length=3, max_length=MAX_MODELS)
