"""TopExemplars: the streamed top-n equals a brute-force sort, for any batch size and any sharding."""

from __future__ import annotations

import pytest
import torch

from rnnviz.sweep.accumulators import Step
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.hooks import LayerHooks, channel_mean
from rnnviz.sweep.sensitivity import channel_l1
from tests.helpers import images, tiny_resnet

LAYERS = ["relu", "layer2", "layer4", "fc"]
EPS = [0.0, 0.05, 0.1]
N_IMAGES = 7


def _perturbed(x: torch.Tensor, eps: float, index: torch.Tensor) -> torch.Tensor:
    """A fixed sign perturbation per image (a function of its global index, not of the batch)."""
    signs = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(int(i))) for i in index])
    return (x + eps * signs.sign()).clamp(0, 1)


def _stream(net, x, batch: int, n: int, offset: int = 0, keep: list | None = None) -> TopExemplars:
    """Feed ``x`` as the sweep does (add_clean once per batch, add per eps); optionally keep everything."""
    acc = TopExemplars(LAYERS, n, len(EPS), eps=EPS, offset=offset)
    with torch.no_grad(), LayerHooks(net, LAYERS) as hooks:
        for start in range(0, len(x), batch):
            xb = x[start : start + batch]
            index = torch.arange(start, start + len(xb)) + offset
            clean = hooks.run(xb)
            acc.add_clean(start, clean)
            for e, eps in enumerate(EPS):
                adv = clean if eps == 0 else hooks.run(_perturbed(xb, eps, index))
                acc.add(Step(start, e, clean, adv, torch.zeros(len(xb), 10), xb))
                if keep is not None:
                    keep.append((e, clean, adv))
    return acc


def _brute(stored: list, n: int) -> dict:
    """The same lists from every activation stored: a plain sort by (-value, index)."""
    out: dict = {}
    for name in LAYERS:
        clean = torch.cat([c[name] for e, c, _ in stored if e == 0])
        values = channel_mean(clean)
        per_eps = {
            e: channel_l1(
                torch.cat([c[name] for k, c, _ in stored if k == e]),
                torch.cat([a[name] for k, _, a in stored if k == e]),
            )
            for e in range(1, len(EPS))
        }
        for ch in range(values.shape[1]):
            out[f"{name}:{ch}"] = {
                "clean": _sorted(values[:, ch]),
                "change": {repr(EPS[e]): _sorted(q[:, ch]) for e, q in per_eps.items()},
            }
    return {
        key: {"clean": v["clean"][:n], "change": {k: r[:n] for k, r in v["change"].items()}} for key, v in out.items()
    }


def _sorted(column: torch.Tensor) -> list[tuple[int, float]]:
    rows = sorted(((float(v), i) for i, v in enumerate(column.tolist())), key=lambda r: (-r[0], r[1]))
    return [(i, v) for v, i in rows]


def _assert_same(summary: dict, brute: dict) -> None:
    assert summary.keys() == brute.keys()
    for key, entry in summary.items():
        lists = [(entry["clean"], brute[key]["clean"])]
        assert entry["change"].keys() == brute[key]["change"].keys()
        lists += [(entry["change"][k], brute[key]["change"][k]) for k in entry["change"]]
        for got, want in lists:
            assert [r["index"] for r in got] == [i for i, _ in want], key
            assert [r["value"] for r in got] == pytest.approx([v for _, v in want], rel=1e-5, abs=1e-7), key


@pytest.fixture(scope="module")
def data():
    return tiny_resnet().module, images(N_IMAGES, size=16)[0]  # 16 x 16: a fast forward, four stages still


@pytest.mark.parametrize(("batch", "n"), [(1, 3), (3, 3), (N_IMAGES, 3), (3, 10)])
def test_streamed_top_n_equals_brute_force(data, batch, n):
    net, x = data
    stored: list = []
    acc = _stream(net, x, batch, n, keep=stored)
    summary = acc.summary()
    _assert_same(summary, _brute(stored, n))
    # eps 0 has no change list; every list holds min(n, N) images; memory is (C, n), not N
    assert all(set(e["change"]) == {"0.05", "0.1"} for e in summary.values())
    assert all(len(e["clean"]) == min(n, N_IMAGES) for e in summary.values())
    assert acc.clean["layer4"][0].shape == (128, min(n, N_IMAGES))
    assert acc.change[0] == {}
    some = {"layer2": [0, 5], "fc": [3]}
    rows = [r for e in acc.summary(some).values() for r in e["clean"] + sum(e["change"].values(), [])]
    assert acc.image_indices(some) == sorted({r["index"] for r in rows})


def test_merge_of_two_shards_equals_one_pass(data):
    net, x = data
    whole = _stream(net, x, 3, 3).summary()
    first, second = _stream(net, x[:3], 3, 3), _stream(net, x[3:], 3, 3, offset=3)
    assert TopExemplars(LAYERS, 3, len(EPS), eps=EPS).merge(first).merge(second).summary() == whole
    first, second = _stream(net, x[:3], 3, 3), _stream(net, x[3:], 3, 3, offset=3)
    assert second.merge(first).summary() == whole


def _feed(acc: TopExemplars, start: int, values: list[float]) -> None:
    acc.add_clean(start, {"a": torch.tensor(values).view(-1, 1, 1, 1)})


def test_ties_go_to_the_smaller_index_whatever_the_order():
    values = [1.0, 2.0, 2.0, float("nan"), 2.0, 1.0]
    one = TopExemplars(["a"], 3, 1, eps=[0.0])
    _feed(one, 0, values)
    want = [{"index": 1, "value": 2.0}, {"index": 2, "value": 2.0}, {"index": 4, "value": 2.0}]
    assert one.summary()["a:0"]["clean"] == want
    # reversed shards, single images: the same three
    parts = [TopExemplars(["a"], 3, 1, eps=[0.0], offset=i) for i in range(len(values))]
    for i, part in enumerate(parts):
        _feed(part, 0, values[i : i + 1])
    merged = TopExemplars(["a"], 3, 1, eps=[0.0])
    for part in reversed(parts):
        merged.merge(part)
    assert merged.summary()["a:0"]["clean"] == want
    # a NaN never displaces a number and never reaches the JSON
    few = TopExemplars(["a"], 4, 1, eps=[0.0])
    _feed(few, 0, [float("nan"), 0.5])
    assert few.summary()["a:0"]["clean"] == [{"index": 1, "value": 0.5}]


def test_summary_channels_eps_keys_and_images():
    acc = TopExemplars(["a", "b"], 2, 2)
    acc.add_clean(10, {"a": torch.tensor([[1.0, 0.0], [3.0, 5.0]]), "b": torch.ones(2, 1, 2, 2)})
    clean = {"a": torch.zeros(2, 2), "b": torch.zeros(2, 1, 2, 2)}
    adv = {"a": torch.tensor([[0.5, -4.0], [0.0, 1.0]]), "b": torch.zeros(2, 1, 2, 2)}
    acc.add(Step(10, 1, clean, adv, torch.zeros(2, 3), torch.zeros(2, 3, 2, 2)))
    with pytest.raises(ValueError):
        acc.summary()  # no eps known
    summary = acc.summary({"a": [1]}, eps=[0, 0.05])
    assert summary == {
        "a:1": {
            "clean": [{"index": 11, "value": 5.0}, {"index": 10, "value": 0.0}],
            "change": {"0.05": [{"index": 10, "value": 4.0}, {"index": 11, "value": 1.0}]},
        }
    }
    assert TopExemplars(["a"], 2, 2, eps=[0.0, 0.1]).image_indices() == []
    assert acc.image_indices({"a": [0]}) == [10, 11]
    acc.add_clean(12, {"a": torch.tensor([[9.0, 0.0]]), "b": torch.zeros(1, 1, 2, 2)})
    assert acc.image_indices({"a": [0]}) == [10, 11, 12]  # 12 displaced 10 in "clean", 10 stays in "change"
    assert acc.image_indices({"b": [0]}) == [10, 11]
