"""Issue 24: per model and eps, each layer's noise ratio (mean sigma_noise / mean sigma) under the old
noise (an independent sign per RGB channel, ``sweep.attacks.sign_noise``) and the matched noise (one
sign per pixel shared across the colour channels, ``sweep.noise.matched_noise``), on the demo's images.

    python scripts/noise_before_after.py
"""

import torch

from rnnviz.data.builtin import load_builtin_sample
from rnnviz.models.loading import load_model
from rnnviz.sweep.attacks import fgsm, sign_noise
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.noise import NoiseControl, matched_noise
from rnnviz.sweep.sensitivity import channel_l1

LAYERS = ["relu", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
CLASSES = [7, 8, 9]  # sneaker, bag, ankle boot: the demo's classes, 100 images each


def layer_means(net, hooks: LayerHooks, clean: dict, x: torch.Tensor) -> dict[str, float]:
    """Mean over a layer's channels and the images of the L1 change against the clean activations."""
    with torch.no_grad():
        net(x)
    return {n: float(channel_l1(clean[n], out).mean()) for n, out in hooks.take().items()}


def main() -> None:
    data = load_builtin_sample(CLASSES, 100, 0)
    x, y, index = data.images, data.labels, torch.arange(len(data.labels))
    for m in ("standard", "robust"):
        net = load_model(f"builtin:fashion-{m}").module
        with LayerHooks(net, LAYERS) as hooks:
            with torch.no_grad():
                net(x)
            clean = hooks.take()
            for e in (0.05, 0.1, 0.2):
                with hooks.paused():
                    adv = fgsm(net, x, y, e)
                sigma = layer_means(net, hooks, clean, adv)
                old = layer_means(net, hooks, clean, sign_noise(x, e, 0, index))
                new = layer_means(net, hooks, clean, matched_noise(x, e, 0, index, NoiseControl("linf", "grayscale")))
                cells = [f"{n}: {old[n] / sigma[n]:.2f} -> {new[n] / sigma[n]:.2f}" for n in LAYERS]
                print(f"{m:8} eps {e:<4}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
