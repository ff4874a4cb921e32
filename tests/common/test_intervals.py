"""Wilson intervals: closed forms at the edges, hand-computed middles, scipy as a second opinion."""

import json
import math

import pytest

from rnnviz.common.intervals import accuracy_interval, wilson

Z = 1.959963984540054  # the two-sided 95% normal quantile


def test_all_wrong_and_all_right_have_closed_forms():
    # p = 0: low 0, high z^2 / (n + z^2); p = 1 mirrors it
    assert wilson(0, 10) == (0.0, pytest.approx(Z * Z / (10 + Z * Z), abs=1e-12))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + Z * Z), abs=1e-12), 1.0)
    assert wilson(0, 10)[1] == pytest.approx(0.27753279986, abs=1e-10)
    assert wilson(10, 10)[0] == pytest.approx(0.72246720014, abs=1e-10)


def test_hand_computed_middles():
    # 5/10: centre 0.5, half-width z / (1 + z^2/10) * sqrt(0.025 + z^2/400)
    half = Z / (1 + Z * Z / 10) * math.sqrt(0.025 + Z * Z / 400)
    assert wilson(5, 10) == (pytest.approx(0.5 - half, abs=1e-12), pytest.approx(0.5 + half, abs=1e-12))
    assert wilson(5, 10) == (pytest.approx(0.2365930905, abs=1e-9), pytest.approx(0.7634069095, abs=1e-9))
    # 94/100: centre (0.94 + z^2/200) / (1 + z^2/100), not 0.94: the interval is asymmetric
    low, high = wilson(94, 100)
    assert low == pytest.approx(0.8752318455, abs=1e-9) and high == pytest.approx(0.9722138760, abs=1e-9)
    assert 0.94 - low > high - 0.94


def test_level_widens_the_interval():
    a, b = wilson(30, 50, 0.90), wilson(30, 50, 0.99)
    assert b[0] < a[0] < 0.6 < a[1] < b[1]


@pytest.mark.parametrize("correct,n", [(0, 10), (10, 10), (5, 10), (94, 100), (1, 3), (299, 300), (17, 250)])
def test_agrees_with_scipy(correct, n):
    stats = pytest.importorskip("scipy.stats")
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(correct, n) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_empty_and_invalid():
    low, high = wilson(0, 0)
    assert math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_accuracy_interval_is_the_schema_object_and_json_ready():
    got = accuracy_interval(94, 100)
    assert list(got) == ["correct", "n", "accuracy", "low", "high"]
    assert got["correct"] == 94 and got["n"] == 100 and got["accuracy"] == 0.94
    assert (got["low"], got["high"]) == wilson(94, 100)
    assert all(type(got[k]) is int for k in ("correct", "n"))
    assert all(type(got[k]) is float for k in ("accuracy", "low", "high"))
    json.dumps(got, allow_nan=False)
    numpy = pytest.importorskip("numpy")
    from_numpy = accuracy_interval(numpy.int64(3), numpy.int64(4))
    assert type(from_numpy["correct"]) is int and type(from_numpy["n"]) is int
    empty = accuracy_interval(0, 0)
    assert empty == {"correct": 0, "n": 0, "accuracy": None, "low": None, "high": None}
    json.dumps(empty, allow_nan=False)
