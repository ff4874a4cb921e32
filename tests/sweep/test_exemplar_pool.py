"""The exemplar pool's clean top-n (``clean_exemplars``): bounded, the same for any batching and for
two ranks merged, equal to a brute-force sort, and merged with the sweep's lists as one pass over both."""

from __future__ import annotations

import pytest
import torch
from helpers import images, tiny_resnet

from rnnviz.pipeline.pool import merge_pool
from rnnviz.sweep.accumulators import merged
from rnnviz.sweep.exemplars import TopExemplars, clean_exemplars
from rnnviz.sweep.hooks import LayerHooks, channel_mean

LAYERS = ["layer2", "layer4"]
EPS = [0.0, 0.1]
N_ANALYSED = 5  # the pool's indices start after the analysed images'


def _batches(x: torch.Tensor, batch: int, start: int = 0, stop: int | None = None):
    stop = len(x) if stop is None else stop
    return ((s, x[s : min(s + batch, stop)]) for s in range(start, stop, batch))


def _pool(net, x, batch: int, n: int = 3, start: int = 0, stop: int | None = None) -> TopExemplars:
    return clean_exemplars(net, _batches(x, batch, start, stop), LAYERS, n, EPS, N_ANALYSED)


def _lists(acc: TopExemplars) -> dict:
    return {k: [(r["index"], r["value"]) for r in v["clean"]] for k, v in acc.summary().items()}


def _same(got: dict, want: dict) -> bool:
    """The same kept images per channel, in order, and the same values up to float rounding (a
    conv's last bits depend on the batch it ran in; which images are kept must not)."""
    assert got.keys() == want.keys()
    for key in want:
        assert [i for i, _ in got[key]] == [i for i, _ in want[key]], key
        assert [v for _, v in got[key]] == pytest.approx([v for _, v in want[key]], rel=1e-5, abs=1e-7), key
    return True


def _brute(net, x, n: int, offset: int) -> dict:
    """Every image's spatial-mean activation, sorted by (-value, index): what the top-n must hold."""
    with torch.no_grad(), LayerHooks(net, LAYERS) as hooks:
        acts = hooks.run(x)
    out = {}
    for name in LAYERS:
        values = channel_mean(acts[name])
        for ch in range(values.shape[1]):
            rows = sorted(
                ((float(v), i + offset) for i, v in enumerate(values[:, ch].tolist())), key=lambda r: (-r[0], r[1])
            )
            out[f"{name}:{ch}"] = [i for _, i in rows[:n]]
    return out


def test_the_pool_top_n_is_a_brute_force_sort_and_bounded():
    net = tiny_resnet(0).module
    x, _ = images(11, seed=3)
    acc = _pool(net, x, batch=4)
    got = {k: [i for i, _ in rows] for k, rows in _lists(acc).items()}
    assert got == _brute(net, x, 3, N_ANALYSED)
    assert all(min(got_rows) >= N_ANALYSED for got_rows in got.values())  # global indices after the analysed
    big, _ = images(40, seed=4)  # memory flat in the pool's size: (C, n) per layer whatever N is
    assert [v.shape for v, _ in _pool(net, big, 8).clean.values()] == [v.shape for v, _ in acc.clean.values()]
    assert all(v.shape[1] == 3 for v, _ in acc.clean.values())
    assert all(not store for store in acc.change)  # a clean pass only: no attack, no change lists


def test_the_pool_is_the_same_for_any_batch_size_and_two_ranks_merged():
    net = tiny_resnet(1).module
    x, _ = images(13, seed=5)
    whole = _lists(_pool(net, x, batch=13))
    for batch in (1, 3, 5):
        assert _same(_lists(_pool(net, x, batch)), whole)
    # two simulated torchrun ranks: contiguous shards 0..7 and 7..13, merged in either order
    rank0, rank1 = _pool(net, x, 3, start=0, stop=7), _pool(net, x, 4, start=7)
    assert _same(_lists(merged([rank0, rank1])), whole)
    assert _lists(merged([rank1, rank0])) == _lists(merged([rank0, rank1]))  # order-free, exactly
    both = merge_pool([{"standard": rank0, "robust": rank1}, {"standard": rank1, "robust": rank0}])
    assert both is not None and _same(_lists(both["standard"]), whole) and _same(_lists(both["robust"]), whole)
    assert merge_pool([None]) is None


def test_the_sweeps_lists_merged_with_the_pool_equal_one_pass_over_both():
    net = tiny_resnet(2).module
    analysed, _ = images(N_ANALYSED, seed=6)
    pool, _ = images(9, seed=7)
    sweep = TopExemplars(LAYERS, 3, len(EPS), eps=EPS)
    with torch.no_grad(), LayerHooks(net, LAYERS) as hooks:
        sweep.add_clean(0, hooks.run(analysed))
    shown = merged([sweep, _pool(net, pool, 4)])
    got = {k: [i for i, _ in rows] for k, rows in _lists(shown).items()}
    assert got == _brute(net, torch.cat([analysed, pool]), 3, 0)
    assert _lists(sweep) != got  # the pool changed some lists (else this test shows nothing)
