"""How many images per class the run's source holds, so advice never asks for more than exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def capacity(cfg, labels, class_indices: list[int]) -> dict:
    """results.json's ``source``: the fewest images any chosen class has in the source (built-in
    sample or --data folder), and the count per class index."""
    if cfg.data == "builtin":
        from rnnviz.models.zoo import load_fashion_sample

        _, sample = load_fashion_sample()
        counts = {i: int(np.count_nonzero(sample == i)) for i in class_indices}
    else:
        from rnnviz.data.images import find_class_files

        files = find_class_files(Path(cfg.data), labels, class_indices, cfg.label)
        counts = {i: len(files.get(i, [])) for i in class_indices}
    return {"per_class": min(counts.values()) if counts else None, "counts": {str(i): n for i, n in counts.items()}}
