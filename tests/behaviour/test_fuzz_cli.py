"""Random combinations of flags and values: every run succeeds or ends in one line, no traceback."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnviz.cli import main

VALUES = {
    "--classes": ["sneaker", "bag,sneaker", "tshirt", "Ankle-Boot", "sneakr", "", "7", "42", "<script>x</script>"],
    "--eps": ["0,0.1", "4/255", "0", "-1", "1.5", "x", "0.1,0.1", "1/0", "nan", "0,,0.1", "1"],
    "--attack": ["fgsm", "pgd", "cw"],
    "--pgd-steps": ["1", "0", "-3", "two"],
    "--top-k": ["1", "3", "0", "100000", "-1"],
    "--n-images": ["2", "3", "0", "abc"],
    "--n-examples": ["0", "1", "-1"],
    "--layers": ["layer3.0", "conv1,layer4.0", "layer9", "layer3.0.conv2", ",", "fc"],
    "--seed": ["0", "7", "-1"],
    "--batch-size": ["1", "4", "0"],
    "--device": ["cpu", "tpu"],
    "--preset": ["fashion", "imagenet", "nope"],
    "--standard": ["builtin:fashion-standard", "builtin:nope", "random:resnet18", "/no/such/file.pt"],
    "--robust": ["builtin:fashion-robust", "random:vgg"],
    "--recipes": ["lucid", "raw", "deepdream"],
    "--rank-by": ["sigma", "excess", "mean"],
    "--patch": ["none", "1,3", "0", "x", "20000"],
    "--patch-share": ["1", "0.5", "0", "2"],
}
FLAGS = sorted(VALUES)
counter = itertools.count()


FLAG_SETS = st.lists(st.sampled_from(FLAGS), max_size=4, unique=True).flatmap(
    lambda flags: st.tuples(*[st.tuples(st.just(f), st.sampled_from(VALUES[f])) for f in flags])
)


def fuzz(examples: int):
    """Hypothesis settings for ``examples`` derandomized draws (the same draws on every run)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@fuzz(6)
@given(FLAG_SETS)
def test_cli_never_shows_a_traceback(offline, capsys, pairs):
    run_flags(offline, capsys, pairs, ["--no-report"])  # the engine's side; the long run renders too


@pytest.mark.slow
@fuzz(40)
@given(FLAG_SETS)
def test_cli_never_shows_a_traceback_long(offline, capsys, pairs):
    run_flags(offline, capsys, pairs)


def run_flags(offline, capsys, pairs, extra=()):
    """One run with the drawn flags: it succeeds, or ends in one error line without a traceback."""
    tmp_path = offline
    argv = [
        "--preset",
        "fashion",
        "--classes",
        "sneaker",
        "--eps",
        "0,0.1",
        "--n-images",
        "2",
        "--quality",
        "none",
        "--no-pdf",
        "--quiet",
        "--bootstrap",
        "10",
        "--patch",
        "1",
        "--out",
        str(tmp_path / f"r{next(counter)}"),
    ]
    argv += extra
    for flag, value in pairs:
        argv += [flag, value]
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert rc in (0, 2), (argv, err)
    if rc:
        assert len(err.splitlines()) == 1 and err.startswith("rnnviz-report: error:"), (argv, err)
