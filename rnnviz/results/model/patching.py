"""Activation patching: how much of an attack's damage putting clean activations back into chosen
channels undoes, for the leading top-k, its matched random and magnitude controls, single layers and
the converse (adversarial values into the clean pass)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from rnnviz.common.names import PatchControl, RankMeasure
from rnnviz.results.model.values import Count, Interval, Omittable, Probability, Text, most, schema_of

PATCH_MOST = 1_000_000  # channels, k and draws of a set: a fixed bound far above any network's
UNDONE_MOST = 1e6  # |damage undone|: a ratio that grows without bound as an attack's damage nears 0

SetSize = Annotated[int, Field(ge=1, le=PATCH_MOST)]
Undone = Annotated[float, Field(ge=-UNDONE_MOST, le=UNDONE_MOST)]

# kind layer names its layer; every kind but converse measures damage undone, so its accuracy is a number
# (rules between fields, stated in JSON Schema for schema_check; the model does not check them)
SET_RULES: list[JsonValue] = [
    {
        "if": {"properties": {"kind": {"const": "layer"}}},
        "then": {"properties": {"layer": {"minLength": 1, "x-expected": "a layer name for kind layer"}}},
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "converse"}}}},
        "then": {"properties": {"accuracy": schema_of(Probability)}, "required": ["undone", "undone_ci"]},
    },
]


class PatchSet(BaseModel):
    model_config = ConfigDict(json_schema_extra={"allOf": SET_RULES})

    kind: Literal[RankMeasure, PatchControl, "layer", "converse"]
    k: SetSize
    draw: Annotated[int, Field(ge=0, le=PATCH_MOST)]
    layer: Text
    accuracy: Probability | None
    undone: Undone | None = Field(
        None,
        description="damage undone = (acc_patched - acc_adv) / (acc_clean - acc_adv); null where the attack did no "
        "damage",
    )
    undone_ci: Interval[Undone] | None = None
    flipped: Probability | None = Field(None, description="converse only: share of clean-correct predictions that flip")
    control: str | None = Field(None, description="the ranking measure whose top-k this set controls for")
    layers: Omittable[dict[str, Count]] = most("layers", default=None, description="channels of the set per layer")


class PatchControlSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: PatchControl
    k: SetSize = Field(description="the size of the top-k this control stands beside")
    control: str | None = Field(None, description="the ranking measure whose top-k it controls for")
    draws: Annotated[int, Field(ge=0, le=PATCH_MOST)] = Field(description="seeded draws (one row of sets each)")
    channels: Annotated[int, Field(ge=0, le=PATCH_MOST)] = Field(
        description="channels each draw patched (the smallest draw): the control's real size, which a verdict at k "
        "needs equal to k"
    )
    undone_mean: Undone | None = Field(
        description="mean damage undone over the draws; null where the attack did no damage"
    )
    undone_range: Interval[Undone] | None = Field(
        description="the 5th and 95th percentile of damage undone over the draws (linear interpolation)"
    )


class PatchEntry(BaseModel):
    accuracy_clean: Probability
    accuracy_adv: Probability
    n_images: Count = Field(
        description="images patched (a seeded share of the analysed ones; 0 when the share picked none)"
    )
    sets: list[PatchSet] = most(
        "patch_sets",
        description="kinds: the top-k by sigma, by excess and by the leading ranking (kind = its measure), k random "
        "channels in the leading top-k's layer counts (random) and k of similar clean mean |F| in its layers "
        "(magnitude), one layer's own top eighth by the leading ranking (layer), and the converse (the leading "
        "top-k's adversarial values patched into the clean pass)",
    )
    controls: Omittable[list[PatchControlSummary]] = most(
        "controls",
        default=None,
        description="per matched control (random: same layer counts; magnitude: similar clean |F|) and k, damage "
        "undone over its draws; a k with no entry had no control that fits outside its top-k; absent in folders "
        "from before",
    )
