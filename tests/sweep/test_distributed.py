"""torchrun: exact shards, shard merges equal one pass, and a 2-rank run equals a single process."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnviz.sweep.analysis import ModelAnalysis, concat_attacks
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.distributed import Distributed, shard
from rnnviz.sweep.loop import analyze_attacks
from tests.helpers import images, sweep, tiny_resnet

# ------------------------------------------------------------------ shards


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 13, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_index_once_without_padding(n, world):
    spans = [shard(n, r, world) for r in range(world)]
    assert [i for s in spans for i in s] == list(range(n))  # contiguous, in rank order, no repeat, no pad
    assert [len(s) for s in spans] == [len(a) for a in np.array_split(np.arange(n), world)]


def test_shard_refuses_a_rank_outside_the_world():
    with pytest.raises(ValueError):
        shard(5, 2, 2)


def test_one_process_is_a_plain_call():
    ctx = Distributed()
    assert ctx.is_main and ctx.shard(7) == range(7) and ctx.device("cuda") == "cuda"
    assert ctx.gather("x", lambda: 3) == [3] and ctx.share("x", lambda: 4) == 4 and ctx.all_gather(5) == [5]
    with pytest.raises(KeyError):  # errors propagate unchanged
        ctx.stage("x", lambda: {}["missing"])
    assert Distributed(rank=1, world=2, local_rank=1).device("cuda") == "cuda:1"


def test_rank_zero_s_bar_counts_the_whole_job(monkeypatch):
    """With 3 equal shards, rank 0's one bar runs to the job's total at 3x its own pace."""
    from rnnviz.sweep import loop

    seen = {}

    class Bar:
        def __init__(self, total, **_):
            seen["total"], seen["done"] = total, 0

        def update(self, k):
            seen["done"] += k

        def close(self):
            pass

    monkeypatch.setattr(loop, "tqdm", Bar)
    x, y = images(4)
    analyze_attacks(tiny_resnet().module, x, y, sweep([0.0, 0.1], ["layer1"]), ("fgsm", "pgd"), progress="x", ranks=3)
    assert seen == {"total": 3 * 4 * 2 * 2, "done": 3 * 4 * 2 * 2}


# ------------------------------------------------------------------ merging analyses


def _close(a, b):
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-9)


def test_concatenated_shards_equal_one_pass():
    net = tiny_resnet().module
    x, y = images(7)
    layers = ["layer1", "layer3"]
    common = dict(
        bootstrap=5, noise=True, classes=(0, 3), exemplars=2, neurons=[("layer3", 1)], batch_size=3, pgd=PGDSettings(2)
    )
    whole = analyze_attacks(net, x, y, sweep([0, 0.1], layers, examples=[1, 5], **common), ("fgsm", "pgd"))
    cut = 3  # on a batch boundary: every image in the same batch as in one pass, so only sums reorder
    parts = [
        analyze_attacks(net, x[:cut], y[:cut], sweep([0, 0.1], layers, examples=[1], **common), ("fgsm", "pgd")),
        analyze_attacks(
            net, x[cut:], y[cut:], sweep([0, 0.1], layers, examples=[2], first_index=cut, **common), ("fgsm", "pgd")
        ),
    ]
    merged = concat_attacks(parts)
    for attack in ("fgsm", "pgd"):
        a, b = whole[attack], merged[attack]
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.pred, b.pred)
        np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-5)
        assert a.accuracy == b.accuracy
        for e in range(2):
            _close(a.channels[e], b.channels[e])
            assert a.meters[e].count == b.meters[e].count == 7
            _close(a.neuron_maps[e], b.neuron_maps[e])
            ma, mb = a.measures[e], b.measures[e]
            _close(ma.noise.channels(), mb.noise.channels())
            if e:  # the resampled (weighted) sums of sigma and of the noise baseline
                torch.testing.assert_close(ma.sigma_w.totals, mb.sigma_w.totals)
                _close(ma.sigma_w.sums, mb.sigma_w.sums)
                _close(ma.noise_w.sums, mb.noise_w.sums)
        _close(a.max_activation, b.max_activation)
        assert a.scale.count == b.scale.count == 7  # merged once, though both attacks share the meter
        _close(a.scale.channels(), b.scale.channels())
        _close(a.scale.weighted.sums, b.scale.weighted.sums)
        assert b.scale is merged["fgsm"].scale and b.peak is merged["fgsm"].peak
        assert sorted(b.examples) == [1, 5]  # shard 1's local example 2 is image 5
        for i in (1, 5):
            torch.testing.assert_close(a.examples[i], b.examples[i])
    for attack in ("fgsm", "pgd"):  # exemplars under every attack: the primary is chosen after the sweep
        ea, eb = whole[attack].exemplars, merged[attack].exemplars
        assert ea.summary() == eb.summary() and ea.image_indices() == eb.image_indices()  # same batches


def test_concat_leaves_the_shards_unchanged():
    net = tiny_resnet().module
    x, y = images(4)
    s = sweep([0, 0.1], ["layer2"], noise=True)
    parts = [analyze_attacks(net, x[:2], y[:2], s, ("fgsm",))["fgsm"]]
    parts.append(
        analyze_attacks(net, x[2:], y[2:], sweep([0, 0.1], ["layer2"], noise=True, first_index=2), ("fgsm",))["fgsm"]
    )
    before = [p.meters[1].sums["layer2"].clone() for p in parts]
    whole = ModelAnalysis.concat(parts)
    assert whole.meters[1].count == 4 and [p.meters[1].count for p in parts] == [2, 2]
    for p, b in zip(parts, before):
        torch.testing.assert_close(p.meters[1].sums["layer2"], b)


# ------------------------------------------------------------------ torchrun end to end

# The report's HTML/PDF is not the sharded part (rank 0 writes it from results.json); it is stubbed
# so the two runs take seconds. Renders run at 4 optimization steps, as in test_cli.
WORKER = textwrap.dedent(
    """
    import dataclasses, os, sys
    import rnnviz.channels.featvis as featvis
    import rnnviz.report as report
    import rnnviz.pipeline.load as load
    from rnnviz.cli import main

    featvis.QUALITY["draft"] = dataclasses.replace(featvis.QUALITY["draft"], steps=4)
    report.render_report = lambda out, **kw: report.ReportFiles(out / "report.html", None, None, [], None, 0.0)
    if os.environ.get("FAIL_RANK") == os.environ.get("RANK", "0"):
        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")
        load.load_images = broken
    sys.exit(main(sys.argv[1:]))
    """
)
# 3 classes x 3 images = 9 images: shards of 5 and 4.
ARGS = (
    "--preset fashion --classes sneaker,bag,sandal --n-images 3 --n-examples 1 --top-k 2 --eps 0,0.1 "
    "--attack fgsm,pgd --pgd-steps 2 --bootstrap 20 --patch 1 --patch-share 1 --exemplars 2 "
    "--quality draft --recipes lucid,raw --no-pdf --quiet"
).split()
SKIP = {"timings", "created", "environment", "out"}


def _launch(tmp: Path, name: str, ranks: int, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    cmd = (launcher if ranks > 1 else [sys.executable]) + [str(worker), *ARGS, "--out", str(tmp / name), *extra]
    environ = {
        **os.environ,
        "RNNVIZ_CACHE": str(tmp / f"cache-{name}"),  # each run renders everything itself
        "RNNVIZ_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).parents[2]),
        **(env or {}),
    }
    return subprocess.run(cmd, cwd=tmp, env=environ, capture_output=True, text=True, timeout=300)


def _compare(a, b, path=""):
    """Every number within 1e-6 (relative), everything else equal, recursively."""
    if isinstance(a, dict):
        assert set(a) - SKIP == set(b) - SKIP, path
        for k in set(a) - SKIP:
            _compare(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _compare(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _channels(top: dict) -> dict:
    return {m: [[(r["layer"], r["channel"]) for r in per] for per in rows] for m, rows in top.items()}


def _indices(exemplars: dict) -> dict:
    def lists(card):
        return [[r["index"] for r in card["clean"]], {k: [r["index"] for r in v] for k, v in card["change"].items()}]

    return {
        m: {key: lists(card) for key, card in cards.items()} for m, cards in exemplars.items() if m not in ("n", "pool")
    }


def _pngs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "figures").rglob("*.png"))}


@pytest.mark.slow  # torchrun, three processes: make test-all (the shard merge: test_concatenated_shards_equal_one_pass)
def test_two_ranks_give_the_numbers_and_images_of_one_process(tmp_path):
    one = _launch(tmp_path, "single", 1)
    assert one.returncode == 0, one.stderr
    two = _launch(tmp_path, "multi", 2)
    assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / "single" / "results.json").read_text())
    b = json.loads((tmp_path / "multi" / "results.json").read_text())
    assert a["n_images"] == b["n_images"] == 9 and b["environment"]["world_size"] == 2
    assert a["exemplars"] and a["patching"] and a["renders"] and a["examples"]
    _compare(a, b)
    assert _channels(a["top_channels"]) == _channels(b["top_channels"])  # the same channels in the same order
    assert _indices(a["exemplars"]) == _indices(b["exemplars"])  # the same images, in the same order
    assert a["renders"] == b["renders"]
    pa, pb = _pngs(tmp_path / "single"), _pngs(tmp_path / "multi")
    assert any(k.startswith("figures/renders/") for k in pa) and any(k.startswith("figures/cards/") for k in pa)
    assert pa.keys() == pb.keys()
    assert [k for k in pa if pa[k] != pb[k]] == []  # renders, cards, examples: the same bytes
    assert two.stdout.count("report:") == 1  # rank 0 alone reports
    assert not (tmp_path / "multi" / ".rnnviz-incomplete").exists()


@pytest.mark.slow  # torchrun, two processes: make test-all
def test_a_failing_rank_stops_every_rank_with_one_line(tmp_path):
    run = _launch(tmp_path, "broken", 2, env={"FAIL_RANK": "1"})
    assert run.returncode != 0
    ours = [line for line in run.stderr.splitlines() if line.startswith("rnnviz-report:")]
    assert len(ours) == 1 and "RuntimeError: disk on fire" in ours[0], run.stderr
    assert not re.search(r'File ".*rnnviz/', run.stderr)  # no traceback of ours (torchrun prints its summary)
    assert not (tmp_path / "broken" / "results.json").exists()


@pytest.mark.slow  # torchrun, three processes, a three-model ladder (two pair runs each): make test-all
def test_a_ladder_under_two_ranks_gives_the_pairs_of_one_process(tmp_path):
    ladder = ("--models", "builtin:fashion-standard,builtin:fashion-robust,builtin:fashion-robust-seed1")
    extra = (*ladder, "--train-eps", "0,0.1,0.2", "--no-report")
    one = _launch(tmp_path, "single", 1, *extra)
    assert one.returncode == 0, one.stderr
    two = _launch(tmp_path, "multi", 2, *extra)
    assert two.returncode == 0, two.stderr
    for pair in ("fashion-robust", "fashion-robust-seed1"):
        a = json.loads((tmp_path / "single" / "pairs" / pair / "results.json").read_text())
        b = json.loads((tmp_path / "multi" / "pairs" / pair / "results.json").read_text())
        assert b["environment"]["world_size"] == 2
        _compare(a, b)
    ladders = [json.loads((tmp_path / run / "ladder.json").read_text()) for run in ("single", "multi")]
    assert [r["folder"] for r in ladders[0]["rungs"]] == [r["folder"] for r in ladders[1]["rungs"]]
    assert not (tmp_path / "multi" / ".rnnviz-incomplete").exists()
