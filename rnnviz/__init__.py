"""rnnviz: which channels of a robust and a standard ResNet react to an adversarial perturbation.

The public API (the CLI is a thin layer over it)::

    import rnnviz
    cfg = rnnviz.build_config({"preset": "fashion", "classes": "sneaker", "eps": "0,0.1"})
    models = rnnviz.load_pair(cfg)                      # {"standard": LoadedModel, "robust": ...}
    out = rnnviz.run(cfg)                                # attack, sensitivity, renders -> folder
    rnnviz.render_report(out)                            # report.html + report.pdf

Names load lazily, so re-rendering a report (``render_report``) never imports torch.
"""
from importlib import import_module

__version__ = "0.1.0"

_API = {
    "Config": "config", "PRESETS": "config", "build_config": "config", "parse_eps": "config",
    "UsageError": "errors",
    "LoadedModel": "models", "load_model": "models",
    "PGDSettings": "attacks", "fgsm": "attacks", "pgd": "attacks",
    "analyze": "analysis",
    "load_pair": "pipeline", "load_images": "pipeline", "run": "pipeline", "run_analysis": "pipeline",
    "render_report": "report",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'rnnviz' has no attribute {name!r}")
