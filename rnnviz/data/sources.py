"""Are the run's images and weights there? Checked in seconds, before torch or any model loads."""

from __future__ import annotations

from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.settings.config import Config


def check_sources(cfg: Config) -> None:
    """Fail in seconds, before torch is imported or any model loads, when images or weights are
    missing: no data folder, or a URL checkpoint that is neither cached nor downloadable."""
    from rnnviz.models.download import fetch_checkpoint

    if cfg.data is None:
        raise UsageError(
            f"no image folder for preset '{cfg.preset}': pass --data DIR (ImageNet validation layout, "
            f"one folder per synset such as n02007558/) or set RNNVIZ_DATA; offline alternative: --preset fashion"
        )
    if cfg.data != "builtin" and not Path(cfg.data).is_dir():
        raise UsageError(f"data folder not found: {cfg.data}; pass --data with an existing folder of images")
    for spec in (cfg.standard, cfg.robust):
        if spec and spec.startswith(("http://", "https://")):
            fetch_checkpoint(spec)
