"""Counter-based per-image randomness (issue 26): a pure function of (seed, stream, index)."""

import math

import pytest
import torch

from rnnviz.sweep import draws
from rnnviz.sweep.attacks import _l2_start, _start
from rnnviz.sweep.bootstrap import ImageWeights
from rnnviz.sweep.noise import NoiseControl, matched_noise

MASK = (1 << 64) - 1


def splitmix_finalizer(x: int) -> int:
    """SplitMix64's finalizer on Python ints (unbounded, masked): the reference for the torch one."""
    x &= MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def test_the_torch_hash_is_splitmix64():
    key = splitmix_finalizer(splitmix_finalizer(7) ^ 3)
    golden = 0x9E3779B97F4A7C15
    want = [[splitmix_finalizer(splitmix_finalizer(i ^ key) + j * golden) for j in (1, 2, 3)] for i in (0, 5, 2**40)]
    got = draws.bits(7, 3, torch.tensor([0, 5, 2**40]), 3)
    assert [[v & MASK for v in row] for row in got.tolist()] == want
    # the uniform is the top 53 bits over 2^53
    assert draws.uniform(7, 3, torch.tensor([5]), 1).item() == (want[1][0] >> 11) / 2**53


@pytest.mark.parametrize(
    "draw",
    [
        lambda i: draws.uniform(1, 2, i, 37),
        lambda i: draws.uniform(1, 2, i, 37, torch.float32),
        lambda i: draws.signs(1, 2, i, 131),
        lambda i: draws.poisson1(1, 2, i, 9),
        lambda i: draws.normal(1, 2, i, 11),
    ],
)
def test_draws_do_not_depend_on_the_batch(draw):
    index = torch.arange(100)
    whole = draw(index)
    assert torch.equal(whole, torch.cat([draw(index[:50]), draw(index[50:])]))
    assert torch.equal(whole[[7, 3]], draw(torch.tensor([7, 3])))  # any order, any subset
    assert not torch.equal(whole, draw(index + 100))


def within(values: torch.Tensor, mean: float, var: float, fourth: float | None) -> None:
    """Sample mean and variance within 5 standard errors (``fourth``: the 4th central moment;
    None for a coin, whose variance its mean fixes)."""
    n = values.numel()
    v = values.double().flatten()
    assert abs(float(v.mean()) - mean) < 5 * math.sqrt(var / n)
    if fourth is not None:
        assert abs(float(v.var()) - var) < 5 * math.sqrt((fourth - var**2) / n)


def test_the_distributions_are_right_over_100k_draws():
    index = torch.arange(1000)
    within(draws.uniform(0, 1, index, 100), 0.5, 1 / 12, 1 / 80)
    within(draws.uniform(0, 1, index, 100, torch.float32), 0.5, 1 / 12, 1 / 80)
    within(draws.signs(0, 1, index, 100).double(), 0.5, 0.25, None)
    within(draws.poisson1(0, 1, index, 100), 1.0, 1.0, 4.0)  # Poisson(1): 4th central moment 1 + 3
    within(draws.normal(0, 1, index, 100), 0.0, 1.0, 3.0)
    u = draws.uniform(0, 1, index, 100)
    assert float(u.min()) >= 0 and float(u.max()) < 1


def test_signs_of_neighbouring_images_and_pixels_are_uncorrelated():
    s = draws.signs(0, 1, torch.arange(2000), 64).double() * 2 - 1  # +-1, 128k values
    n = s.numel()
    for a, b in [(s[:-1], s[1:]), (s[:, :-1], s[:, 1:]), (s[:, :-8], s[:, 8:])]:
        assert abs(float((a * b).mean())) < 5 / math.sqrt(n)


def test_streams_and_seeds_are_independent():
    index = torch.arange(1000)
    a, b = draws.uniform(0, 1, index, 100), draws.uniform(0, 2, index, 100)
    c = draws.uniform(1, 1, index, 100)
    for other in (b, c):
        r = torch.corrcoef(torch.stack([a.flatten(), other.flatten()]))[0, 1]
        assert abs(float(r)) < 5 / math.sqrt(a.numel())


def test_noise_pgd_starts_and_weights_belong_to_the_image():
    x, index = torch.rand(6, 3, 5, 5), torch.arange(10, 16)
    noise = matched_noise(x, 0.1, 3, index, NoiseControl("linf", "rgb", "sign"))
    assert torch.equal(noise[2:], matched_noise(x[2:], 0.1, 3, index[2:], NoiseControl("linf", "rgb", "sign")))
    moved = (noise - x)[(x > 0.1) & (x < 0.9)]
    assert torch.allclose(moved.abs(), torch.full_like(moved, 0.1))
    assert torch.equal(_start((3, 5, 5), 3, index)[1:], _start((3, 5, 5), 3, index[1:]))
    direction, radius = _l2_start((3, 5, 5), 3, index)
    assert direction.shape == (6, 3, 5, 5) and radius.shape == (6,) and float(radius.max()) < 1
    w = ImageWeights(20, (0, 2), 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    whole = w.of(index, labels)
    assert torch.equal(whole[3:], w.of(index[3:], labels[3:]))
    assert torch.equal(whole[:, w.columns("classes")], torch.stack([labels == 0, labels == 2], 1).double())
