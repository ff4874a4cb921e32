"""The names engine and renderer share: one home each, and no torch import (the renderer's
colours and markers live in ``rnnviz.report.figures.look``).

results.json carries these strings; the report, the CLI, the config check and the test
fixture all read them from here.
"""

from __future__ import annotations

import math
import re
from typing import Literal, get_args

BIG = 1e12  # results.json holds no larger magnitude (schema.json's bounds; keeps axis limits finite)
SCHEMA_VERSION = 5  # of results.json; bump on any rename (docs/results-schema.md)
# Each vocabulary below is a Literal (the type results.json's models use, rnnviz.results.model) and
# its tuple of names, read from the Literal so the two cannot differ (typed str: callers index dicts by
# any str).
ModelRole = Literal["standard", "robust"]  # the two roles of a pair, in the order the report shows them
MODELS: tuple[str, ...] = get_args(ModelRole)
# --attack takes a list; the first drives ranking and patching
AttackName = Literal["fgsm", "pgd", "pgd-l2", "apgd", "apgd-t"]
ATTACKS: tuple[str, ...] = get_args(AttackName)
NormName = Literal["linf", "l2"]  # the unit of an attack's eps
NORMS: dict[str, NormName] = {"fgsm": "linf", "pgd": "linf", "pgd-l2": "l2", "apgd": "linf", "apgd-t": "linf"}
# --strong-attack: the strong evaluation (APGD-CE then APGD-T on the images every analysis attack left
# right, rnnviz.measures.strong) as (iterations, APGD-T target classes): AutoAttack's standard version,
# a cheaper default (sized so the demo costs at most about 1.5x its time without it), or off. An
# analysis APGD (--attack apgd / apgd-t) takes the same numbers (fast where the evaluation is off).
# fast: about 40 gradient steps per image still standing (the demo's robust model keeps ~90% of 300
# images under FGSM at eps 0.05 and 0.1, and one fwd+bwd of its net costs ~1 ms per image on 2 cores)
ApgdVersion = Literal["fast", "standard"]
APGD_VERSIONS: dict[str, tuple[int, int]] = {"fast": (20, 1), "standard": (100, 9)}
StrongVersion = Literal[ApgdVersion, "off"]
STRONG_VERSIONS: tuple[str, ...] = get_args(StrongVersion)
StrongComponent = Literal["apgd-ce", "apgd-t"]  # results.json's names of its attacks, in the order they run
STRONG_COMPONENTS: tuple[str, ...] = get_args(StrongComponent)
LABELS_MAX = 1000  # the largest label set rnnviz reads (ImageNet-1k): classes a prediction can name
MAX_CANDIDATES = 10  # channels outside a ranking's top-k listed as near misses (ranking[].candidates)
SUBSET_FRACTIONS = (0.1, 0.25, 0.5)  # nested random subsets for "has the ranking settled?" (rnnviz.sweep.bootstrap)
Recipe = Literal["lucid", "raw", "accent"]  # feature-visualization recipes (rnnviz.channels.featvis)
RECIPES: tuple[str, ...] = get_args(Recipe)
ExemplarPool = Literal["all", "chosen"]  # where card exemplars come from (rnnviz.data.pool)
EXEMPLAR_POOLS: tuple[str, ...] = get_args(ExemplarPool)
Quality = Literal["none", "draft", "standard", "high"]  # "none" skips rendering
QUALITIES: tuple[str, ...] = get_args(Quality)
RenderStop = Literal["target", "plateau", "cap"]  # why a render stopped (rnnviz.channels.featvis.loop)
STOPS: tuple[str, ...] = get_args(RenderStop)
# What a channel ranking ranks by (rnnviz.measures.rank_measures), the default first, and in words
RankMeasure = Literal["zscore", "relative-excess", "excess", "relative", "sigma"]
RANK_BY: tuple[str, ...] = get_args(RankMeasure)
RANK_WORDS = {
    "sigma": "σ",
    "excess": "excess σ − σ_noise",
    "relative": "relative σ (σ / clean mean |F|)",
    "relative-excess": "relative excess (σ − σ_noise) / clean mean |F|",
    "zscore": "excess over matched noise standardised within each layer, (σ − σ_noise − layer mean) / layer SD",
}
RANK_NAMES = {  # what a ranking picks, in words for sentences; the formula (RANK_WORDS) is printed once, in the method
    "sigma": "largest σ",
    "excess": "largest change beyond matched noise",
    "relative": "largest σ relative to their clean size",
    "relative-excess": "largest change beyond matched noise relative to their clean size",
    "zscore": "each layer's outliers beyond matched noise",
}
# Patching's matched controls of the leading top-k (rnnviz.measures.patch_plan), in the order the report names them
PatchControl = Literal["random", "magnitude"]
PATCH_CONTROLS: tuple[str, ...] = get_args(PatchControl)


def channel_key(layer: str, channel: int) -> str:
    """``("layer3.1", 17)`` -> ``"layer3.1:17"``: how results.json, ``--neurons`` and the cards name a channel."""
    return f"{layer}:{int(channel)}"


def parse_channel_key(key: str) -> tuple[str, int]:
    """``"layer3.1:17"`` -> ``("layer3.1", 17)``; the split is at the last colon (a layer path has none)."""
    layer, sep, channel = key.rpartition(":")
    if not sep or not layer or not channel.strip().isdigit():
        raise ValueError(f"{key!r} is not a 'layer:channel' key")
    return layer, int(channel)


def eps_key(eps: float) -> str:
    """``0.1`` -> ``"0.1"``: how results.json keys a per-eps entry of a mapping (the cards' change
    lists, the schema's ``x-eps-keys``): ``repr`` of the float, so every distinct eps has its own key."""
    return repr(float(eps))


def slug(text: str) -> str:
    """A file-name-safe, lower-case form of ``text`` (``layer3.1`` -> ``layer3-1``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def layer_order(configured: list[str] | None, layers) -> list[str]:
    """``layers`` in the configured (network) order, then any the config does not list."""
    present = list(dict.fromkeys(layers))
    known = [layer for layer in configured or [] if layer in present]
    return known + [layer for layer in present if layer not in known]


def non_monotone(accuracy: list[float], eps: list[float]) -> list[tuple[int, int]]:
    """Index pairs (a, b) of neighbouring eps (a < b) where accuracy rises with eps.

    FGSM is not monotone in eps (one linear step can overshoot); the report says so where it happens.
    """
    order = sorted(range(len(eps)), key=lambda i: eps[i])
    return [
        (a, b)
        for a, b in zip(order, order[1:])
        if accuracy[b] > accuracy[a] + 1e-9 and not math.isclose(eps[a], eps[b])
    ]


# The eps part of a file name, from the eps *value* as the run spelled it: ``gallery_eps-0.05_lucid.png``
# says which eps it shows; an index (``gallery_eps1``) changes meaning with the eps list.
def eps_slug(eps: str | float) -> str:
    """``0.05`` -> ``eps-0.05``, ``"4/255"`` -> ``eps-4_255``: file-name safe, the display form kept."""
    text = eps if isinstance(eps, str) else f"{eps:g}"
    return "eps-" + (re.sub(r"[^0-9A-Za-z.+-]+", "_", text.strip()).strip("_") or "x")


def eps_slugs(config: dict) -> list[str]:
    """One slug per eps of ``config`` (its ``eps_labels``), unique: a clash gets the index appended."""
    labels = config.get("eps_labels") or [f"{e:g}" for e in config["eps"]]
    out: list[str] = []
    for i, label in enumerate(labels):
        s = eps_slug(label)
        out.append(f"{s}-{i}" if s in out else s)
    return out


SPEC_KINDS = ("builtin", "torchvision", "random", "http", "https")  # model specs other than a file path


def shown_spec(spec: str | None) -> str | None:
    """How results.json and the report name a model spec: a checkpoint file by its file name alone
    (its sha256, recorded beside it, identifies it), never a path of this machine; others as given."""
    if spec is None or spec.partition(":")[0] in SPEC_KINDS:
        return spec
    return spec.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
