"""The sweet spot: where robustness pays, per eps."""

from __future__ import annotations

import numpy as np

from rnnviz.sweep.analysis import ModelAnalysis


def sweet_spot(standard: ModelAnalysis, robust: ModelAnalysis) -> dict:
    """Per eps, the share of images the robust model still gets right and the standard one not."""
    fraction = [float((r & ~s).mean()) for r, s in zip(robust.correct, standard.correct)]
    best = int(np.argmax(fraction)) if fraction and max(fraction) > 0 else None
    return {"fraction": fraction, "best_index": best}
