"""Feature visualization engine: batched renders rise, the model is left as found, the cache works."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from rnnviz import featvis
from rnnviz.errors import UsageError
from helpers import TwoLayerNet, no_hooks, tiny_resnet

CHANNELS = [("layer3", 0), ("layer3", 7), ("layer2.0.conv2", 3)]


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_resnet().module


@pytest.fixture(autouse=True)
def tiny_render(tmp_path, monkeypatch):
    """64 px, 10 steps, a cache of the test's own, and one thread: tensors this small gain nothing
    from a second one, and on a shared machine OpenMP's waiting made each test 20x slower."""
    monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(featvis.QUALITY, "test", featvis.Quality(steps=10, min_size=64, max_size=64))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def render(model, channels=CHANNELS, **kw):
    kw = {"model_id": "test-resnet18", "input_size": 224, "quality": "test", "progress": None, **kw}
    return featvis.render_channels(model, channels, **kw)


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def model_state(model: nn.Module) -> list:
    """Everything a render may touch: hooks, ReLU forwards, weight tensors, grad and mode flags."""
    state = []
    for name, m in model.named_modules():
        state.append((name, list(m._forward_hooks), list(m._forward_pre_hooks), list(m._backward_hooks),
                      "forward" in m.__dict__, m.training))
    state += [(name, p.data_ptr(), p.stride(), p.requires_grad) for name, p in model.named_parameters()]
    return state


def test_batched_render_raises_every_channel(model):
    renders = render(model)
    assert [(r.layer, r.channel) for r in renders] == CHANNELS
    for r in renders:
        assert r.final_activation > r.start_activation, (r.layer, r.channel)
        assert not r.dead and not r.cache_hit and len(r.losses) == 10
        assert pixels(r.png).shape == (64, 64, 3)
        assert pixels(r.png).std() > 5, "a flat grey square"
    assert len({pixels(r.png).tobytes() for r in renders}) == len(renders)


def test_model_left_exactly_as_found(model):
    before = model_state(model)
    render(model)
    assert model_state(model) == before
    assert no_hooks(model)
    assert all(type(m).forward is nn.ReLU.forward for m in model.modules() if isinstance(m, nn.ReLU))


def test_model_restored_after_an_error(model, monkeypatch):
    before = model_state(model)

    def boom(*args):
        raise RuntimeError("interrupted mid-render")
    monkeypatch.setattr(featvis, "_transform", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        render(model)
    assert model_state(model) == before


def test_rerun_hits_the_cache_and_renders_nothing(model, monkeypatch):
    first = render(model)

    def no_render(*args, **kw):
        raise AssertionError("rendered again")
    monkeypatch.setattr(featvis._Optimizer, "run", no_render)
    second = render(model)
    assert all(r.cache_hit for r in second)
    assert [r.png for r in second] == [r.png for r in first]
    assert [r.final_activation for r in second] == [r.final_activation for r in first]


def test_same_seed_same_bytes_other_seed_other_image(model, tmp_path, monkeypatch):
    images = {}
    for run, seed in [("a", 0), ("b", 0), ("c", 1)]:
        monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / run))
        images[run] = [r.png.read_bytes() for r in render(model, CHANNELS[:2], seed=seed)]
    assert images["a"] == images["b"]
    assert all(a != c for a, c in zip(images["a"], images["c"]))


def test_raw_recipe_raises_the_channel(model):
    raw = render(model, CHANNELS[:2], recipe="raw")
    lucid = render(model, CHANNELS[:2])
    for r, lu in zip(raw, lucid):
        assert r.recipe == "raw" and r.final_activation > r.start_activation
        assert r.png != lu.png and pixels(r.png).std() > 0


def test_grayscale_and_diversity(model):
    (r,) = render(model, [("layer3", 7)], grayscale=True, diversity=2)
    images = [pixels(p) for p in [r.png, *r.diversity]]
    assert len(r.diversity) == 2
    for im in images:
        assert (im[..., 0] == im[..., 1]).all() and (im[..., 1] == im[..., 2]).all()
    assert len({im.tobytes() for im in images}) == 3


def test_damaged_cache_entry_is_rebuilt_with_a_warning(model):
    (r,) = render(model, [("layer3", 0)])
    r.png.write_bytes(r.png.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged render cache entry"):
        (again,) = render(model, [("layer3", 0)])
    assert not again.cache_hit and pixels(again.png).shape == (64, 64, 3)
    (again.png.parent / "meta.json").unlink()
    with pytest.warns(UserWarning, match="incomplete render cache entry"):
        (third,) = render(model, [("layer3", 0)])
    assert not third.cache_hit and third.png.read_bytes() == again.png.read_bytes()


def test_dead_channel_flagged_and_relative_activation():
    net = TwoLayerNet().eval().requires_grad_(False)      # relu channel 1 = relu(-x): always 0 on [0, 1]
    alive, dead = render(net, [("relu", 0), ("relu", 1)], max_activation={("relu", 0): 4.0})
    assert not alive.dead and dead.dead and dead.final_activation == 0
    assert alive.relative_activation == pytest.approx(alive.final_activation / 4.0)
    assert dead.relative_activation is None


def test_bad_layer_or_channel_is_a_usage_error(model):
    with pytest.raises(UsageError, match="unknown layer 'layer9'.*layer3"):
        render(model, [("layer9", 0)])
    with pytest.raises(UsageError, match="channel 256 is out of range for layer 'layer3'.*0 to 255"):
        render(model, [("layer3", 256)])
    assert no_hooks(model)
