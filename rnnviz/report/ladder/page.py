"""What ladder.html shows, already in words: the summary sentences, the models table and the
galleries. Every number is one of ``numbers``' (which are the pair folders' own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnviz.report.ladder.numbers import Estimate, RungNumbers, strongest_name
from rnnviz.report.ladder.trend import plain_number, ratio, values, verdict
from rnnviz.report.text.format import NORM_NAMES, pct
from rnnviz.report.text.patch_numbers import SPREAD
from rnnviz.results.model import Results
from rnnviz.results.model.ladder import Ladder


@dataclass(frozen=True)
class LadderView:
    root: Path
    ladder: Ladder
    pairs: list[Results]  # pairs[j] holds rung j + 1 against rung 0
    rows: list[RungNumbers]  # rows[j]: rung j's numbers
    focus: int  # the eps index the galleries and descriptions use
    figures: dict[str, Path]
    colours: list[str]


def page_context(view: LadderView, uri) -> dict:
    first, rungs = view.pairs[0], view.ladder.rungs
    return {
        "title": f"Robustness ladder: {len(rungs)} models trained at ε "
        + ", ".join(f"{r.train_eps:g}" for r in rungs)
        + f" ({NORM_NAMES.get(view.ladder.train_norm, view.ladder.train_norm)})",
        "created": view.ladder.created.replace("T", " ")[:16],
        "setup": _setup(view),
        "caveats": [f"{r.label} (training ε {r.train_eps:g}): {r.note}" for r in rungs if r.note],
        "summary": summary(view),
        "figures": {k: uri(p) for k, p in view.figures.items()},
        "strongest": strongest_name(first),
        "focus_eps": first.config.eps_labels[view.focus],
        "models": _models_table(view),
        "galleries": [_gallery(view, j, uri) for j in range(len(rungs))],
        "eps_labels": first.config.eps_labels,
    }


def summary(view: LadderView) -> list[str]:
    """Page 1's sentences: accuracy, the sigma ratio and patching per eps (trend claimed within the
    intervals), then the measures without an interval described at the focus eps."""
    eps = view.pairs[0].config.eps_labels
    said = []
    for i in range(1, len(eps)):
        said.append(_trend(view, f"Accuracy under attack at ε = {eps[i]}", [r.accuracy[i] for r in view.rows], pct))
    for i in range(1, len(eps)):
        said.append(_trend(view, f"The σ ratio at ε = {eps[i]}", [r.sigma_ratio[i] for r in view.rows], ratio))
    for i in range(1, len(eps)):
        said.append(_patching(view, i))
    said += [_noise(view), _cka(view), _smoothness(view)]
    return [s for s in said if s]


def _points(view: LadderView, values_: list[Estimate | None]) -> list[tuple[str, Estimate]]:
    return [(f"{r.train_eps:g}", v) for r, v in zip(view.ladder.rungs, values_) if v is not None]


def _trend(view: LadderView, what: str, values_: list[Estimate | None], form) -> str | None:
    points = _points(view, values_)
    if len(points) < 2:
        return None
    return f"{what} {verdict(points)}: {values(points, form)}."


def _patching(view: LadderView, i: int) -> str | None:
    undone = [r.undone[i] for r in view.rows]
    points = _points(view, [u.undone if u else None for u in undone])
    eps = view.pairs[0].config.eps_labels[i]
    if len(points) < 2:
        return None
    ks = sorted({u.k for u in undone if u})
    randoms = _points(view, [u.random if u else None for u in undone])
    spread = f"{SPREAD} range over the draws"
    control = f"; k random channels of the same layers undo {values(randoms, pct)} ({spread})" if randoms else ""
    return (
        f"Restoring the top {'/'.join(map(str, ks))} channels at ε = {eps} undoes a share of the attack's damage that "
        f"{verdict(points)}: {values(points, pct)}{control}."
    )


def _noise(view: LadderView) -> str | None:
    points = _points(view, [r.noise_share[view.focus] for r in view.rows])
    if not points:
        return None
    eps = view.pairs[0].config.eps_labels[view.focus]
    return (
        f"Random noise of the attack's size gives the top channels a mean σ_noise / σ at ε = {eps} of "
        f"{values(points, pct)} (range over the top channels, not an interval: no trend is claimed)."
    )


def _cka(view: LadderView) -> str | None:
    deepest = [(r.train_eps, list(n.cka.items())[-1]) for r, n in zip(view.ladder.rungs, view.rows) if n.cka]
    if not deepest:
        return None
    layer = deepest[0][1][0]
    said = ", ".join(f"{plain_number(v)} at {e:g}" for e, (_, v) in deepest)
    return (
        f"Linear CKA with the least robust model at the deepest layer analysed ({layer}): {said} "
        "(one number per pair, no interval: described, not tested)."
    )


def _smoothness(view: LadderView) -> str | None:
    points = _points(view, [r.smoothness for r in view.rows])
    if len(points) < 2:
        return None
    eps = view.pairs[0].config.eps_labels[view.focus]
    return (
        f"The top channels' renders at ε = {eps} have a high-frequency share (lower: smoother) of "
        f"{values(points, pct)} (range over the channels; described, not tested)."
    )


def _setup(view: LadderView) -> str:
    first = view.pairs[0]
    classes = ", ".join(c.name for c in first.classes)
    return (
        f"Each model is attacked on the same {first.n_images} test images ({classes}) under "
        f"{strongest_name(first)} and compared with the least robust one, {view.ladder.rungs[0].label}, in a pair "
        "run of its own (pairs/ holds each pair's folder and report). The σ ratio is the least robust model's mean "
        "relative σ over this model's (above 1: this model's channels move less). A change along the ladder is "
        "called a rise or a fall only where the 95% intervals of neighbouring models part (Wilson for accuracy, "
        "paired bootstrap for the σ ratio and patching)."
    )


def _models_table(view: LadderView) -> list[dict]:
    rows = []
    for j, (rung, numbers) in enumerate(zip(view.ladder.rungs, view.rows)):
        rows.append(
            {
                "label": rung.label,
                "train_eps": f"{rung.train_eps:g}",
                "published": "–" if rung.published is None else f"{rung.published:.2f}%",
                "clean": pct(numbers.accuracy[0].value),
                "strongest": [pct(e.value) for e in numbers.accuracy],
                "report": f"{rung.folder}/report.html" if rung.folder else None,
                "colour": view.colours[j],
            }
        )
    return rows


def _gallery(view: LadderView, j: int, uri) -> dict:
    """Rung j's top channels at the focus eps with their lucid renders (from the pair folder it is in)."""
    pair, role = (view.pairs[0], "standard") if j == 0 else (view.pairs[j - 1], "robust")
    folder = view.root / str(view.ladder.rungs[max(j, 1)].folder)
    entry = pair.ranking.of(role)[view.focus]
    renders = {(r.layer, r.channel): r for r in pair.renders if r.model == role and r.recipe == "lucid"}
    tiles = []
    for row in entry.top if entry else []:
        render = renders.get((row.layer, row.channel))
        image = uri(folder / render.image) if render and not render.dead else None
        tiles.append({"name": f"{row.layer} ch{row.channel}", "image": image, "sigma": f"{row.sensitivity:.3g}"})
    rung = view.ladder.rungs[j]
    return {"label": rung.label, "train_eps": f"{rung.train_eps:g}", "tiles": tiles, "colour": view.colours[j]}
