"""A bound on every list and every open object of results.json, checked before ``validate`` reads it.

A folder from someone else can be small and still cost hours or gigabytes to render: 120 matched
layers (190 KB) drew a 15,000 px CKA heat map (7.2 GB), 40,000 warnings a 3,365-page PDF, one
1500 x 1500 neuron grid six minutes of validation. So each container the schema allows (an array, or
an object with free keys) has a limit here, named by its schema path (``matching.per_layer.*.r``:
``*`` a free key, ``[]`` a list entry). A limit is what the engine writes for the folder's own
settings (each clamped to the range a run accepts), or a fixed maximum of the engine, so an honest
folder always passes; a test walks the schema and finds no container without one. Lists the schema
already ties to ``config.eps`` (``x-per-eps``, ``x-eps-keys``), to ``classes`` or to the attacks
are bounded by those here too, before the schema's exact rule.

The walk follows the schema and the document together, checking a container's length before it
looks inside, so 50,000 cards cost one ``len``. What is not a list or object where the schema wants
one is left for ``validate`` to name.
"""

from __future__ import annotations

import re
from typing import Any

from rnnviz.common.errors import UsageError
from rnnviz.common.names import ATTACKS, MAX_CANDIDATES, MODELS, RECIPES, SUBSET_FRACTIONS
from rnnviz.report.validate.schema_check import field
from rnnviz.results.schema import resolve, schema
from rnnviz.settings.config import INT_BOUNDS, MAX_CLASSES, MAX_EPS
from rnnviz.settings.patching import MAX_LADDER, most_sets, patch_ladder
from rnnviz.settings.replicas import MAX_REPLICAS

LABELS_MAX = 1000  # the largest label set rnnviz reads (ImageNet-1k): classes a prediction can name
LAYERS_MAX = 1000  # module paths a run can list
CHANNELS_MAX = 16384  # channels of one layer: wider than any torchvision classifier's (regnet_y_128gf: 7392)
NEURONS_MAX = 1000  # --neurons LAYER:CH entries
INPUT_MAX = 4096  # pixels on an input's side (rnnviz.models.input_size.MAX_SIZE): a neuron grid's side
NOTES_PER_MODEL = 4  # a model's loading notes and the --trust-pickle note
KEYS_MAX = 64  # stage timings, environment entries, CSV tables: a few dozen names the engine writes
CONTROLS = ("noise", "gauss")  # the pseudo-attacks measured beside the attacks (noise_match sizes)

# schema path -> limit name (``bounds``); x-per-eps, x-eps-keys, x-class-names, x-attack-keys and
# maxItems bound the rest (``_implied``)
LIMITS = {
    "config.classes": "classes_max",
    "config.eps": "eps_max",
    "config.attack": "attacks_max",
    "config.recipes": "recipes_max",
    "config.layers": "layers_max",
    "config.neurons": "neurons_max",
    "config.replicate": "replicate_specs",
    "classes": "classes_max",
    "layer_sensitivity.*[]": "layers",
    "top_channels.*[]": "top_k",
    "ranking.*[].top": "top_k",
    "ranking.*[].candidates": "candidates",
    "ranking.*[].layers": "layers",
    "ranking.*[].per_class.*.top": "top_k",
    "ranking.*[].convergence": "convergence",
    "ranking.*[].confound.sigma": "layers",
    "ranking.*[].confound.measure": "layers",
    "channel_max_activation.*": "top_per_model",
    "neuron_sensitivity.*[]": "neurons",
    "neuron_sensitivity.standard[].*": "side_standard",
    "neuron_sensitivity.standard[].*[]": "side_standard",
    "neuron_sensitivity.robust[].*": "side_robust",
    "neuron_sensitivity.robust[].*[]": "side_robust",
    "patching.*[].sets": "patch_sets",
    "patching.*[].sets[].layers": "layers",
    "examples": "examples",
    "renders": "renders",
    "renders[].diversity": "diversity",
    "data_files": "keys",
    "warnings": "warnings",
    "environment": "keys",
    "timings": "keys",
    "attacks.names": "attacks_max",
    "attacks.top.*.*[]": "top_k",
    "attacks.overlap.*.conditions": "conditions",
    "attacks.overlap.*.jaccard": "conditions",
    "attacks.overlap.*.jaccard[]": "conditions",
    "attacks.overlap.*.spearman": "conditions",
    "attacks.overlap.*.spearman[]": "conditions",
    "attacks.overlap.*.expected_jaccard": "conditions",
    "attacks.fgsm_curve.*": "fgsm_grid",
    "attacks.collapse.*.*[].confusion.rows": "classes",
    "attacks.collapse.*.*[].confusion.cols": "classes_and_other",
    "attacks.collapse.*.*[].confusion.counts": "classes",
    "attacks.collapse.*.*[].confusion.counts[]": "classes_and_other",
    "attacks.collapse.*.*[].dominant": "labels",
    "attacks.collapse.*.*[].rising": "classes",
    "attacks.warnings": "attack_warnings",
    "exemplars.*": "cards",
    "exemplars.*.*.clean": "exemplars",
    "exemplars.*.*.change.*": "exemplars",
    "noise_match": "models",
    "noise_match.*.sizes[]": "perturbations",
    "primary_attack.listed": "attacks_max",
    "primary_attack.accuracy_at_largest_eps": "attacks_max",
    "primary_attack.accuracy_at_largest_eps.*": "models",
    "source.counts": "classes",
    "matching.layers": "layers",
    "matching.cka": "layers",
    "matching.cka[]": "layers",
    "matching.per_layer": "layers",
    "matching.per_layer.*.channels": "models",
    "matching.per_layer.*.partner": "channels",
    "matching.per_layer.*.r": "channels",
    "matching.top": "models",
    "matching.top.*": "eps",
    "matching.top.*[]": "top_k",
    "replication.pairs": "pairs",
    "replication.pairs[].top.*[]": "top_k",
    "replication.pairs[].overlap.*[].mapped": "top_k",
    "replication.pairs[].overlap.*[].second_top": "top_k",
}
_MODEL = re.compile(r"\.(?:" + "|".join(MODELS) + r")(?=[.\[]|$)")
_IMPLIED = {"x-per-eps": "eps", "x-eps-keys": "eps", "x-class-names": "classes", "x-attack-keys": "attacks_max"}


def check_sizes(results: Any) -> None:
    """Refuse the first list or object of ``results`` longer than its limit, in one line naming it."""
    _walk(results, schema(), "", (), bounds(results))


def bounds(results: Any) -> dict[str, tuple[int, str]]:
    """Limit name -> (the most entries, what sets it: words after "more than the N")."""
    results = _obj(results)
    config = _obj(results.get("config"))
    n_eps = min(_len(config.get("eps")), MAX_EPS)
    n_classes = min(_len(config.get("classes")), MAX_CLASSES)
    n_layers = min(_len(config.get("layers")) or LAYERS_MAX, LAYERS_MAX)
    top_k = setting(config, "top_k")
    n_recipes = min(_len(config.get("recipes")) or len(RECIPES), len(RECIPES))
    ex = _obj(results.get("exemplars")).get("n")
    per_list = min(ex if isinstance(ex, int) and not isinstance(ex, bool) else 0, setting(config, "exemplars"))
    try:
        ladder = len(patch_ladder(config.get("patch", "")))
    except (UsageError, TypeError, AttributeError):
        ladder = MAX_LADDER
    conditions = (len(ATTACKS) + 1) * n_eps
    own = "its config can produce"
    return {
        "eps": (n_eps, "config.eps lists"),
        "eps_max": (MAX_EPS, "values a run's --eps takes"),
        "classes": (n_classes, "config.classes lists"),
        "classes_and_other": (n_classes + 1, "config.classes lists, plus 'other'"),
        "classes_max": (MAX_CLASSES, "classes a run's --classes takes"),
        "labels": (LABELS_MAX, "classes of the largest label set rnnviz reads"),
        "attacks_max": (len(ATTACKS), f"attacks rnnviz has ({', '.join(ATTACKS)})"),
        "recipes_max": (len(RECIPES), f"recipes rnnviz has ({', '.join(RECIPES)})"),
        "perturbations": (len(ATTACKS) + len(CONTROLS), "attacks and controls rnnviz measures"),
        "models": (len(MODELS), f"models of a pair ({', '.join(MODELS)})"),
        "layers": (n_layers, "layers config.layers lists" if _len(config.get("layers")) else "layers a run lists"),
        "layers_max": (LAYERS_MAX, "layers a run lists"),
        "channels": (CHANNELS_MAX, "channels of the widest layer rnnviz knows"),
        "neurons": (min(_len(config.get("neurons")), NEURONS_MAX), "channels config.neurons lists"),
        "neurons_max": (NEURONS_MAX, "channels --neurons may list"),
        **{f"side_{m}": (_side(results, m), f"pixels on a side of models.{m}.input_size") for m in MODELS},
        "top_k": (top_k, "config.top_k allows"),
        "top_per_model": (top_k * n_eps, own),
        "candidates": (MAX_CANDIDATES, "near misses a ranking lists"),
        "convergence": (len(SUBSET_FRACTIONS) + 1, "subset fractions a ranking is checked at"),
        "cards": (top_k * n_eps, own),
        "exemplars": (per_list, own),
        "examples": (n_classes * setting(config, "n_examples"), own),
        "renders": (len(MODELS) * top_k * n_eps * n_recipes, own),
        "diversity": (setting(config, "diversity"), own),
        "patch_sets": (most_sets(ladder, setting(config, "patch_draws"), n_layers), own),
        "fgsm_grid": (setting(config, "fgsm_grid"), "points of config.fgsm_grid"),
        "conditions": (conditions, "attack and noise conditions of config.eps"),
        "keys": (KEYS_MAX, "names rnnviz writes there"),
        # per model its notes, one per class the sample holds too few of, one line of skipped files
        "warnings": (len(MODELS) * NOTES_PER_MODEL + n_classes + 1, own),
        # a collapse sentence per attack, model, eps and class it names (at most two dominate: >= 50% each)
        "attack_warnings": (len(ATTACKS) * len(MODELS) * n_eps * (n_classes + 2), own),
        "pairs": (1 + MAX_REPLICAS, f"pairs a run writes (its own and --replicate's at most {MAX_REPLICAS})"),
        "replicate_specs": (2 * MAX_REPLICAS, "model specs --replicate takes"),
    }


def setting(config: dict, name: str) -> int:
    """An integer setting, clamped to the range a run accepts (its ceiling when absent or not an int)."""
    low, high = INT_BOUNDS[name]
    value = config.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        return high
    return max(low, min(value, high))


def containers(node: Any = None, path: str = "", seen: tuple = ()):
    """(schema path, node) of every array and every object with free keys in the schema (for the test
    that each has a limit); ``$ref`` cycles are followed once."""
    node = schema() if node is None else node
    if isinstance(node, dict) and "$ref" in node:
        name = node["$ref"]
        if name in seen:
            return
        seen, node = (*seen, name), resolve(node)
    if not isinstance(node, dict):
        return
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "array" in kinds or isinstance(node.get("additionalProperties"), dict):
        yield path, node
    for name, child in node.get("properties", {}).items():
        yield from containers(child, _join(path, name), seen)
    if isinstance(node.get("additionalProperties"), dict):
        yield from containers(node["additionalProperties"], _join(path, "*"), seen)
    if isinstance(node.get("items"), dict):
        yield from containers(node["items"], path + "[]", seen)
    for child in node.get("prefixItems", []):
        yield from containers(child, path + "[]", seen)


def limit_of(path: str, node: dict) -> str | int | None:
    """The limit name of a container, or its fixed ``maxItems``; None where it has none."""
    for key in (path, _MODEL.sub(".*", path)):  # what holds for one model's entry holds for the other's
        if key in LIMITS:
            return LIMITS[key]
    implied = next((name for key, name in _IMPLIED.items() if node.get(key)), None)
    return implied if implied is not None else node.get("maxItems")


def _walk(value: Any, node: Any, path: str, at: tuple, limits: dict) -> None:
    node = resolve(node)
    if not isinstance(node, dict) or not isinstance(value, (dict, list)):
        return
    limit = limit_of(path, node)
    if limit is not None:
        most, why = limits[limit] if isinstance(limit, str) else (limit, "the schema allows")
        if len(value) > most:
            raise UsageError(
                f"results.json: {field(at)[:140]} has {entries(len(value))}, more than the {most} {why}: "
                "the folder was not written by rnnviz as it stands"
            )
    if isinstance(value, list):
        items, prefix = node.get("items"), node.get("prefixItems", [])
        for i, entry in enumerate(value):
            _walk(entry, prefix[i] if i < len(prefix) else items, path + "[]", (*at, i), limits)
        return
    named, free = node.get("properties", {}), node.get("additionalProperties")
    for key, entry in value.items():
        if key in named:
            _walk(entry, named[key], _join(path, key), (*at, key), limits)
        elif isinstance(free, dict):
            _walk(entry, free, _join(path, "*"), (*at, str(key)), limits)


def entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _side(results: dict, model: str) -> int:
    size = _obj(_obj(results.get("models")).get(model)).get("input_size")
    return min(size, INPUT_MAX) if isinstance(size, int) and not isinstance(size, bool) and size > 0 else INPUT_MAX


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _len(value) -> int:
    return len(value) if isinstance(value, (list, dict)) else 0
