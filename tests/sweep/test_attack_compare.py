"""Several attacks in one run: each equals its own run; transfer, the FGSM grid, overlap and context by hand."""

import numpy as np
import pytest
import torch
from helpers import images, sweep, tiny_resnet
from scipy.stats import spearmanr

from rnnviz.common.errors import UsageError
from rnnviz.measures.curves import eps_grid, fgsm_curve
from rnnviz.measures.overlap import overlap, ranks, spearman
from rnnviz.measures.transfer import transfer
from rnnviz.results.attack_entries import context
from rnnviz.settings.config import build_config
from rnnviz.sweep.attacks import PGDSettings, fgsm
from rnnviz.sweep.loop import analyze, analyze_attacks

LAYERS = ["layer1", "layer3"]
ATTACKS = ("fgsm", "pgd", "pgd-l2")


@pytest.fixture(scope="module")
def setup():
    x, y = images(10)
    s = sweep([0.0, 0.05, 0.2], LAYERS, batch_size=4, seed=3, noise=True, bootstrap=8, pgd=PGDSettings(steps=3))
    return tiny_resnet(0).module, x, y, s


def test_each_attack_of_a_multi_attack_run_equals_its_own_run(setup):
    model, x, y, s = setup
    together = analyze_attacks(model, x, y, s, ATTACKS)
    for name in ATTACKS:
        alone = analyze(model, x, y, sweep(**{**s.__dict__, "attack": name}))
        both = together[name]
        assert np.array_equal(both.pred, alone.pred), name
        for e in range(len(s.eps)):
            for layer in LAYERS:
                torch.testing.assert_close(both.channels[e][layer], alone.channels[e][layer], rtol=1e-6, atol=1e-9)
                if s.eps[e] > 0 and name != "pgd-l2":  # the noise baseline has the first attack's norm (Linf)
                    torch.testing.assert_close(
                        both.measures[e].noise.channels()[layer], alone.measures[e].noise.channels()[layer]
                    )
        assert both.accuracy[0] == alone.accuracy[0]  # eps = 0 is clean accuracy, the same for every attack
    assert together["fgsm"].accuracy != together["pgd"].accuracy or together["fgsm"].pred.tolist()


def test_transfer_equals_crafting_on_one_model_and_evaluating_the_other(setup):
    _, x, y, s = setup
    a, b = tiny_resnet(0).module.eval(), tiny_resnet(1).module.eval()
    counts = transfer({"standard": a, "robust": b}, x, y, s)
    grabbed: dict = {}
    for (src, tgt), (source, target) in {("standard", "robust"): (a, b), ("robust", "standard"): (b, a)}.items():
        c = counts[(src, tgt)]
        for e, eps in enumerate(s.eps):
            x_adv = fgsm(source, x, y, eps)  # all images at once: the batch split must not matter
            with torch.no_grad():
                expected = int((target(x_adv).argmax(1) == y).sum())
            assert c.correct[e] == expected and c.n == len(y)
        # the target's sigma on the source's images, recomputed with a plain forward hook
        handle = target.get_submodule("layer3").register_forward_hook(lambda m, i, o: grabbed.__setitem__("o", o))
        with torch.no_grad():
            target(x)
            clean = grabbed["o"]
            target(fgsm(source, x, y, 0.2))
            adv = grabbed["o"]
        handle.remove()
        direct = (clean - adv).abs().mean((2, 3)).mean(0).double()
        torch.testing.assert_close(c.meters[2].channels()["layer3"], direct, rtol=1e-5, atol=1e-7)


def test_fgsm_curve_equals_fgsm_at_each_eps(setup):
    model, x, y, _ = setup
    grid = eps_grid([0.0, 0.1], 5)
    assert grid == [0.0, 0.025, 0.05, 0.075, 0.1]
    correct = fgsm_curve(model, x, y, grid, batch_size=3, device="cpu")
    with torch.no_grad():
        expected = [int((model(fgsm(model, x, y, e)).argmax(1) == y).sum()) for e in grid]
    assert correct.tolist() == expected
    assert eps_grid([0.0], 21) == [] and eps_grid([0.1], 0) == []


def test_overlap_matrices_by_hand(setup):
    model, x, y, s = setup
    together = analyze_attacks(model, x, y, s, ("fgsm", "pgd"))
    o = overlap(together, "sigma", 3)
    names = [(c["attack"], c["eps"]) for c in o["conditions"]]
    assert names == [("fgsm", 0.05), ("fgsm", 0.2), ("pgd", 0.05), ("pgd", 0.2), ("noise", 0.05), ("noise", 0.2)]
    flat = {
        (c["attack"], c["eps_index"]): torch.cat(
            list(
                (
                    together["fgsm"].measures[c["eps_index"]].noise
                    if c["attack"] == "noise"
                    else together[c["attack"]].measures[c["eps_index"]].sigma
                )
                .channels()
                .values()
            )
        )
        for c in o["conditions"]
    }
    keys = list(flat)
    for i, ki in enumerate(keys):
        for j, kj in enumerate(keys):
            ti, tj = set(torch.topk(flat[ki], 3).indices.tolist()), set(torch.topk(flat[kj], 3).indices.tolist())
            assert o["jaccard"][i][j] == pytest.approx(len(ti & tj) / len(ti | tj))
            if i != j:
                assert o["spearman"][i][j] == pytest.approx(spearmanr(flat[ki], flat[kj])[0], abs=1e-9)
    assert all(0 <= v <= 1 for v in o["expected_jaccard"])


def test_spearman_handles_ties_and_constants():
    a, b = torch.tensor([3.0, 1, 2, 2, 5]), torch.tensor([1.0, 2, 3, 4, 4])
    assert spearman(ranks(a), ranks(b)) == pytest.approx(spearmanr(a, b)[0])
    assert spearman(ranks(a), ranks(torch.ones(5))) == 0.0


def test_context_from_the_preset_the_flag_or_nowhere():
    built = context(build_config({"preset": "fashion"}))
    assert built["train_eps"]["robust"] == 0.1 and built["train_eps"]["source"] == "model card"
    assert built["full_test_accuracy"]["standard"] == 92.83
    own = context(build_config({"preset": "fashion", "robust": "builtin:fashion-vgg-robust"}))
    assert own == {"train_eps": None, "full_test_accuracy": None}  # not the preset's pair: unknown
    flagged = context(build_config({"preset": "fashion", "robust": "x.pt", "train_eps": 0.03}))
    assert flagged["train_eps"]["robust"] == 0.03 and flagged["train_eps"]["source"] == "--train-eps"
    l2 = context(build_config({"preset": "imagenet-densenet", "data": "/tmp"}))
    assert l2["train_eps"]["norm"] == "l2" and l2["train_eps"]["robust"] == 3.0


@pytest.mark.parametrize(
    "attack, message",
    [("fgsm,fgsm", "each attack once"), ("fgsm,cw", "unknown --attack 'cw'"), ("fgsm,", "empty entry")],
)
def test_attack_lists_are_checked(attack, message):
    with pytest.raises(UsageError, match=message):
        build_config({"preset": "fashion", "attack": attack})


def test_attack_list_keeps_the_users_order():
    cfg = build_config({"preset": "fashion", "attack": "pgd,fgsm"})
    assert cfg.attack == ["pgd", "fgsm"] and cfg.primary_attack == "pgd"
