"""Budgets for untrusted results folders: no list or object longer than the folder's own settings
could make (``check_counts``, before ``validate``), and no more bytes read and embedded than
``--max-embed-mb`` allows (``check_bytes``, after it); both before anything is rendered.

A folder from someone else can be small and still cost hours or gigabytes: 30 cards naming one
7.7 MB PNG once gave a 1.2 GB report.html, 50,000 copies of one card 6 GB of memory, 120 matched
layers (190 KB) a 7.2 GB CKA map, 40,000 warnings a 3,365-page PDF, a 1500 x 1500 neuron grid six
minutes of validation. So every container the schema allows (an array, or an object with free keys)
carries a limit: ``x-most`` names one of ``bounds`` (what the engine writes for the folder's own
settings, each clamped to the range a run accepts, or a fixed maximum of the engine); a list the
schema ties to ``config.eps`` (``x-per-eps``) or gives a ``maxItems`` is bounded by that, and an
object whose keys must be eps, class or attack names (``KEYED``) by those names. An honest folder
always passes; a test walks the schema and finds no container without a limit. The walk follows the
schema and the document together and checks a container's length before it looks inside, so 50,000
cards cost one ``len``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from rnnviz.common.errors import UsageError
from rnnviz.common.names import (
    ATTACKS,
    LABELS_MAX,
    MAX_CANDIDATES,
    MODELS,
    PATCH_CONTROLS,
    RECIPES,
    SUBSET_FRACTIONS,
)
from rnnviz.report.validate.cards import picture
from rnnviz.report.validate.schema_check import field as field_name
from rnnviz.results.schema import resolve, schema
from rnnviz.settings.config import INT_BOUNDS, MAX_CLASSES, MAX_EPS
from rnnviz.settings.patching import MAX_LADDER, most_sets, patch_ladder
from rnnviz.settings.replicas import MAX_REPLICAS

DEFAULT_EMBED_MB = 300.0  # an honest report embeds a few MB; the flag raises this
BASE64 = 4 / 3  # bytes of a data: URI per byte of the file

LAYERS_MAX = 1000  # module paths a run can list
CHANNELS_MAX = 16384  # channels of one layer: wider than any torchvision classifier's (regnet_y_128gf: 7392)
NEURONS_MAX = 1000  # --neurons LAYER:CH entries
INPUT_MAX = 4096  # pixels on an input's side (rnnviz.models.input_size.MAX_SIZE): a neuron grid's side
NOTES_PER_MODEL = 4  # a model's loading notes and the --trust-pickle note
KEYS_MAX = 64  # stage timings, environment entries, CSV tables: a few dozen names the engine writes
CONTROLS = ("noise", "gauss")  # the pseudo-attacks measured beside the attacks (noise_match sizes)

KEYED = ("x-eps-keys", "x-class-names", "x-attack-keys")  # objects whose keys come from a bounded list
NAMED_KEYS = "named keys"  # the limit of a KEYED object: validate refuses a key not on its list


def check_json_size(path: Path, max_embed_mb: float | None = None) -> None:
    """results.json alone must fit the byte budget (checked before it is parsed)."""
    limit = _limit(max_embed_mb)
    size = os.stat(path).st_size
    if size > limit:
        raise UsageError(
            f"results.json is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB a report may read "
            "(--max-embed-mb raises it): a results folder from rnnviz holds a few MB"
        )


def check_counts(results: Any) -> None:
    """Refuse the first list or object of ``results`` longer than its limit, in one line naming it.

    Runs before ``validate`` (whose per-entry checks would take minutes on 50,000 cards), so it
    reads types defensively: what is not a list or object where the schema wants one is validate's
    to name.
    """
    _walk(results, schema(), (), bounds(results))


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
        # a model's top-k at every eps, and for the robust model also the partners of the standard top-k
        "shown_per_model": (len(MODELS) * top_k * n_eps, own),
        "candidates": (MAX_CANDIDATES, "near misses a ranking lists"),
        "convergence": (len(SUBSET_FRACTIONS) + 1, "subset fractions a ranking is checked at"),
        "cards": (top_k * n_eps, own),
        "exemplars": (per_list, own),
        "examples": (n_classes * setting(config, "n_examples"), own),
        # each model's top-k, plus the robust partners of the standard top-k (the matched-pairs gallery)
        "renders": ((len(MODELS) + 1) * top_k * n_eps * n_recipes, own),
        "controls": (len(PATCH_CONTROLS) * ladder, own),
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


def limit_of(node: dict) -> str | int | None:
    """A container's limit: the name of one of ``bounds``, its fixed ``maxItems``, ``NAMED_KEYS`` for an
    object whose keys must come from a bounded list; None where it has none."""
    if "x-most" in node:
        return node["x-most"]
    if node.get("x-per-eps"):
        return "eps"
    if any(node.get(key) for key in KEYED):
        return NAMED_KEYS
    return node.get("maxItems")


def _walk(value: Any, node: Any, at: tuple, limits: dict) -> None:
    node = resolve(node)
    if not isinstance(node, dict) or not isinstance(value, (dict, list)):
        return
    limit = limit_of(node)
    if limit is not None and limit != NAMED_KEYS:
        most, why = limits[limit] if isinstance(limit, str) else (limit, "the schema allows")
        if len(value) > most:
            raise UsageError(
                f"results.json: {field_name(at)[:140]} has {entries(len(value))}, more than the {most} {why}: "
                "the folder was not written by rnnviz as it stands"
            )
    if isinstance(value, list):
        items, prefix = node.get("items"), node.get("prefixItems", [])
        for i, entry in enumerate(value):
            _walk(entry, prefix[i] if i < len(prefix) else items, (*at, i), limits)
        return
    named, free = node.get("properties", {}), node.get("additionalProperties")
    for key, entry in value.items():
        if key in named:
            _walk(entry, named[key], (*at, key), limits)
        elif isinstance(free, dict):
            _walk(entry, free, (*at, str(key)), limits)


def entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _side(results: dict, model: str) -> int:
    size = _obj(_obj(results.get("models")).get(model)).get("input_size")
    return min(size, INPUT_MAX) if isinstance(size, int) and not isinstance(size, bool) and size > 0 else INPUT_MAX


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_bytes(results: dict, root: Path, max_embed_mb: float | None = None) -> None:
    """Refuse a validated folder whose pictures would take the report past the byte budget."""
    _bytes(results, Path(root), _limit(max_embed_mb))


def _bytes(results: dict, root: Path, limit: float) -> None:
    """Each distinct file is read once; each card reference embeds its file again (a data: URI)."""
    sizes: dict[Path, int] = {}
    total = float(os.stat(root / "results.json").st_size)
    for field, rel, embedded in _references(results):
        path = picture(root, rel)
        if path is None:
            continue
        key = path.resolve()
        if key not in sizes:
            st = os.stat(path)
            sizes[key] = st.st_size if stat.S_ISREG(st.st_mode) else 0
            total += sizes[key]
        if embedded:
            total += sizes[key] * BASE64
        if total > limit:
            raise UsageError(
                f"results.json: {field} takes the report past {limit / 1e6:.0f} MB read and embedded "
                f"(--max-embed-mb raises it): an rnnviz report embeds a few MB"
            )


def _references(results: dict):
    """(field, relative path, embedded as a data: URI) of every picture the renderer reads."""
    for j, ex in enumerate(results.get("examples", [])):
        yield f"examples[{j}].image", ex["image"], False
        for e, row in enumerate(ex["by_eps"]):
            for m in MODELS:
                for name in ("image", "perturbation"):
                    yield f"examples[{j}].by_eps[{e}].{m}.{name}", row[m].get(name), False
    by_channel: dict[tuple, list[str]] = {}
    for j, render in enumerate(results.get("renders", [])):
        yield f"renders[{j}].image", render["image"], False
        for d, rel in enumerate(render.get("diversity") or []):
            yield f"renders[{j}].diversity[{d}]", rel, False
        by_channel.setdefault((render["model"], render["layer"], render["channel"]), []).append(render["image"])
    ex = results.get("exemplars") or {}
    for m in MODELS:
        for key, card in (ex.get(m) or {}).items():
            field = f"exemplars.{m}.{key}"[:120]
            images = card["images"]
            bars = images["bars"]
            named = [images["clean"], bars["activation"], card["weights"]]
            named += list(images["change"].values()) + list(bars["change"].values())
            layer, _, channel = key.rpartition(":")
            named += by_channel.get((m, layer, int(channel)), [])
            for rel in named:
                yield field, rel, True


def _limit(max_embed_mb: float | None) -> float:
    mb = DEFAULT_EMBED_MB if max_embed_mb is None else max_embed_mb
    if not 0 < mb < 1e7:  # also refuses NaN
        raise UsageError(f"--max-embed-mb {mb:g} must be a positive number of megabytes, e.g. 1000")
    return mb * 1e6


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _len(value) -> int:
    return len(value) if isinstance(value, (list, dict)) else 0
