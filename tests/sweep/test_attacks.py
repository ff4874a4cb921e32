"""FGSM and PGD: against torchattacks, a finite difference, and the eps = 0 contract."""

import pytest
import torch
import torch.nn.functional as F
from helpers import TwoLayerNet, freeze, images, sweep, tiny_resnet

from rnnviz.sweep.attacks import (
    ATTACK_NORM,
    PGDSettings,
    attack,
    fgsm,
    fgsm_step,
    input_gradient,
    pgd,
    pgd_l2,
)
from rnnviz.sweep.draws import Starts
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.noise import NoiseControl, matched_noise
from rnnviz.sweep.passes import CleanBatch, adversarial


@pytest.fixture(scope="module")
def resnet():
    return tiny_resnet()


def test_fgsm_matches_torchattacks(resnet):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = images(4)
    for eps in (0.01, 8 / 255, 0.1):
        theirs = torchattacks.FGSM(resnet.module, eps=eps)(x, y)
        ours = fgsm(resnet.module, x, y, eps)
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_gradient_sign_agrees_with_finite_difference():
    torch.manual_seed(0)
    net = freeze(TwoLayerNet().double())
    x = (0.2 + 0.6 * torch.rand(1, 3, 4, 4)).double()
    y = torch.tensor([0])
    grad, _ = input_gradient(net, x, y)
    h = 1e-6
    for idx in [(0, 0, 0, 0), (0, 1, 2, 3), (0, 2, 1, 1), (0, 0, 3, 2)]:
        e = torch.zeros_like(x)
        e[idx] = h
        fd = (F.cross_entropy(net(x + e), y, reduction="sum") - F.cross_entropy(net(x - e), y, reduction="sum")) / (
            2 * h
        )
        assert torch.sign(fd) == torch.sign(grad[idx])
        assert fd.item() == pytest.approx(grad[idx].item(), rel=1e-4, abs=1e-9)


def test_eps_zero_reproduces_clean_predictions_exactly(resnet):
    x, y = images(5)
    with torch.no_grad():
        clean = resnet.module(x).argmax(1).numpy()
    for name in ("fgsm", "pgd"):
        a = analyze(resnet.module, x, y, sweep([0.0, 0.05], ["layer1.0"], attack=name, pgd=PGDSettings(steps=2)))
        assert (a.pred[0] == clean).all()
        assert a.accuracy[0] == float((clean == y.numpy()).mean())
    assert fgsm(resnet.module, x, y, 0.0) is x and pgd(resnet.module, x, y, 0.0) is x


def test_fgsm_stays_in_ball_and_pixel_range(resnet):
    x, y = images(3)
    adv = fgsm(resnet.module, x, y, 0.1)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() <= 0.1 + 1e-6


def test_pgd_projects_is_seeded_and_beats_start(resnet):
    x, y = images(3)
    settings = PGDSettings(steps=3)
    a = pgd(resnet.module, x, y, 0.03, settings, Starts(generator=torch.Generator().manual_seed(1)))
    b = pgd(resnet.module, x, y, 0.03, settings, Starts(generator=torch.Generator().manual_seed(1)))
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= 0.03 + 1e-6 and a.min() >= 0 and a.max() <= 1
    with torch.no_grad():
        loss_clean = F.cross_entropy(resnet.module(x), y)
        loss_adv = F.cross_entropy(resnet.module(a), y)
    assert loss_adv > loss_clean


def test_analysis_attacks_true_labels_in_eval_mode_and_restores_the_mode(resnet):
    """The sweep's FGSM images are those of the true labels (not the predictions), made with
    BatchNorm on running statistics; a model handed over in train mode gets its mode back."""
    x, y = images(8, seed=3)
    with torch.no_grad():
        predicted = resnet.module(x).argmax(1)
    assert (predicted != y).any()  # otherwise true labels and predictions could not be told apart
    resnet.module.train(True)
    try:
        a = analyze(resnet.module, x, y, sweep([0.0, 0.1], ["conv1"]))
        assert resnet.module.training
    finally:
        resnet.module.eval()
    with torch.no_grad():
        true_label_adv = resnet.module(fgsm(resnet.module, x, y, 0.1)).argmax(1).numpy()
        predicted_adv = resnet.module(fgsm(resnet.module, x, predicted, 0.1)).argmax(1).numpy()
    assert (a.pred[0] == predicted.numpy()).all()
    assert (a.pred[1] == true_label_adv).all() and (true_label_adv != predicted_adv).any()
    assert (a.correct == (a.pred == y.numpy())).all()


def test_pgd_random_start_belongs_to_the_image_not_the_batch(resnet):
    x, y = images(5, seed=4)
    settings = PGDSettings(steps=2)
    whole = pgd(resnet.module, x, y, 0.05, settings, Starts(3, torch.arange(5)))
    parts = torch.cat(
        [
            pgd(
                resnet.module,
                x[i : i + 2],
                y[i : i + 2],
                0.05,
                settings,
                Starts(3, torch.arange(i, min(i + 2, 5))),
            )
            for i in range(0, 5, 2)
        ]
    )
    assert torch.allclose(whole, parts, atol=1e-6)
    other = pgd(resnet.module, x, y, 0.05, settings, Starts(4, torch.arange(5)))
    assert not torch.equal(whole, other)


def _l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


def test_pgd_l2_stays_in_l2_ball_and_pixel_range(resnet):
    x, y = images(4, seed=5)
    for eps in (0.1, 0.5, 2.0):
        adv = pgd_l2(resnet.module, x, y, eps, PGDSettings(steps=3), Starts(1, torch.arange(4)))
        assert (_l2(adv - x) <= eps + 1e-5).all()
        assert adv.min() >= 0 and adv.max() <= 1
    # a large step is projected back onto the sphere, not just clipped per pixel
    adv = pgd_l2(resnet.module, x, y, 0.5, PGDSettings(steps=2, step_size=5.0, random_start=False))
    assert torch.allclose(_l2(adv - x), torch.full((4,), 0.5), atol=0.05)
    assert pgd_l2(resnet.module, x, y, 0.0) is x


def test_pgd_l2_matches_torchattacks(resnet):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = images(4, seed=6)
    for eps, steps in ((0.25, 5), (1.0, 10)):
        settings = PGDSettings(steps=steps, random_start=False)
        theirs = torchattacks.PGDL2(
            resnet.module, eps=eps, alpha=settings.step_for(eps), steps=steps, random_start=False
        )(x, y)
        ours = pgd_l2(resnet.module, x, y, eps, settings)
        assert not torch.allclose(ours, x, atol=1e-3)
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_pgd_l2_random_start_belongs_to_the_image_not_the_batch(resnet):
    x, y = images(5, seed=7)
    settings = PGDSettings(steps=2)
    whole = pgd_l2(resnet.module, x, y, 0.5, settings, Starts(3, torch.arange(5)))
    parts = torch.cat(
        [
            pgd_l2(resnet.module, x[:2], y[:2], 0.5, settings, Starts(3, torch.arange(0, 2))),
            pgd_l2(resnet.module, x[2:], y[2:], 0.5, settings, Starts(3, torch.arange(2, 5))),
        ]
    )
    assert torch.allclose(whole, parts, atol=1e-6)
    assert not torch.allclose(whole, pgd_l2(resnet.module, x, y, 0.5, settings, Starts(4, torch.arange(5))))
    # the start alone (no steps) lies inside the ball and differs from the clean image
    start = pgd_l2(resnet.module, x, y, 0.5, PGDSettings(steps=0, step_size=0.1), Starts(3, torch.arange(5)))
    assert (_l2(start - x) <= 0.5 + 1e-5).all() and (_l2(start - x) > 0).all()


def test_pgd_l2_raises_loss_and_lowers_accuracy():
    from rnnviz.data.builtin import load_builtin_sample
    from rnnviz.models.loading import load_model

    model = load_model("builtin:fashion-standard").module
    data = load_builtin_sample([0, 7, 9], 8, 0)
    x, y = data.images, data.labels
    adv = pgd_l2(model, x, y, 1.5, PGDSettings(steps=5), Starts(0, torch.arange(len(y))))
    with torch.no_grad():
        clean_logits, adv_logits = model(x), model(adv)
    assert F.cross_entropy(adv_logits, y) > F.cross_entropy(clean_logits, y)
    assert (adv_logits.argmax(1) == y).float().mean() < (clean_logits.argmax(1) == y).float().mean()


def test_attack_dispatch(resnet):
    x, y = images(3, seed=8)
    grad, _ = input_gradient(resnet.module, x, y)
    settings = PGDSettings(steps=2)
    idx = torch.arange(3)
    with LayerHooks(resnet.module, ["layer1"]) as hooks:  # the sweep's FGSM: one gradient for every eps
        fgsm_sweep = sweep([0.0, 0.1], ["layer1"], pgd=settings)
        adv = adversarial(resnet.module, hooks, CleanBatch(x, y, idx, grad), 0.1, fgsm_sweep)
    assert torch.equal(adv, fgsm_step(x, grad, 0.1))
    assert torch.allclose(attack("fgsm", resnet.module, x, y, 0.1, settings), fgsm(resnet.module, x, y, 0.1))
    assert torch.equal(
        attack("pgd", resnet.module, x, y, 0.05, settings, Starts(2, idx)),
        pgd(resnet.module, x, y, 0.05, settings, Starts(2, idx)),
    )
    assert torch.equal(
        attack("pgd-l2", resnet.module, x, y, 0.5, settings, Starts(2, idx)),
        pgd_l2(resnet.module, x, y, 0.5, settings, Starts(2, idx)),
    )
    for name in ATTACK_NORM:
        assert attack(name, resnet.module, x, y, 0.0, settings, Starts(indices=idx)) is x
    assert ATTACK_NORM == {"fgsm": "linf", "pgd": "linf", "pgd-l2": "l2", "apgd": "linf", "apgd-t": "linf"}
    with pytest.raises(ValueError, match="pgd-l2"):
        attack("cw", resnet.module, x, y, 0.1, settings)


def test_l2_sign_noise_has_the_l2_attacks_size():
    x = torch.full((2, 3, 8, 8), 0.5)
    index = torch.tensor([4, 9])
    noisy = matched_noise(x, 2.0, 0, index, NoiseControl("l2", "rgb", "sign"))
    torch.testing.assert_close((noisy - x).flatten(1).norm(dim=1), torch.full((2,), 2.0))
    same_signs = (matched_noise(x, 2.0, 0, index, NoiseControl("linf", "rgb", "sign")) - x).sign()
    assert torch.equal((noisy - x).sign(), same_signs)  # the Linf baseline's signs, scaled
