"""Feature visualization engine: batched renders rise, the model is left as found, the cache works."""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import pytest
import torch
from helpers import TwoLayerNet, no_hooks, tiny_resnet
from PIL import Image
from torch import nn

from rnnviz import featvis
from rnnviz.errors import UsageError
from rnnviz.featvis import loop, param, rendercache, transforms

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
    kw = {"model_id": "test-resnet", "input_size": 28, "quality": "test", "progress": None, **kw}
    return featvis.render_channels(model, channels, **kw)


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def model_state(model: nn.Module) -> list:
    """Everything a render may touch: hooks, ReLU forwards, weight tensors, grad and mode flags."""
    state = []
    for name, m in model.named_modules():
        state.append(
            (
                name,
                list(m._forward_hooks),
                list(m._forward_pre_hooks),
                list(m._backward_hooks),
                "forward" in m.__dict__,
                m.training,
            )
        )
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

    monkeypatch.setattr(transforms, "transform", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        render(model)
    assert model_state(model) == before


def test_rerun_hits_the_cache_and_renders_nothing(model, monkeypatch):
    first = render(model)

    def no_render(*args, **kw):
        raise AssertionError("rendered again")

    monkeypatch.setattr(loop.Optimizer, "run", no_render)
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
    net = TwoLayerNet().eval().requires_grad_(False)  # relu channel 1 = relu(-x): always 0 on [0, 1]
    alive, dead = render(net, [("relu", 0), ("relu", 1)], max_activation={("relu", 0): 4.0})
    assert not alive.dead and dead.dead and dead.final_activation == 0
    assert alive.relative_activation == pytest.approx(alive.final_activation / 4.0)
    assert dead.relative_activation is None


def test_bad_layer_or_channel_is_a_usage_error(model):
    with pytest.raises(UsageError, match="unknown layer 'layer9'.*layer3"):
        render(model, [("layer9", 0)])
    width = model.get_submodule("layer3")[-1].conv2.out_channels
    with pytest.raises(UsageError, match=f"channel {width} is out of range for layer 'layer3'.*0 to {width - 1}"):
        render(model, [("layer3", width)])
    assert no_hooks(model)


def cache_warnings(fn):
    """Run ``fn``; return its result and the render-cache warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught if "render cache" in str(w.message)]


@pytest.mark.parametrize(
    "meta",
    [{}, {"image": 5}, [], "null", {"image": "../image.png", "diversity": []}, "losses-not-numbers", "truncated"],
)
def test_damaged_meta_is_named_removed_and_rebuilt(model, meta):
    """Valid JSON without the keys or types the renderer reads used to raise KeyError on every
    later run; now the entry is named in one warning, removed and rendered again, same bytes."""
    (fresh,) = render(model, [("layer3", 0)])
    entry, good = fresh.png.parent, fresh.png.read_bytes()
    good_meta = json.loads((entry / "meta.json").read_text())
    if meta == "losses-not-numbers":
        meta = {**good_meta, "losses": ["x"]}
    if meta == "truncated":
        (entry / "meta.json").write_text(json.dumps(good_meta)[:-10])
    else:
        (entry / "meta.json").write_text(json.dumps(meta))
    (entry / "junk").write_text("left by someone")
    (again,), warned = cache_warnings(lambda: render(model, [("layer3", 0)]))
    assert len(warned) == 1 and str(entry) in warned[0] and "\n" not in warned[0], warned
    assert "damaged render cache entry" in warned[0]
    assert not again.cache_hit and again.png.read_bytes() == good
    assert not (entry / "junk").exists(), "the damaged entry was not removed"
    assert json.loads((entry / "meta.json").read_text()) == good_meta
    (third,), warned = cache_warnings(lambda: render(model, [("layer3", 0)]))
    assert third.cache_hit and not warned


def test_stale_part_files_removed_when_rendering_starts(model):
    (r,) = render(model, [("layer3", 0)])
    root = r.png.parent.parent
    old = [r.png.parent / ".image.png.abc.part", root / ".stray.part"]
    young = r.png.parent / ".image.png.def.part"
    for f in [*old, young]:
        f.write_bytes(b"half a png")
    hours_ago = time.time() - 2 * 3600
    for f in old:
        os.utime(f, (hours_ago, hours_ago))
    render(model, [("layer3", 1)])  # something to render: the sweep runs
    assert not any(f.exists() for f in old)
    assert young.exists(), "a young .part may belong to a run in progress"


def _refuse_renders(monkeypatch):
    real = os.access

    def access(path, mode, *a, **kw):
        if os.fspath(path).endswith("renders") and mode & os.W_OK:
            return False
        return real(path, mode, *a, **kw)

    monkeypatch.setattr(rendercache.os, "access", access)


def test_read_only_cache_is_a_usage_error_before_any_step(model, monkeypatch, tmp_path):
    """Simulated with os.access (as root, chmod does not stop writes)."""
    _refuse_renders(monkeypatch)

    def no_step(*args, **kw):
        raise AssertionError("optimized before checking the cache")

    monkeypatch.setattr(loop.Optimizer, "run", no_step)
    renders = tmp_path / "cache" / "renders"
    with pytest.raises(UsageError, match=f"{renders}.*RNNVIZ_CACHE=<writable dir>"):
        render(model, [("layer3", 0)])
    assert no_hooks(model)


def test_read_only_cache_with_chmod(model, tmp_path):
    renders = tmp_path / "cache" / "renders"
    renders.mkdir(parents=True)
    renders.chmod(0o555)
    try:
        if os.access(renders, os.W_OK):
            pytest.skip("chmod does not stop this user writing (root)")
        with pytest.raises(UsageError, match="RNNVIZ_CACHE=<writable dir>"):
            render(model, [("layer3", 0)])
    finally:
        renders.chmod(0o755)


def test_uncreatable_cache_is_a_usage_error(model, monkeypatch):
    def denied(*parts):
        raise PermissionError(13, "Permission denied", "/ro/cache/renders")

    monkeypatch.setattr(rendercache, "cache_dir", denied)
    with pytest.raises(UsageError, match="/ro/cache/renders.*RNNVIZ_CACHE="):
        render(model, [("layer3", 0)])


def test_fully_cached_read_only_cache_still_works(model, monkeypatch):
    first = render(model, [("layer3", 0)])
    _refuse_renders(monkeypatch)
    assert [r.png for r in render(model, [("layer3", 0)])] == [r.png for r in first]


def test_lucent_device_is_restored_also_on_error():
    from lucent.optvis.param import spatial

    before = spatial.device
    with pytest.raises(RuntimeError):
        with param.lucent_device(torch.device("meta")):
            assert spatial.device == torch.device("meta")
            raise RuntimeError
    assert spatial.device is before
