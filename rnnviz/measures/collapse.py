"""Collapse check: is a model's accuracy under attack real, or is it predicting one class for everything?

A model that maps every perturbed image to 'bag' scores 100% on the bags and looks robust on
that class; the prediction histogram and the confusion counts per eps show it. Pure numpy on the
predictions the sweep already keeps, so the renderer and tests can run it without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from rnnviz.common.intervals import wilson

Names = Callable[[int], str] | Mapping[int, str]
PROPPED_UP = 0.5  # warn of a collapse where accuracy is at least half the dominant class's share of the images
_ATTACK_TITLES = {
    "fgsm": "FGSM",
    "pgd": "PGD",
    "pgd-l2": "L2 PGD",
    "apgd": "APGD-CE",
    "apgd-t": "APGD-T",
    "noise": "noise",
}


def collapse_entries(
    pred: np.ndarray,
    labels: np.ndarray,
    class_indices: list[int],
    names: Names,
    top: int = 10,
    *,
    clean_index: int | None = 0,
) -> list[dict]:
    """results.json's per-eps "collapse" entries from predictions ``pred`` (n_eps, N) of images ``labels`` (N,).

    Every label must be one of ``class_indices`` (the confusion rows); predictions may be any class.

    "rising" compares each chosen class's accuracy at an eps with its accuracy at ``clean_index``
    (eps index 0, which the sweep always makes eps = 0; pass None where no eps is clean and "rising"
    stays empty). A class rises when the Wilson 95% low bound at that eps exceeds its clean accuracy.
    """
    pred, labels = np.asarray(pred), np.asarray(labels)
    if pred.ndim != 2 or pred.shape[1] != labels.shape[0]:
        raise ValueError(f"pred must be (n_eps, {labels.shape[0]}), got {pred.shape}")
    if not np.isin(labels, class_indices).all():
        raise ValueError(f"labels outside the chosen classes {class_indices}")
    name = names.__getitem__ if isinstance(names, Mapping) else names
    clean = None if clean_index is None else _per_class_correct(pred[clean_index], labels, class_indices)
    return [
        _entry(row, labels, class_indices, name, top, clean if i != clean_index else None) for i, row in enumerate(pred)
    ]


def collapse_warnings(
    entries: list[dict], eps: list[float], model: str, attack: str, *, clean_index: int | None = None
) -> list[str]:
    """One sentence per dominant or rising class at every nonzero eps, for the report's warnings.

    The clean accuracy a rise is measured from is the entry at ``clean_index`` (default: the first
    eps = 0, else index 0), the same one ``collapse_entries`` used.
    """
    if len(entries) != len(eps):
        raise ValueError(f"{len(entries)} collapse entries for {len(eps)} eps")
    if clean_index is None:
        clean_index = next((i for i, e in enumerate(eps) if e == 0), 0)
    clean = _accuracies(entries[clean_index]["confusion"])
    title = _ATTACK_TITLES.get(attack, attack)
    out: list[str] = []
    for entry, e in zip(entries, eps):
        if e == 0:
            continue
        where = f"{model} model, {title}, ε = {e:g}"
        shares = {p["class"]: p["share"] for p in entry["predicted"]}
        true_shares = _true_shares(entry["confusion"])
        accuracy = _overall(entry["confusion"])
        for cls in entry["dominant"]:
            # onto a sampled class it inflates accuracy and reads as robustness; where accuracy is far
            # below that class's share, or the class was not sampled, the pile-up only explains the errors
            # of a model the attack has beaten, which is expected and not worth a warning
            if cls not in true_shares or accuracy < PROPPED_UP * true_shares[cls]:
                continue
            what = ", not robustness"
            out.append(
                f"{where}: {shares[cls]:.0%} of all predictions are '{cls}' "
                f"({true_shares.get(cls, 0.0):.0%} of the images are) — a collapse onto one class{what}"
            )
        now = _accuracies(entry["confusion"])
        for cls in entry["rising"]:
            out.append(
                f"{where}: '{cls}' accuracy rises from {clean[cls]:.0%} (clean) to {now[cls]:.0%} "
                "— check the prediction histogram"
            )
    return out


def _overall(confusion: dict) -> float:
    """Accuracy over all images from the confusion counts (rows: true classes; the diagonal is right)."""
    counts = confusion["counts"]
    total = sum(sum(row) for row in counts)
    return sum(row[r] for r, row in enumerate(counts)) / total if total else 0.0


def _entry(row, labels, class_indices, name, top: int, clean: dict[int, tuple[int, int]] | None) -> dict:
    n = len(row)
    classes, counts = np.unique(row, return_counts=True)
    order = sorted(range(len(classes)), key=lambda k: (-counts[k], classes[k]))
    predicted = [
        {"class": name(int(classes[k])), "index": int(classes[k]), "count": int(counts[k]), "share": counts[k] / n}
        for k in order
    ]
    chosen = {c: i for i, c in enumerate(class_indices)}
    matrix = np.zeros((len(class_indices), len(class_indices) + 1), dtype=np.int64)
    cols = np.array([chosen.get(int(g), len(class_indices)) for g in classes], dtype=np.int64)
    rows = np.array([chosen[int(t)] for t in labels], dtype=np.int64)
    np.add.at(matrix, (rows, cols[np.searchsorted(classes, row)]), 1)
    dominant = [p["class"] for p in predicted if p["share"] >= max(0.5, 2 * np.count_nonzero(labels == p["index"]) / n)]
    rising = []
    if clean is not None:
        now = _per_class_correct(row, labels, class_indices)
        for c in class_indices:
            (correct, total), (clean_correct, clean_total) = now[c], clean[c]
            if total and clean_total and wilson(correct, total)[0] > clean_correct / clean_total:
                rising.append(name(c))
    shown = [name(c) for c in class_indices]
    return {
        "predicted": [{**p, "share": float(p["share"])} for p in predicted[:top]],
        "confusion": {"rows": shown, "cols": [*shown, "other"], "counts": matrix.tolist()},
        "dominant": dominant,
        "rising": rising,
    }


def _per_class_correct(row: np.ndarray, labels: np.ndarray, class_indices: list[int]) -> dict[int, tuple[int, int]]:
    """(correct, images) per chosen class."""
    return {
        c: (int(np.count_nonzero((labels == c) & (row == c))), int(np.count_nonzero(labels == c)))
        for c in class_indices
    }


def _accuracies(confusion: dict) -> dict[str, float]:
    """Each row class's accuracy from the confusion counts (nan for a class without images)."""
    out = {}
    for r, cls in enumerate(confusion["rows"]):
        total = sum(confusion["counts"][r])
        out[cls] = confusion["counts"][r][r] / total if total else float("nan")
    return out


def _true_shares(confusion: dict) -> dict[str, float]:
    """Each row class's share of all images (classes outside the rows have none)."""
    totals = [sum(row) for row in confusion["counts"]]
    n = sum(totals)
    return {cls: (t / n if n else 0.0) for cls, t in zip(confusion["rows"], totals)}
