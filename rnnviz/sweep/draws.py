"""Counter-based per-image randomness: a pure function of (seed, stream, global image index).

Every random number an image gets (its noise-baseline signs, its PGD start, its bootstrap
weights, its random subsets) is a hash of its key, so a batch's draws are computed at once, on
the batch's device, with no generator object per image and no host round trip; any batching,
order or sharding of the images gives each image the same numbers.

The hash is SplitMix64's finalizer (Steele, Lea & Flood 2014, the seeder of xoshiro), written in
torch int64 ops: multiplication wraps modulo 2^64, and a logical right shift is an arithmetic
shift with the sign-extended bits masked off. Draw j of image i is
``mix(mix(mix(seed, stream) ^ mix(i)) + j * golden)``: one counter per (image, draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnviz.common.files import key_digest

_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / phi, SplitMix64's increment
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_POISSON_TAIL = 24  # Poisson(1) values above 24 have probability < 1e-25: never drawn


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 torch holds it."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finalizer on int64 tensors (a bijection of 64-bit patterns), in place on ``x``."""
    x ^= _shr(x, 30)
    x *= _signed(_M1)
    x ^= _shr(x, 27)
    x *= _signed(_M2)
    x ^= _shr(x, 31)
    return x


def _mix_int(value: int) -> int:
    """The same finalizer on one Python int (the per-call key: computed once, not per image)."""
    return int(_mix(torch.tensor([_signed(value)], dtype=torch.int64))[0])


def bits(seed: int, stream: int, index: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) int64 random bit patterns for the images with global ``index`` (B,), on its device."""
    key = _mix_int(_mix_int(seed) ^ _signed(stream))
    row = _mix(index.to(torch.int64).reshape(-1, 1) ^ key)
    counter = torch.arange(1, n + 1, dtype=torch.int64, device=index.device) * _signed(_GOLDEN)
    return _mix(row + counter)


def uniform(seed: int, stream: int, index: torch.Tensor, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(B, n) uniform draws in [0, 1), so that rounding never reaches 1: float64 takes the top 53
    bits of one hash; float32 (and narrower) takes 24 bits, two draws from each hash's halves."""
    if dtype == torch.float64:
        return _shr(bits(seed, stream, index, n), 11).to(dtype) * 2.0**-53
    h = bits(seed, stream, index, (n + 1) // 2)
    halves = torch.stack([_shr(h, 40), (h >> 8) & ((1 << 24) - 1)], dim=2).flatten(1)[:, :n]
    return halves.to(dtype) * 2.0**-24


def signs(seed: int, stream: int, index: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) bool, each True with probability 1/2: 64 independent bits from every hash, taken
    byte by byte with shifts (the same bits on any machine, whatever its byte order)."""
    h = bits(seed, stream, index, (n + 63) // 64)
    shifts = torch.arange(0, 64, 8, dtype=torch.int64, device=h.device)
    octets = ((h[:, :, None] >> shifts) & 255).to(torch.uint8)  # (B, m, 8)
    masks = torch.tensor([1 << k for k in range(8)], dtype=torch.uint8, device=h.device)
    return ((octets[:, :, :, None] & masks) != 0).flatten(1)[:, :n]


def poisson1(seed: int, stream: int, index: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) float64 Poisson(1) counts by inverse CDF: the number of CDF steps below a uniform."""
    u = uniform(seed, stream, index, n)
    k = torch.arange(_POISSON_TAIL + 1, dtype=torch.float64)
    pmf = torch.exp(-1.0 - torch.lgamma(k + 1))
    cdf = torch.cumsum(pmf, 0).to(u.device)
    return torch.searchsorted(cdf, u, right=True).clamp_(max=_POISSON_TAIL).to(torch.float64)


def normal(seed: int, stream: int, index: torch.Tensor, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, n) standard normals by Box–Muller: each pair of uniforms gives a cosine and a sine draw."""
    half = (n + 1) // 2
    u = uniform(seed, stream, index, 2 * half)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[:, :half]))  # 1 - u is in (0, 1]: log is finite
    angle = (2 * math.pi) * u[:, half:]
    return torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)[:, :n].to(dtype)


def stream_of(name: str, *parts: object) -> int:
    """A stream number for a named use of randomness and its parameters (e.g. noise at one eps)."""
    return int(key_digest(stream=name, parts=[repr(p) for p in parts])[:15], 16)


@dataclass(frozen=True)
class Starts:
    """Where an attack's random starts come from (PGD's and APGD's). With ``indices``, the images'
    global indices, each image's start is a draw keyed by ``seed`` and its index, so an image gets
    the same attack in any batch, order or shard; APGD keys it by ``stream`` too, so a second
    evaluation of the same images is a fresh try. Without ``indices``, PGD draws from ``generator``
    (torch's default one when None) and APGD keys each image by its place in the batch."""

    seed: int = 0
    indices: torch.Tensor | None = None
    generator: torch.Generator | None = None
    stream: str = ""
