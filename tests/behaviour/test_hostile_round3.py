"""Hostile and unlucky inputs, round three (issue 29): folders that would cost gigabytes, symlinks
out of data folders, unbounded input sizes, SIGTERM, and a stopped torchrun rank."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.make_results import make_results
from PIL import Image
from torch import nn

import rnnviz.pipeline.stages as pipeline  # the stage that calls analyze_attacks
from rnnviz.cli import main
from rnnviz.common.errors import UsageError
from rnnviz.data.images import Preprocess, Selection
from rnnviz.data.stream import CheckPlan, load_folder, stream_folder
from rnnviz.models import input_size
from rnnviz.models.labels import imagenet_labels
from rnnviz.models.loading import _load_random
from rnnviz.report import load_results
from rnnviz.results.runfolder import INCOMPLETE_MARKER, LOCK_FILE, is_unfinished
from rnnviz.settings.patching import most_sets

REPO = Path(__file__).parents[2]
FLAMINGO = 130


# ------------------------------------------------------------------ results folders that cost gigabytes


def _big_png(path: Path) -> int:
    """A 7.7 MB PNG (random pixels do not compress)."""
    pixels = np.random.default_rng(0).integers(0, 256, (1600, 1600, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, compress_level=0)
    return path.stat().st_size


def _point_cards_at(results: dict, rel: str, copies: int | None = None) -> None:
    for m in ("standard", "robust"):
        cards = results["exemplars"][m]
        first = next(iter(cards.values()))
        if copies is not None:
            cards.clear()
            cards.update({f"layer4:{c}": json.loads(json.dumps(first)) for c in range(copies)})
        for card in cards.values():
            images = card["images"]
            images["clean"] = images["bars"]["activation"] = rel
            images["change"] = {k: rel for k in images["change"]}
            images["bars"]["change"] = {k: rel for k in images["bars"]["change"]}


CHILD = """
import sys
from rnnviz.cli import main
try:
    code = main(sys.argv[1:])
finally:  # the child's own peak (ru_maxrss of a forked child counts the parent's pages too)
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print("peak-kB", peak.split()[1])
sys.exit(code)
"""


def _from_in_subprocess(root: Path, *flags: str) -> tuple[int, str, float, float]:
    """(exit code, stderr, peak RSS in MB, seconds) of ``rnnviz-report --from root`` in a child."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", CHILD, "--from", str(root), "--no-pdf", "--quiet", *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    peak_kb = next(int(line.split()[1]) for line in run.stdout.splitlines() if line.startswith("peak-kB"))
    return run.returncode, run.stderr, peak_kb / 1024, seconds


def _report(case: str, rc: int, err: str, peak: float, seconds: float) -> None:
    print(f"{case}: exit {rc}, {peak:.0f} MB peak RSS, {seconds:.1f} s: {err.strip()}")


@pytest.mark.parametrize("copies", [None, 30])
def test_cards_on_one_large_png_are_refused_with_one_line(tmp_path, copies):
    root = make_results(tmp_path / "run")
    _big_png(root / "figures" / "cards" / "big.png")
    results = json.loads((root / "results.json").read_text())
    _point_cards_at(results, "figures/cards/big.png", copies)
    (root / "results.json").write_text(json.dumps(results))
    rc, err, peak, seconds = _from_in_subprocess(root)
    _report(f"{copies or 'the fixture s'} cards on one 7.7 MB PNG", rc, err, peak, seconds)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    expected = "has 30 entries, more than the 12" if copies else "past 300 MB read and embedded"
    assert expected in err and "exemplars." in err
    assert peak < 500
    assert not (root / "report.html").exists()


@pytest.mark.slow  # peak memory of a child reading 50,000 cards: make test-all
def test_fifty_thousand_cards_are_refused_with_bounded_memory(tmp_path):
    root = make_results(tmp_path / "run")
    results = json.loads((root / "results.json").read_text())
    card = next(iter(results["exemplars"]["robust"].values()))
    results["exemplars"]["robust"] = {f"layer4:{c}": card for c in range(50_000)}
    (root / "results.json").write_text(json.dumps(results))
    rc, err, peak, seconds = _from_in_subprocess(root)
    _report("50,000 cards", rc, err, peak, seconds)
    assert rc == 2 and "exemplars.robust has 50000 entries, more than the 12" in err
    assert len(err.strip().splitlines()) == 1 and peak < 2000


def test_the_byte_budget_follows_the_flag(tmp_path, capsys):
    root = make_results(tmp_path / "run")
    assert main(["--from", str(root), "--no-pdf", "--quiet", "--max-embed-mb", "0.05"]) == 2
    assert "--max-embed-mb raises it" in capsys.readouterr().err
    assert main(["--from", str(root), "--no-pdf", "--quiet", "--max-embed-mb", "-1"]) == 2
    assert "positive number of megabytes" in capsys.readouterr().err
    load_results(root)  # the default budget takes it: the check that refused it above, without a render


def test_patching_sets_beyond_the_ladder_and_draws_are_refused(tmp_path, capsys):
    root = make_results(tmp_path / "run")
    results = json.loads((root / "results.json").read_text())
    entry = results["patching"]["robust"][1]
    draws = results["config"]["patch_draws"]  # the recorded run: the default 20 draws
    assert len(entry["sets"]) <= most_sets(3, draws, 5)  # the ladder 1,5,30 and 5 layers
    entry["sets"] = entry["sets"] * 20
    (root / "results.json").write_text(json.dumps(results))
    assert main(["--from", str(root), "--no-pdf", "--quiet"]) == 2
    assert "patching.robust[1].sets has" in capsys.readouterr().err


def test_one_picture_named_twice_is_encoded_once(tmp_path):
    from rnnviz.report import datauri

    png = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(png)
    datauri.clear()
    first, second = datauri.data_uri(png), datauri.data_uri(tmp_path / "." / "a.png")
    assert first is second and first.startswith("data:image/png;base64,")
    assert datauri._encoded.cache_info().misses == 1


# ------------------------------------------------------------------ data folders hold their files


def _flamingo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "flamingo").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (40, 40), (200, 100 + i, 120)).save(root / "flamingo" / f"ok{i}.jpg")
    private = tmp_path / "elsewhere" / "private.jpg"
    private.parent.mkdir()
    Image.new("RGB", (40, 40), (1, 2, 3)).save(private)
    (root / "flamingo" / "x.jpg").symlink_to(private)
    return root


@pytest.mark.parametrize("workers", [None, 0, 2])
def test_a_symlink_leaving_the_data_folder_is_skipped_and_listed(tmp_path, workers):
    root = _flamingo_folder(tmp_path)
    labels, prep = imagenet_labels(), Preprocess(32, 36)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): x.jpg \(a symlink leading outside"):
        if workers is None:
            got = load_folder(root, labels, Selection([FLAMINGO], 5, 0), prep)
        else:
            got = stream_folder(root, labels, Selection([FLAMINGO], 5, 0), prep, check=CheckPlan(workers=workers))
    assert [Path(s).name for s in got.sources] == ["ok0.jpg", "ok1.jpg"]
    assert got.skipped == ["x.jpg (a symlink leading outside the data folder)"]


# ------------------------------------------------------------------ random:ARCH@SIZE


@pytest.mark.parametrize(
    "spec, message",
    [
        ("resnet18@0", "outside 1..4096 pixels"),
        ("resnet18@1", "shrinks its input 32-fold"),
        ("resnet18@31", "give @32 or more"),
        ("vit_b_16@50", "multiples of its 16 px patch"),
        ("resnet18@100000", "outside 1..4096 pixels"),
    ],
)
def test_input_sizes_the_architecture_cannot_take_are_refused(spec, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        _load_random(spec)


def test_an_input_size_beyond_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(input_size, "available_memory", lambda: 2 * 10**9)
    with pytest.raises(UsageError, match=r"random:vit_b_16@2048: one image at 2048 px needs about \d+"):
        _load_random("vit_b_16@2048")
    assert _load_random("resnet18@32").input_size == 32


def test_activation_bytes_count_every_output_and_the_attention_weights():
    def conv(size):
        return nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU())

    # conv 2x8x8 and relu 2x8x8 float32 values; the Sequential itself is the network, not counted
    assert input_size.activation_bytes(conv, 8) == 2 * (2 * 8 * 8) * 4

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(6, 2, batch_first=True)

        def forward(self, x):
            tokens = x.flatten(2).transpose(1, 2)[..., :3].repeat(1, 1, 2)  # (1, 16, 6)
            return self.mha(tokens, tokens, tokens, need_weights=False)[0]

    # output (1, 16, 6) (the tuple's None weights add nothing) + 2 heads x 16 x 16 kept weights
    assert input_size.activation_bytes(lambda s: Attend(), 4) == (16 * 6 + 2 * 16 * 16) * 4


# ------------------------------------------------------------------ signals


TINY = (
    "--preset fashion --classes sneaker --eps 0,0.1 --n-images 3 --top-k 2 --n-examples 1 "
    "--quality none --quiet --no-pdf --no-report --bootstrap 0 --no-transfer --fgsm-grid 0 --exemplars 0"
).split()


def test_sigterm_during_the_attack_releases_the_lock_and_the_folder_resumes(offline, monkeypatch, capsys):
    real = pipeline.analyze_attacks

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not raised")

    monkeypatch.setattr(pipeline, "analyze_attacks", terminated)
    assert main([*TINY, "--out", "r"]) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnviz-report: error: terminated (SIGTERM)"), err
    assert not (offline / "r" / LOCK_FILE).exists() and (offline / "r" / INCOMPLETE_MARKER).exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(pipeline, "analyze_attacks", real)
    assert main([*TINY, "--out", "r"]) == 0
    assert not is_unfinished(offline / "r") and (offline / "r" / "results.json").is_file()


def test_an_error_after_a_progress_bar_starts_on_a_fresh_line(capsys):
    from tqdm import tqdm

    from rnnviz.common.console import error_line as _error

    bar = tqdm(total=10, leave=False, file=sys.stderr)
    bar.update(4)
    _error("disk on fire")
    err = capsys.readouterr().err
    assert err.endswith("\rrnnviz-report: error: disk on fire\n") or "\nrnnviz-report: error:" in err, repr(err)
    assert bar.disable or bar.n == 4


# ------------------------------------------------------------------ torchrun: a stopped rank

STOPPED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import rnnviz.pipeline.stages as pipeline
    from rnnviz.cli import main

    real = pipeline.analyze_attacks
    def stop_rank_one(*args, **kwargs):
        if os.environ["RANK"] == "1":
            open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)
        return real(*args, **kwargs)
    pipeline.analyze_attacks = stop_rank_one
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
def test_a_stopped_rank_ends_the_job_with_one_line(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(STOPPED_WORKER)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {
        **os.environ,
        "RNNVIZ_CACHE": str(tmp_path / "cache"),
        "RNNVIZ_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "RNNVIZ_STALL_S": "10",
        "PID_FILE": str(tmp_path / "rank1.pid"),
    }
    start = time.perf_counter()
    run = subprocess.run(
        [*launcher, str(worker), *TINY, "--out", str(tmp_path / "r")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    print(f"stopped rank: exit {run.returncode} after {time.perf_counter() - start:.0f} s")
    ours = [line for line in run.stderr.splitlines() if line.startswith("rnnviz-report:")]
    print("\n".join(ours))
    assert run.returncode != 0
    assert len(ours) == 1 and re.search(r"rank 1 made no progress for 10 s during '.*attack", ours[0]), run.stderr
    pid = int((tmp_path / "rank1.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # torchrun's stop reached the stopped rank: no orphan


def test_a_rank_dies_with_its_launcher():
    """PR_SET_PDEATHSIG: a child that asked for it is killed (even when stopped) when its parent dies."""
    script = textwrap.dedent(
        """
        import os, signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import os, signal, time; from rnnviz.sweep.watchdog import die_with_parent; die_with_parent(); "
            "print(os.getpid(), flush=True); os.kill(os.getpid(), signal.SIGSTOP)"], stdout=subprocess.PIPE, text=True)
        print(child.stdout.readline().strip(), flush=True)
        time.sleep(0.5)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    pid = int(out.stdout.split()[0])
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return  # dead, waiting for its reaper
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the stopped child outlived its parent")
