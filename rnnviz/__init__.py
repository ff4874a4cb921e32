"""rnnviz: which channels of a robust and a standard ResNet react to an adversarial perturbation.

The public API (the CLI is a thin layer over it)::

    import rnnviz
    cfg = rnnviz.build_config({"preset": "fashion", "classes": "sneaker", "eps": "0,0.1"})
    models = rnnviz.load_pair(cfg)                      # {"standard": LoadedModel, "robust": ...}
    out = rnnviz.run(cfg)                                # attack, sensitivity, renders -> folder
    rnnviz.report(out)                                   # report.html + report.pdf
"""
__version__ = "0.1.0"

from .attacks import PGDSettings, fgsm, pgd  # noqa: E402
from .config import PRESETS, Config, build_config, parse_eps  # noqa: E402
from .errors import UsageError  # noqa: E402
from .models import LoadedModel, load_model  # noqa: E402
from .pipeline import load_images, load_pair, report, run, run_analysis  # noqa: E402
from .analysis import analyze  # noqa: E402

__all__ = ["Config", "LoadedModel", "PGDSettings", "PRESETS", "UsageError", "analyze", "build_config",
           "fgsm", "load_images", "load_model", "load_pair", "parse_eps", "pgd", "report", "run",
           "run_analysis"]
