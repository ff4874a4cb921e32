"""The two models, and right / wrong, stay apart in greyscale and under deuteranopia (issue 17).

Colour alone is lost in a greyscale print and to a colour-blind reader: the models must also
differ in marker shape and fill (hatch for bars), the attacks in dash, and right / wrong in
lightness and in the shape of their badge.
"""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.make_results import make_results
from matplotlib.colors import to_hex, to_rgb
from matplotlib.lines import Line2D
from PIL import Image

from rnnviz.common.names import MODELS
from rnnviz.report import load_results
from rnnviz.report.figures.grids import Line, text_image
from rnnviz.report.figures.look import COLOURS, RIGHT, WRONG
from rnnviz.report.figures.plots import accuracy_plot, sensitivity_plot
from rnnviz.report.sections.catalogue import verdict_line
from rnnviz.results.model.pictures import Shot

# Machado, Oliveira & Fernandes 2009, deuteranomaly at severity 1.0, applied to linear RGB.
DEUTERANOPIA = np.array(
    [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 1.968881]]
)
MIN_DELTA = 25  # of 255: grey levels a reader tells apart in small text


def grey(rgb: np.ndarray) -> np.ndarray:
    """PIL's convert("L") on an H x W x 3 uint8 array."""
    return np.asarray(Image.fromarray(rgb.astype(np.uint8), "RGB").convert("L"), dtype=float)


def deuteranopia(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(float) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    seen = np.clip(linear @ DEUTERANOPIA.T, 0, 1)
    return np.round(255 * np.where(seen <= 0.0031308, 12.92 * seen, 1.055 * seen ** (1 / 2.4) - 0.055))


def swatch(colour: str) -> np.ndarray:
    return np.full((4, 4, 3), [round(255 * v) for v in to_rgb(colour)], dtype=np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("enc"))


def model_of(artist) -> str | None:
    colour = to_hex(artist.get_color() if isinstance(artist, Line2D) else artist.get_facecolor()).upper()
    return next((m for m in MODELS if COLOURS[m].upper() == colour), None)


def test_the_models_lines_differ_in_marker_and_fill_and_the_attacks_in_dash(folder):
    results = load_results(folder)
    fig = accuracy_plot(results, folder, "accuracy_vs_eps")
    # the models' curves and markers (not the dotted vertical line at the robust model's training eps)
    lines = [a for ax in fig.axes for a in ax.get_lines() if model_of(a) and len(set(a.get_xdata())) > 1]
    markers = {
        m: {
            (a.get_marker(), to_hex(a.get_markerfacecolor()))
            for a in lines
            if model_of(a) == m and a.get_marker() not in ("None", "", None)
        }
        for m in MODELS
    }
    assert markers["standard"] and markers["robust"]
    shapes = {m: {shape for shape, _ in markers[m]} for m in MODELS}
    faces = {m: {face for _, face in markers[m]} for m in MODELS}
    assert not shapes["standard"] & shapes["robust"], "the two models share a marker shape"
    assert not faces["standard"] & faces["robust"], "the two models share a marker fill"
    # hollow against filled survives any colour loss: the face is white for one model only
    assert faces["standard"] == {"#ffffff"} and faces["robust"] == {COLOURS["robust"].lower()}
    dashes = {m: {a.get_linestyle() for a in lines if model_of(a) == m and a.get_linestyle() != "None"} for m in MODELS}
    assert dashes["standard"] == dashes["robust"] == {"-", "--"}, "PGD solid and FGSM dashed, for both models"


def test_the_models_lines_differ_without_several_attacks(folder):
    results = load_results(folder)
    results.attacks.names = results.attacks.names[:1]  # a run of one attack
    fig = accuracy_plot(results, folder, "accuracy_single")
    lines = {model_of(a): a for a in fig.axes[0].get_lines() if model_of(a)}
    assert lines["standard"].get_marker() != lines["robust"].get_marker()
    assert to_hex(lines["standard"].get_markerfacecolor()) != to_hex(lines["robust"].get_markerfacecolor())


def test_the_models_bars_differ_in_hatch(folder):
    results = load_results(folder)
    fig = sensitivity_plot(results, folder, "sens", 2)
    hatches = {m: {p.get_hatch() or "" for p in fig.axes[0].patches if model_of(p) == m} for m in MODELS}
    assert hatches["standard"] and hatches["robust"]
    assert not hatches["standard"] & hatches["robust"], "the two models' bars look alike without colour"


@pytest.mark.parametrize("see", [grey, lambda rgb: grey(deuteranopia(rgb))], ids=["greyscale", "deuteranopia"])
def test_model_colours_stay_apart_in_lightness(see):
    # the Okabe-Ito pair is 32 grey levels apart, 24 under deuteranopia: enough for a line, so
    # marker shape and fill (above) carry the difference where lightness alone would not
    values = {m: see(swatch(COLOURS[m])).mean() for m in MODELS}
    assert abs(values["standard"] - values["robust"]) >= 20


@pytest.mark.parametrize("see", [grey, lambda rgb: grey(deuteranopia(rgb))], ids=["greyscale", "deuteranopia"])
def test_right_and_wrong_differ_in_lightness_and_badge(see):
    right = verdict_line(Shot.model_construct(pred="sneaker", confidence=0.9, correct=True))
    wrong = verdict_line(Shot.model_construct(pred="sandal", confidence=0.8, correct=False))
    assert (right.colour, wrong.colour) == (RIGHT, WRONG)
    assert abs(see(swatch(RIGHT)).mean() - see(swatch(WRONG)).mean()) >= MIN_DELTA
    assert right.badge != wrong.badge and right.text.startswith("✓") and wrong.text.startswith("✗")
    # drawn: the wrong badge is a dark filled block, the right one mostly white inside its frame
    drawn = {n: see(np.asarray(text_image([line]))) for n, line in (("right", right), ("wrong", wrong))}
    assert drawn["wrong"].mean() < drawn["right"].mean() - 40


def test_a_line_without_badge_is_drawn_as_before():
    assert Line("x").badge is None
