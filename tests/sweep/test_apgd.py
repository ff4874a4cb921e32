"""APGD-CE and APGD-T: the step-size schedule by hand, per-image seeding, eps = 0, and torchattacks."""

import pytest
import torch
import torch.nn.functional as F
from helpers import images, tiny_resnet
from torch import nn

from rnnviz.sweep.apgd import (
    APGDSettings,
    AscentSettings,
    apgd,
    apgd_t,
    ascent,
    ce_loss,
    checkpoints,
    dlr_targeted_loss,
    fooled_by,
)
from rnnviz.sweep.attacks import PGDSettings, attack
from rnnviz.sweep.draws import Starts


@pytest.fixture(scope="module")
def resnet():
    return tiny_resnet()


def test_checkpoints_follow_the_papers_schedule():
    """w_j = ceil(p_j N), p = 0, .22, .41, .57, .70, .80, .87, .93, .99 (AutoAttack's 100 iterations)."""
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(200) == [44, 82, 114, 140, 160, 174, 186, 198]
    assert checkpoints(25) == [6, 11, 15, 18, 20, 22, 24, 25]  # ceil(.22*25)=6, ceil(.41*25)=11, ...
    assert checkpoints(1) == [1]


class Scripted(nn.Module):
    """Logits [10, a_t] on its t-th call, whatever the input (zero gradient: the point never moves).
    With label 0 the cross-entropy is softplus(a_t - 10): it rises exactly where a_t rises, and the
    image is never misclassified, so the loss sequence alone drives the step size."""

    def __init__(self, a: list[float]):
        super().__init__()
        self.a, self.t = a, 0

    def forward(self, x):
        a = torch.tensor(self.a[self.t], dtype=x.dtype)
        self.t += 1
        return torch.stack([torch.full((len(x),), 10.0, dtype=x.dtype), a.expand(len(x))], 1) + 0 * x.sum()


def _script() -> list[float]:
    """a_0 .. a_100: each checkpoint interval of N = 100 chosen to test one rule."""
    a = [0.0]
    a += [0.1 * t for t in range(1, 23)]  # 1-22 rise every step (22 > .75*22): kept
    a += [2.2 - 0.1 * (t - 22) for t in range(23, 42)]  # 23-41 fall: halved
    a += [0.3 + 0.1 * (t - 41) for t in range(42, 58)]  # 42-57 rise below the best (2.2): kept (just halved)
    a += [1.0 + 0.05 * (t - 57) for t in range(58, 71)]  # 58-70 rise 12/13, best unchanged: halved (rule 2)
    a += [2.2 + 0.1 * (t - 70) for t in range(71, 81)]  # 71-80 rise above the best: kept
    a += [3.2] * 7  # 81-87 flat: no rise (0 <= .75*7): halved
    a += [3.2 + 0.1 * (t - 87) for t in range(88, 94)]  # 88-93 rise: kept
    a += [3.0 - 0.1 * (t - 93) for t in range(94, 100)]  # 94-99 fall: halved
    return a + [0.0]  # 100


def test_step_size_halves_exactly_at_the_checkpoints_by_both_rules():
    eps = 0.25
    model = Scripted(_script())
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    y = torch.tensor([0])
    start = torch.zeros_like(x)
    run = ascent(model, x, y, AscentSettings(eps, 100, record=True), ce_loss, start)
    assert model.t == 101  # the start and one pass per iteration
    expected = [2 * eps] * 41 + [eps] * 29 + [eps / 2] * 17 + [eps / 4] * 12 + [eps / 8]
    assert run.steps is not None
    assert run.steps[:, 0].tolist() == expected
    assert not run.fooled.item()
    assert run.loss.item() == pytest.approx(F.softplus(torch.tensor(max(_script()) - 10.0)).item())


def test_eps_zero_returns_the_input(resnet):
    x, y = images(3)
    assert apgd(resnet.module, x, y, 0.0) is x and apgd_t(resnet.module, x, y, 0.0) is x
    for name in ("apgd", "apgd-t"):
        assert attack(name, resnet.module, x, y, 0.0, PGDSettings()) is x


def test_an_image_gets_the_same_attack_in_any_batch(resnet):
    x, y = images(5, seed=11)
    settings = APGDSettings(iterations=6, targets=2)
    for run in (apgd, apgd_t):
        for stop in (False, True):

            def part(rows: slice, run=run, stop=stop):
                index = torch.arange(5)[rows]
                return run(resnet.module, x[rows], y[rows], 0.05, settings, Starts(3, index), stop_when_fooled=stop)

            whole = part(slice(0, 5))
            parts = torch.cat([part(slice(0, 2)), part(slice(2, 5))])
            torch.testing.assert_close(whole, parts, atol=1e-6, rtol=0)
            assert (whole - x).abs().max() <= 0.05 + 1e-6 and whole.min() >= 0 and whole.max() <= 1
        other = run(resnet.module, x, y, 0.05, settings, Starts(4, torch.arange(5)))
        assert not torch.equal(whole, other)


def test_dispatch_and_the_kept_point(resnet):
    """``attack`` runs the settings' APGD; a fooled image keeps a misclassified point."""
    x, y = images(6, seed=12)
    s = PGDSettings(apgd=APGDSettings(iterations=5, targets=2))
    idx = torch.arange(6)
    starts = Starts(indices=idx)
    assert torch.equal(attack("apgd", resnet.module, x, y, 0.1, s, starts), apgd(resnet.module, x, y, 0.1, s.apgd))
    adv = attack("apgd-t", resnet.module, x, y, 0.1, s, starts)
    assert torch.equal(adv, apgd_t(resnet.module, x, y, 0.1, s.apgd))
    fooled = fooled_by("apgd-t", resnet.module, x, y, 0.1, s.apgd, Starts(0, idx))
    with torch.no_grad():
        wrong = resnet.module(adv).argmax(1) != y
    assert torch.equal(wrong, fooled)  # no early stop, the same starts: the same verdicts


def test_targeted_dlr_loss_by_hand():
    logits = torch.tensor([[4.0, 1.0, 3.0, 0.0, 2.0]])
    # y = 0, target 2: -(4 - 3) / (4 - (2 + 1) / 2) = -1 / 2.5
    assert dlr_targeted_loss(logits, torch.tensor([0]), torch.tensor([2])).item() == pytest.approx(-0.4)


@pytest.fixture(scope="module")
def fashion():
    from rnnviz.data.builtin import load_builtin_sample
    from rnnviz.models.loading import load_model

    data = load_builtin_sample([7, 8, 9], 12, 0)
    return load_model("builtin:fashion-robust").module, data.images, data.labels


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_apgd_ce_and_t_match_torchattacks_on_the_builtin_pair(fashion):
    """The same images at eps 0.15 (the robust model's accuracy falls there): accuracy under ours and
    under torchattacks' APGD / APGDT agree within the spread of random starts (3 seeds each)."""
    torchattacks = pytest.importorskip("torchattacks")
    model, x, y = fashion
    eps, steps, n = 0.15, 20, len(y)
    idx = torch.arange(n)
    ours_ce = [_accuracy(model, apgd(model, x, y, eps, APGDSettings(steps), Starts(s, idx)), y) for s in range(3)]
    theirs_ce = [
        _accuracy(model, torchattacks.APGD(model, eps=eps, steps=steps, seed=s, loss="ce")(x, y), y) for s in range(3)
    ]
    settings = APGDSettings(steps, targets=3)
    ours_t = [_accuracy(model, apgd_t(model, x, y, eps, settings, Starts(s, idx)), y) for s in range(3)]
    theirs_t = [
        _accuracy(model, torchattacks.APGDT(model, eps=eps, steps=steps, seed=s, n_classes=4)(x, y), y)
        for s in range(3)
    ]
    clean = _accuracy(model, x, y)
    for ours, theirs in ((ours_ce, theirs_ce), (ours_t, theirs_t)):
        assert max(ours) < clean  # the attack does something here
        spread = max(ours + theirs) - min(ours + theirs)
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        assert abs(mean(ours) - mean(theirs)) <= max(spread, 2 / n) + 1e-9
