"""The galleries' measured sentences: how many renders reached their target, and how textured each
model's renders are under each recipe.

A recipe's own prior shapes its renders: lucid's decorrelated 1/f parameterization and jitter favour
smooth images for any model, so a difference under it may be the prior meeting the model, not the
model alone. Each recipe's comparison is stated for that recipe, with the share of spectral power
above ``spectrum.CUTOFF`` cycles per pixel of each render (``high_frequency_share``) and a bootstrap
interval over the rendered channels; only a prior-free recipe (raw) speaks for the models themselves.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS
from rnnviz.common.spectrum import CUTOFF, LEVEL, compare
from rnnviz.results.model import Results
from rnnviz.results.model.pictures import Render


def comparisons(renders: list[Render]) -> dict[str, dict]:
    """recipe -> ``spectrum.compare`` of its live renders (standard minus robust); recipes with
    fewer than two measured renders per model are left out."""
    out: dict[str, dict] = {}
    live = [r for r in renders if not r.dead and r.high_frequency_share is not None]
    for recipe in dict.fromkeys(r.recipe for r in live):
        of = {m: [r for r in live if r.model == m and r.recipe == recipe] for m in MODELS}
        shares = {m: [r.high_frequency_share for r in rs if r.high_frequency_share is not None] for m, rs in of.items()}
        found = compare(shares["standard"], shares["robust"])
        if found is not None:
            out[recipe] = found
    return out


def texture_sentence(renders: list[Render]) -> str:
    """One sentence per recipe: the two means, their difference and its interval, and what that says."""
    found = comparisons(renders)
    if not found:
        return "Too few renders to compare how textured the two models' renders are."
    head = (
        f"Measured on these renders (the share of each render's spectral power above {CUTOFF:g} cycles per pixel, "
        "periods under 4 px: lower means smoother, larger shapes, higher means finer texture; mean over the "
        f"rendered channels, standard minus robust, {LEVEL:.0%} bootstrap interval over channels):"
    )
    parts = [_one(recipe, c) for recipe, c in found.items()]
    return f"{head} {'; '.join(parts)}."


def _one(recipe: str, c: dict) -> str:
    numbers = (
        f"{recipe} recipe, standard {c['standard_mean']:.2f} vs robust {c['robust_mean']:.2f} "
        f"(difference {c['difference']:+.2f}, {c['low']:+.2f} to {c['high']:+.2f}; "
        f"{c['n_standard']} and {c['n_robust']} channels)"
    )
    if c["low"] > 0:
        verdict = "the robust model's renders are smoother under this recipe"
    elif c["high"] < 0:
        verdict = "the robust model's renders are more textured under this recipe"
    else:
        verdict = "no difference this run can resolve"
    return f"{numbers}: {verdict}{PRIORS.get(recipe, '')}"


PRIORS = {  # what each recipe adds of its own, so a difference is not read as the model's alone
    "lucid": " (lucid's 1/f parameterization and jitter are a smoothing prior of their own)",
    "raw": " (raw gradient ascent in pixel space: no prior, the models' own preference)",
    "accent": " (accent starts from a real image: it inherits that image's texture)",
}


def targets_sentence(results: Results, i: int, recipe: str) -> str:
    """The caption's convergence sentence: both models' renders share one target, and how many reached it."""
    counts = []
    for m in MODELS:
        shown = {(c.layer, c.channel) for c in results.top_channels.of(m)[i]}
        rs = [r for r in results.renders if r.model == m and r.recipe == recipe and not r.dead]
        rs = [r for r in rs if (r.layer, r.channel) in shown and r.stop is not None]
        if rs:
            hit = sum(r.stop == "target" for r in rs)
            counts.append(f"{hit} of {len(rs)} {m} renders reached it")
    if not counts:
        return ""
    return (
        "Every render was optimized towards the same target, its channel's best real image (1×), stopping "
        "there, when its activation stopped rising (plateau) or at the step cap: " + "; ".join(counts) + "."
    )
