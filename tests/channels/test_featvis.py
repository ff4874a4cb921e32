"""Feature visualization engine: batched renders rise, the model is left as found, the cache works."""

from __future__ import annotations

import copy
import json
import os
import time
import warnings

import numpy as np
import pytest
import torch
from helpers import TwoLayerNet, images, no_hooks, tiny_resnet
from PIL import Image
from torch import nn

from rnnviz.channels import featvis
from rnnviz.channels.featvis import loop, param, rendercache, settings, transforms
from rnnviz.channels.shown import shown_channels
from rnnviz.common.errors import UsageError

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


def render(model, channels=CHANNELS, *, grayscale=False, max_activation=None, seeds=None, **request):
    facts = featvis.ModelFacts("test-resnet", 28, grayscale)
    request = featvis.RenderRequest(**{"quality": "test", **request})
    return featvis.render_channels(
        model, channels, facts, request, max_activation=max_activation, seeds=seeds, progress=None
    )


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


# --- accent: feature accentuation from the channel's best real image -------------------------

ACCENT = [("layer3", 0), ("layer4", 5)]


# The render measures its start in its own precision, the peak is fp32: equal in fp32; under bf16
# autocast (RNNVIZ_PRECISION=bf16, or native bf16) they differed by up to 1.5% (emulated here and
# native on an AVX-512 BF16 EPYC alike), so bf16 gets twice that.
START_REL = {False: 1e-6, True: 3e-2}


def top_exemplars(model, channels=ACCENT, n=8) -> tuple[dict, dict]:
    """Each channel's best image of a small random set, and its activation (spatial mean, fp32)."""
    from rnnviz.sweep.hooks import LayerHooks

    imgs, _ = images(n)
    layers = sorted({layer for layer, _ in channels})
    with LayerHooks(model, layers) as hooks, torch.no_grad():
        feats = hooks.run(imgs)
    seeds, peaks = {}, {}
    for layer, c in channels:
        acts = feats[layer][:, c].float().mean((1, 2))
        seeds[(layer, c)], peaks[(layer, c)] = imgs[int(acts.argmax())], float(acts.max())
    return seeds, peaks


def test_accent_parameterization_starts_exactly_at_the_seed():
    seeds = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(3))
    seeds[0, :, :4] = 0.0  # real images hold exact 0 and 1, which a sigmoid never reaches
    seeds[1, :, -4:] = 1.0
    for gray in (False, True):
        params, image_f = param.images(
            [1, 2], recipe="accent", size=28, gray=gray, dev=torch.device("cpu"), start=seeds
        )
        assert (image_f([0, 1]) - seeds).abs().max() <= 1e-6
        assert (image_f([1]) - seeds[1:]).abs().max() <= 1e-6
        assert len(params) == 2 and all(p.requires_grad for ps in params for p in ps)


def test_accent_loss_by_hand():
    """loss = -sum(act_i / |seed act_i|) + pull * sum(mean squared pixel distance_i)."""
    from rnnviz.channels.featvis.objectives import Element, accent

    elements = [Element("a", 1, 0), Element("a", 0, 0)]
    feats = {"a": torch.zeros(2, 2, 3, 3)}
    feats["a"][0, 1] = 3.0
    feats["a"][1, 0] = -1.0
    seeds = torch.zeros(2, 3, 4, 4)
    image = seeds.clone()
    image[0, 0, 0, 0] = 0.4  # mse 0.16 / 48
    loss = accent(elements, [2.0, -0.5], seeds, pull=6.0)(feats, image)
    assert float(loss) == pytest.approx(-(3.0 / 2.0) - (-1.0 / 0.5) + 6.0 * 0.16 / 48)


def test_precision_env_forces_the_cpu_choice(monkeypatch):
    cpu = torch.device("cpu")
    for forced in ("fp32", "bf16"):
        monkeypatch.setenv("RNNVIZ_PRECISION", forced)
        assert settings.precision(cpu) == forced
    assert settings.precision(torch.device("meta")) == "fp32", "only CPU renders autocast"
    monkeypatch.setenv("RNNVIZ_PRECISION", "fp16")
    with pytest.raises(UsageError, match="RNNVIZ_PRECISION"):
        settings.precision(cpu)


def test_accent_starts_from_the_exemplar_and_raises_the_channel(model, monkeypatch):
    seeds, peaks = top_exemplars(model)
    bf16 = settings.precision(torch.device("cpu")) == "bf16"
    monkeypatch.setitem(featvis.QUALITY, "zero", featvis.Quality(steps=0, min_size=64, max_size=64))
    still = render(model, ACCENT, recipe="accent", quality="zero", seeds=seeds, max_activation=peaks)
    for r in still:
        seed = seeds[(r.layer, r.channel)]
        assert np.array_equal(pixels(r.png), param.to_uint8(seed[None])[0]), "steps=0 must give the seed itself"
        assert r.start_activation == pytest.approx(peaks[(r.layer, r.channel)], rel=START_REL[bf16])
    renders = render(model, ACCENT, recipe="accent", seeds=seeds, max_activation=peaks)
    assert [(r.layer, r.channel, r.recipe) for r in renders] == [(lc[0], lc[1], "accent") for lc in ACCENT]
    for r, s in zip(renders, still):
        assert r.start_activation == s.start_activation
        assert r.final_activation > r.start_activation and not r.dead, (r.layer, r.channel)
        peak = peaks[(r.layer, r.channel)]
        assert r.relative_activation == pytest.approx(r.final_activation / peak)
        assert r.relative_activation > 1, "accentuated image below its own seed"
        out = pixels(r.png).astype(float) / 255
        seed = seeds[(r.layer, r.channel)].permute(1, 2, 0).numpy()
        assert out.shape == seed.shape == (28, 28, 3)  # rendered at the seed's own size
        assert 0 < np.sqrt(((out - seed) ** 2).mean()) < 0.25, "moved, yet still the same image"


def test_accent_cache_key_holds_the_seed_image(model, monkeypatch):
    seeds, _ = top_exemplars(model, ACCENT[:1])
    (first,) = render(model, ACCENT[:1], recipe="accent", seeds=seeds)
    (again,) = render(model, ACCENT[:1], recipe="accent", seeds={k: v.clone() for k, v in seeds.items()})
    assert again.cache_hit and again.png == first.png
    other = {k: v.clone() for k, v in seeds.items()}
    next(iter(other.values()))[0, 5, 5] += 1e-3  # one value of one pixel
    (changed,) = render(model, ACCENT[:1], recipe="accent", seeds=other)
    assert not changed.cache_hit and changed.png.parent != first.png.parent
    assert rendercache.seed_digest(next(iter(other.values()))) != rendercache.seed_digest(seeds[ACCENT[0]])
    meta = json.loads((first.png.parent / "meta.json").read_text())
    assert meta["seed_image"] == rendercache.seed_digest(seeds[ACCENT[0]]) and meta["recipe"] == "accent"
    # the other recipes ignore seeds: the same entries as without them
    (lucid,) = render(model, ACCENT[:1])
    (lucid_seeded,) = render(model, ACCENT[:1], seeds=seeds)
    assert lucid_seeded.cache_hit and lucid_seeded.png == lucid.png


def test_accent_skips_channels_without_a_seed_image(model, monkeypatch):
    seeds, _ = top_exemplars(model)
    del seeds[ACCENT[0]]
    renders = render(model, ACCENT, recipe="accent", seeds=seeds)
    assert [(r.layer, r.channel) for r in renders] == ACCENT[1:]

    def no_render(*args, **kw):
        raise AssertionError("rendered without a seed image")

    monkeypatch.setattr(loop.Optimizer, "run", no_render)
    assert render(model, ACCENT, recipe="accent") == []
    assert render(model, ACCENT[:1], recipe="accent", seeds=seeds) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 28, 28), r"shape \(1, 28, 28\); expected \(3, S, S\)"),
        (torch.rand(3, 28, 20), "expected"),
        (torch.full((3, 28, 28), 2.0), r"not in \[0, 1\]"),
        (torch.full((3, 28, 28), float("nan")), r"not in \[0, 1\]"),
    ],
)
def test_accent_bad_seed_image_is_a_usage_error(model, bad, message):
    with pytest.raises(UsageError, match=message):
        render(model, ACCENT[:1], recipe="accent", seeds={ACCENT[0]: bad})
    with pytest.raises(UsageError, match="differ in size"):
        render(
            model, ACCENT, recipe="accent", seeds={ACCENT[0]: torch.rand(3, 28, 28), ACCENT[1]: torch.rand(3, 32, 32)}
        )


def gallery_inputs(recipes):
    from rnnviz.data.images import ImageSet
    from rnnviz.settings.config import Config

    imgs, labels = images(5)
    image_set = ImageSet(imgs, labels, list(range(10)), ["x"] * 5, "test images")
    tops = [[{"layer": "layer3", "channel": 0}, {"layer": "layer4", "channel": 5}]]
    peaks = {"layer3": [1.0], "layer4": [0.0] * 5 + [2.0]}
    shown = {m: shown_channels(tops, [], peaks, ["layer3", "layer4"]) for m in ("standard", "robust")}
    cards = {
        "n": 2,
        "standard": {"layer3:0": {"best_analysed": {"index": 3, "value": 1.0}}},
        "robust": {"layer3:0": {"best_analysed": None}, "layer4:5": {"best_analysed": {"index": 4, "value": 2.0}}},
    }
    net = tiny_resnet()
    return Config(recipes=recipes, quality="draft"), {"standard": net, "robust": net}, (shown, cards), image_set


def test_galleries_seed_accent_from_the_top_clean_exemplar(monkeypatch, tmp_path):
    from rnnviz.channels import galleries

    calls = []

    def fake(module, channels, facts, request, **kw):
        calls.append((request.recipe, channels, kw.get("seeds")))
        return []

    monkeypatch.setattr(featvis, "render_channels", fake)
    cfg, models, (shown, cards), image_set = gallery_inputs(["lucid", "accent"])
    galleries.render_galleries(cfg, tmp_path, models, shown, cards, image_set, progress=False)
    accent = [(channels, seeds) for recipe, channels, seeds in calls if recipe == "accent"]
    assert [seeds is None for recipe, _, seeds in calls if recipe == "lucid"] == [True, True]
    (std_channels, std_seeds), (rob_channels, rob_seeds) = accent
    assert list(std_seeds) == [("layer3", 0)] and torch.equal(std_seeds[("layer3", 0)], image_set.images[3])
    assert list(rob_seeds) == [("layer4", 5)] and torch.equal(rob_seeds[("layer4", 5)], image_set.images[4])
    # no exemplars, or no images: accent is skipped without an error, the other recipes still render
    for drop_images in (False, True):
        calls.clear()
        galleries.render_galleries(
            cfg, tmp_path, models, shown, cards if drop_images else None, None if drop_images else image_set, False
        )
        assert [recipe for recipe, _, _ in calls] == ["lucid", "lucid"]


def test_galleries_accent_end_to_end(tmp_path, monkeypatch):
    from rnnviz.channels import galleries

    cfg, models, (shown, cards), image_set = gallery_inputs(["accent"])
    monkeypatch.setitem(featvis.QUALITY, "draft", featvis.QUALITY["test"])
    entries = galleries.render_galleries(cfg, tmp_path, models, shown, cards, image_set, progress=False)
    assert [(e["model"], e["layer"], e["channel"], e["recipe"]) for e in entries] == [
        ("standard", "layer3", 0, "accent"),
        ("robust", "layer4", 5, "accent"),
    ]
    for e in entries:
        assert (tmp_path / e["image"]).is_file() and e["relative_activation"] is not None


# ------------------------------------------------------------------ stopping at the target


def test_each_channel_of_a_batch_stops_on_its_own(model, monkeypatch):
    """One channel with a target it reaches at the first check, one it never reaches: the first
    stops after CHECK_EVERY steps and its image no longer changes, whatever the cap, while the
    other runs to the cap (another cap, other pixels)."""
    monkeypatch.setitem(featvis.QUALITY, "cap20", featvis.Quality(steps=20, min_size=64, max_size=64))
    peaks = {("layer3", 0): 1e-5, ("layer3", 7): 1e6}
    short = render(model, CHANNELS[:2], max_activation=peaks)
    long = render(model, CHANNELS[:2], max_activation=peaks, quality="cap20")
    assert [(r.stop, r.steps) for r in short] == [("target", loop.CHECK_EVERY), ("cap", 10)]
    assert [(r.stop, r.steps) for r in long] == [("target", loop.CHECK_EVERY), ("cap", 20)]
    assert len(short[0].losses) == loop.CHECK_EVERY and len(long[1].losses) == 20
    assert short[0].png.read_bytes() == long[0].png.read_bytes(), "a stopped channel changed"
    assert short[1].png.read_bytes() != long[1].png.read_bytes()
    assert long[1].final_activation > short[1].final_activation
    assert short[0].relative_activation >= 1 and long[1].relative_activation < 1


def test_a_channel_that_stops_rising_stops_at_a_plateau(model, monkeypatch):
    """With any rise below PLATEAU_RISE x the target counted as none, the best measure is the one
    at the first check, so the render stops PLATEAU_STEPS later."""
    monkeypatch.setattr(loop, "PLATEAU_STEPS", 8)
    monkeypatch.setattr(loop, "PLATEAU_RISE", 1e12)
    monkeypatch.setitem(featvis.QUALITY, "cap20", featvis.Quality(steps=20, min_size=64, max_size=64))
    (r,) = render(model, [("layer3", 7)], recipe="raw", quality="cap20", max_activation={("layer3", 7): 1e3})
    assert (r.stop, r.steps) == ("plateau", loop.CHECK_EVERY + 8)
    assert r.target == 1e3 and r.relative_activation < 1


def _recomputed(model, png, layer: str, channel: int, neuron: bool = False) -> float:
    """The activation of a saved PNG, run through the model in fp32 with an ordinary hook."""
    net = copy.deepcopy(model).eval().float()
    image = torch.from_numpy(pixels(png).copy()).permute(2, 0, 1)[None].float() / 255
    got = {}
    handle = net.get_submodule(layer).register_forward_hook(lambda m, i, o: got.setdefault("a", o))
    with torch.no_grad():
        net(image)
    handle.remove()
    fmap = got["a"][0, channel]
    return float(fmap[fmap.shape[0] // 2, fmap.shape[1] // 2] if neuron else fmap.mean())


@pytest.mark.parametrize("recipe", ["lucid", "raw"])
def test_recorded_ratio_equals_a_recomputation_from_the_png(model, recipe):
    """results.json's ratio is measured in fp32 on the quantized image, so anyone can check it
    from the PNG; 1e-4 relative covers channels-last vs contiguous summation order (the render's
    bf16 autocast, where a CPU has it, does not enter the measure)."""
    peaks = {("layer3", 0): 0.02, ("layer3", 7): 1e3, ("layer2.0.conv2", 3): 0.05}
    for r in render(model, recipe=recipe, max_activation=peaks):
        peak = peaks[(r.layer, r.channel)]
        again = _recomputed(model, r.png, r.layer, r.channel) / peak
        assert r.relative_activation == pytest.approx(again, rel=1e-4, abs=1e-7), (r.layer, r.channel)
        assert (r.relative_activation >= 1) == (r.stop == "target")


def test_centre_neuron_objective_raises_the_centre(model):
    """raw: no transforms, so the centre it raises is the centre measured on the PNG (lucid's
    padding and jitter move the image under the centre neuron, as in lucent)."""
    channel = render(model, [("layer3", 7)], recipe="raw")[0]
    (neuron,) = render(model, [("layer3", 7)], recipe="raw", objective="neuron", max_activation={("layer3", 7): 0.01})
    assert neuron.png != channel.png and neuron.target is None and neuron.relative_activation is None
    assert neuron.final_activation > neuron.start_activation
    assert neuron.final_activation == pytest.approx(
        _recomputed(model, neuron.png, "layer3", 7, neuron=True), rel=1e-4, abs=1e-7
    )
    with pytest.raises(UsageError, match="unknown render objective 'pixel'.*channel, neuron"):
        render(model, [("layer3", 7)], objective="pixel")


# ------------------------------------------------------------------ how textured a render is


def test_high_frequency_share_orders_a_blob_below_white_noise():
    from rnnviz.common.spectrum import high_frequency_share

    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / (2 * 8.0**2))
    noise = np.random.default_rng(0).normal(size=(64, 64))
    assert high_frequency_share(blob) < 1e-3
    assert high_frequency_share(noise) == pytest.approx(1 - np.pi / 16, abs=0.05)  # area outside the disc
    # a sinusoid puts its power at one frequency: above the cutoff (period 2.67 px) or below (16 px)
    assert high_frequency_share(np.sin(2 * np.pi * 0.375 * xx)) > 0.95
    assert high_frequency_share(np.sin(2 * np.pi * 0.0625 * xx)) < 0.05
    rgb = np.stack([noise, noise, noise], axis=2)
    assert high_frequency_share(rgb) == pytest.approx(high_frequency_share(noise))
    assert np.isnan(high_frequency_share(np.ones((8, 8))))


def test_texture_comparison_by_hand():
    from rnnviz.common.spectrum import compare
    from rnnviz.report.text.gallery import texture_sentence

    c = compare([0.5, 0.7, 0.6], [0.2, 0.1, 0.3])
    assert c["difference"] == pytest.approx(0.6 - 0.2) and c["low"] <= c["difference"] <= c["high"]
    assert 0 < c["low"] and c["high"] <= 0.7 - 0.1
    flat = compare([0.4, 0.4], [0.4, 0.4])
    assert flat["low"] == flat["high"] == pytest.approx(0.0)
    assert compare([0.5], [0.1, 0.2]) is None
    from rnnviz.results.model.pictures import Render

    renders = [
        Render.model_construct(model=m, recipe="raw", dead=False, high_frequency_share=v)
        for m, vs in (("standard", [0.5, 0.7, 0.6]), ("robust", [0.2, 0.1, 0.3]))
        for v in vs
    ]
    text = texture_sentence(renders)
    assert "raw recipe, standard 0.60 vs robust 0.20 (difference +0.40" in text
    assert "the robust model's renders are smoother" in text
    assert "Too few" in texture_sentence(renders[:4])
