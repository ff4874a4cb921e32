"""rnnviz: which channels of a robust and a standard classifier react to an adversarial perturbation.

A small public API (the CLI is a thin layer over it). Every function works with a validated
``Config`` or directly with a model and tensors::

    import rnnviz
    cfg = rnnviz.build_config({"preset": "fashion", "classes": "sneaker", "eps": "0,0.1"})
    out = rnnviz.run(cfg)                                # attack, sensitivity, renders -> folder
    rnnviz.render_report(out)                            # report.html + report.pdf

    models = rnnviz.load_pair(cfg)                       # {"standard": LoadedModel, "robust": ...}
    images = rnnviz.load_images(cfg, models["standard"])
    a = rnnviz.analyze(models["robust"].module, images.images, images.labels,
                       rnnviz.SweepSettings(eps=[0, 0.1], layers=["layer3.0", "layer4.0"]))
    renders = rnnviz.render_channels(models["robust"].module, [("layer4.0", 7)], rnnviz.ModelFacts("mine", 28),
                                     rnnviz.RenderRequest(quality="draft"))

Names load lazily, so re-rendering a report (``render_report``) never imports torch.
"""

from importlib import import_module

__version__ = "0.2.0"

_API = {
    "Config": "settings.config",
    "build_config": "settings.config",
    "parse_eps": "settings.config",
    "PRESETS": "settings.presets",
    "UsageError": "common.errors",
    "LoadedModel": "models.loading",
    "load_model": "models.loading",
    "PGDSettings": "sweep.attacks",
    "fgsm": "sweep.attacks",
    "pgd": "sweep.attacks",
    "Starts": "sweep.draws",
    "SweepSettings": "sweep.settings",
    "analyze": "sweep.loop",
    "LayerHooks": "sweep.hooks",
    "load_pair": "pipeline.load",
    "load_images": "pipeline.load",
    "run": "pipeline.job",
    "render_channels": "channels.featvis",
    "ModelFacts": "channels.featvis",
    "RenderRequest": "channels.featvis",
    "render_report": "report",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'rnnviz' has no attribute {name!r}")
