"""Activation patching (issue 12) against hand-computed cases."""

import pytest
import torch
from helpers import images, no_hooks, sweep, tiny_resnet
from torch import nn

from rnnviz.common.intervals import wilson
from rnnviz.measures.patch_plan import PatchSet, plan
from rnnviz.measures.patching import patch_sweep, summarize
from rnnviz.sweep.loop import analyze


class OneChannelDecides(nn.Module):
    """``feat`` copies the three input channels; only channel 0 reaches the decision:
    logit 0 = 40 * (mean of channel 0 - 0.5), logit 1 = 0."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.feat.weight.copy_(torch.eye(3).view(3, 3, 1, 1))

    def forward(self, x):
        c0 = self.feat(x)[:, 0].mean((1, 2))
        return torch.stack([40 * (c0 - 0.5), torch.zeros_like(c0)], dim=1)


def hand_data():
    """Class-0 images have channel 0 at 0.52, class-1 images at 0.47; an FGSM step of 0.05 crosses
    0.5 for every image, and leaves channels 1 and 2 alone (their gradient is exactly 0)."""
    x = torch.full((8, 3, 4, 4), 0.3)
    y = torch.tensor([0, 1] * 4)
    x[:, 0] = torch.where(y[:, None, None] == 0, 0.52, 0.47)
    return x, y


def run(net, x, y, settings, sets):
    return summarize(patch_sweep(net, x, y, settings, {1: sets})[1])


def test_the_one_deciding_channel_undoes_all_damage_others_none():
    net, (x, y) = OneChannelDecides().eval(), hand_data()
    s = sweep([0.0, 0.05], ["feat"], bootstrap=20)
    sets = [
        PatchSet("sigma", 1, (("feat", 0),)),
        PatchSet("random", 1, (("feat", 1),)),
        PatchSet("random", 1, (("feat", 2),)),
        PatchSet("layer", 3, (("feat", 0), ("feat", 1), ("feat", 2))),
        PatchSet("converse", 1, (("feat", 0),)),
        PatchSet("converse", 1, (("feat", 1),)),
    ]
    out = run(net, x, y, s, sets)
    assert out["accuracy_clean"] == 1.0 and out["accuracy_adv"] == 0.0
    undone = [r.get("undone") for r in out["sets"]]
    assert undone[:4] == [1.0, 0.0, 0.0, 1.0]
    assert [r["flipped"] for r in out["sets"][4:]] == [1.0, 0.0]
    # every resample agrees (all 8 flipped images restored, or none): Wilson's interval of 8 or 0 of 8
    assert out["sets"][0]["undone_ci"] == list(wilson(8, 8)) and out["sets"][0]["undone_ci"][0] < 0.7
    assert out["sets"][1]["undone_ci"] == list(wilson(0, 8)) and out["sets"][1]["undone_ci"][1] > 0.3


def test_the_sweep_ranks_the_deciding_channel_first_and_plans_it():
    net, (x, y) = OneChannelDecides().eval(), hand_data()
    a = analyze(net, x, y, sweep([0.0, 0.05], ["feat"], noise=True))
    sets = plan(a, 1, (1, 3, 30), draws=2, seed=0)
    sigma = [p for p in sets if p.kind == "sigma"]
    assert [p.k for p in sigma] == [1, 3]  # the ladder is capped at the channel count
    assert sigma[0].channels == (("feat", 0),)
    kinds = {"sigma", "excess", "zscore", "random", "magnitude", "layer", "converse"}
    assert {p.kind for p in sets} == kinds
    assert [p.channels for p in sets if p.kind == "layer"] == [(("feat", 0),)]  # an eighth of 3, at least 1


def test_patching_the_whole_last_layer_gives_the_clean_predictions():
    model = tiny_resnet().module
    x, y = images(10, seed=2)
    layers = ["layer3.0", "layer4.0"]
    s = sweep([0.0, 0.1], layers)
    a = analyze(model, x, y, s)
    width = len(a.channels[1]["layer4.0"])
    whole = [PatchSet("whole", width, tuple(("layer4.0", c) for c in range(width)), layer="layer4.0")]
    out = run(model, x, y, s, whole)
    assert out["sets"][0]["accuracy"] == out["accuracy_clean"]
    assert out["accuracy_adv"] == a.accuracy[1]  # the same adversarial images as the sweep


def test_random_draws_come_from_the_seed():
    model = tiny_resnet().module
    x, y = images(4)
    a = analyze(model, x, y, sweep([0.0, 0.1], ["layer2.0", "layer4.0"]))
    draws = lambda seed: [p.channels for p in plan(a, 1, (5,), draws=3, seed=seed) if p.kind == "random"]
    assert draws(0) == draws(0) and draws(0) != draws(1)
    assert len(set(draws(0))) == 3


def test_no_hook_left_after_a_run_or_an_error():
    model = tiny_resnet().module
    x, y = images(4)
    s = sweep([0.0, 0.1], ["layer4.0"])
    run(model, x, y, s, [PatchSet("sigma", 1, (("layer4.0", 0),))])
    assert no_hooks(model)
    with pytest.raises(IndexError):
        run(model, x, y, s, [PatchSet("sigma", 1, (("layer4.0", 10_000),))])
    assert no_hooks(model)


def test_a_patch_share_patches_the_same_images_in_any_batching():
    model = tiny_resnet().module
    x, y = images(24, seed=6)
    sets = [PatchSet("sigma", 2, (("layer4.0", 0), ("layer4.0", 5)))]
    counts = [
        patch_sweep(model, x, y, sweep([0.0, 0.1], ["layer4.0"], batch_size=b), {1: sets}, share=0.5)[1]
        for b in (24, 5)
    ]
    assert 0 < counts[0].n < 24 and counts[0].n == counts[1].n
    assert torch.equal(counts[0].correct, counts[1].correct)
    none = patch_sweep(model, x, y, sweep([0.0, 0.1], ["layer4.0"], batch_size=5), {1: sets}, share=1e-9)[1]
    assert none.n == 0 and not none.correct.any()  # a shard where no image's draw falls under the share


class DoesNotTrace(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so patching takes the full forward pass."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.feat(x)
        if h.mean() > 0:  # a Python branch on a tensor value
            h = h.relu()
        return self.head(h.mean((2, 3)))


def small_mobilenet() -> nn.Module:
    from torchvision.models import mobilenet_v3_small

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return mobilenet_v3_small(num_classes=5).eval()


@pytest.mark.parametrize(
    "make, layers, size, classes, traces",
    [
        (lambda: tiny_resnet().module, ["layer1.0", "layer2.0", "layer3.0", "layer4.0"], 28, 10, True),
        (small_mobilenet, ["features.2", "features.5", "features.9"], 64, 5, True),
        (lambda: DoesNotTrace().eval(), ["feat"], 16, 3, False),
    ],
)
def test_resumed_patching_counts_equal_the_full_forward_passes(make, layers, size, classes, traces):
    from rnnviz.measures.resume import Resumable

    model = make()
    x, y = images(12, size=size, seed=3)
    y = y % classes
    s = sweep([0.0, 0.05, 0.1], layers, batch_size=5, bootstrap=10)
    a = analyze(model, x, y, s)
    plans = {e: plan(a, e, (1, 5), draws=2, seed=0) for e in (1, 2)}
    assert (Resumable.of(model, layers) is not None) == traces
    resumed = patch_sweep(model, x, y, s, plans, resume=True)
    full = patch_sweep(model, x, y, s, plans, resume=False)
    for e in plans:
        assert torch.equal(resumed[e].correct, full[e].correct)
        assert torch.equal(resumed[e].weighted.sums["hits"], full[e].weighted.sums["hits"])
    assert no_hooks(model)


def test_a_resumed_pass_starts_at_the_first_patched_layer_and_keeps_the_skip_branch():
    from rnnviz.measures.resume import Resumable

    model = tiny_resnet().module
    layers = ["layer2.0", "layer4.0"]
    r = Resumable.of(model, layers)
    assert r is not None and r.start_of(["layer4.0"]) > r.start_of(["layer2.0", "layer4.0"])
    x, _ = images(3)
    with torch.no_grad():
        point = r.start_of(["layer4.0"])
        head = r.prefix(x, {point})[point]
        assert torch.allclose(r.finish(head, point, 2), model(x).repeat(2, 1), atol=1e-5)


def _plain_counts(model, x, y, s, sets, eps):
    """The counts the plain way: one set at a time, a full forward pass of every image, no batching
    of sets, no resuming, no shared prefix."""
    from rnnviz.sweep.attacks import input_gradient
    from rnnviz.sweep.hooks import LayerHooks, StackedChannels
    from rnnviz.sweep.passes import CleanBatch, adversarial, eval_mode, forward_no_grad

    out = []
    with eval_mode(model), LayerHooks(model, list(s.layers)) as hooks:
        grad, logits = input_gradient(model, x, y)
        clean = hooks.take()
        x_adv = adversarial(model, hooks, CleanBatch(x, y, torch.arange(len(y)), grad), eps, s)
        adv_right = forward_no_grad(model, x_adv).argmax(1) == y
        adv = hooks.take()
        clean_right = logits.argmax(1) == y
        for p in sets:
            converse = p.kind == "converse"
            target, source = (x, adv) if converse else (x_adv, clean)
            values = {la: StackedChannels.of(source[la], [chs]) for la, chs in p.by_layer().items()}
            with torch.no_grad(), hooks.paused(), hooks.replacing(values):
                right = model(target).argmax(1) == y
            out.append(int((clean_right & ~right).sum() if converse else right.sum()))
    return out + [int(clean_right.sum()), int(adv_right.sum())]


def test_batched_resumed_counts_equal_one_set_at_a_time_with_full_forward_passes():
    """Every set of one eps resumes at its first patched layer and the draws of a k ride in one
    stacked batch: the counts are exactly those of patching one set at a time, whole network."""
    model = tiny_resnet().module
    layers = ["relu", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    x, y = images(16, seed=4)
    s = sweep([0.0, 0.05, 0.2], layers, batch_size=6, bootstrap=10, noise=True)
    a = analyze(model, x, y, s)
    plans = {e: plan(a, e, (1, 5, 30), draws=20, seed=0) for e in (1, 2)}
    assert sum(p.kind == "magnitude" for p in plans[1]) >= 40  # 20 draws at each fitting k
    batched = patch_sweep(model, x, y, s, plans)
    for e in plans:
        plain = _plain_counts(model, x, y, s, plans[e], s.eps[e])
        assert batched[e].correct.long().tolist() == plain
    assert no_hooks(model)
