"""The slide deck (issue 17): text a room can read, one message per slide, tables, provenance and
slide-sized figure files named by eps value.

Readable means at least 18 pt on a 13.33-inch slide, i.e. 13.5 pt on the deck's 10-inch page.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from fixtures.make_results import make_results
from fixtures.page_fill import needs_poppler
from pypdf import PdfReader

from rnnviz.common.names import eps_slug, eps_slugs
from rnnviz.report import load_results
from rnnviz.report.figures.look import PAGE, SLIDE, SLIDE_MIN_PT, SLIDE_WIDTH_IN, smallest_text_pt
from rnnviz.report.figures.plots import accuracy_plot, sensitivity_plot
from rnnviz.report.html import templates_dir

DEJAVU_BOX = 1.164  # pdftotext's word box height over the font size, for DejaVu Sans (ascent + descent)


@pytest.fixture(scope="module")
def deck(rendered_fixture):
    return rendered_fixture


def test_the_slide_minimum_is_18_pt_on_a_13_inch_slide():
    assert SLIDE_WIDTH_IN == 10.0 and SLIDE_MIN_PT == pytest.approx(13.5, abs=0.01)


def test_every_slide_figure_has_slide_sized_text(deck):
    _, files = deck
    assert len(files.slide_figures) >= 20
    small = {f.key: round(f.text_pt, 1) for f in files.slide_figures if f.text_pt < SLIDE_MIN_PT}
    assert not small, f"text below {SLIDE_MIN_PT:.1f} pt on the slide: {small}"
    assert all(f.width_mm <= 234 for f in files.slide_figures)  # placed inside the image area


def test_text_measure_tells_page_figures_from_slide_figures(tmp_path):
    results = load_results(make_results(tmp_path))
    slide = accuracy_plot(results, tmp_path, "a", look=SLIDE)
    assert smallest_text_pt(slide, slide.get_figwidth()) >= SLIDE_MIN_PT
    page = sensitivity_plot(results, tmp_path, "b", 2, look=PAGE)
    # the report's own figure, stretched over the slide's image area, would still be too small
    assert smallest_text_pt(page, 9.2) < SLIDE_MIN_PT


def test_deck_is_16_9_with_title_tables_and_provenance(deck):
    root, files = deck
    pages = PdfReader(files.slides).pages
    box = pages[0].mediabox
    assert abs(float(box.width) / float(box.height) - 16 / 9) < 0.01
    text = [" ".join(page.extract_text().split()) for page in pages]
    assert "fashion-robust vs fashion-standard" in text[0]
    tables = [t for t in text if "most sensitive channels sit in" in t and "interval" in t]
    assert len(tables) == 1  # the leading eps only (top 3 fits one slide)
    assert "Where these numbers come from" in text[-1]
    results = load_results(root)
    shas = [f"sha256 {results.models.of(m).sha256[:12]}" for m in ("standard", "robust")]
    made = (f"rnnviz {results.environment.rnnviz}", "seed 0", "PGD, FGSM", results.created.isoformat()[:10])
    for expected in (*shas, *made):
        assert expected in text[-1], expected
    assert any(t.startswith("At ε = 0.05 the robust model keeps 93% (95% CI") for t in text)


def test_slide_figures_are_written_as_png_and_svg_named_by_eps_value(deck):
    root, files = deck
    folder = root / "figures" / "slides"
    for stem in ("accuracy", "accuracy_per_class", "layer_sensitivity_eps-0.1", "ranking_stability"):
        assert (folder / f"{stem}.png").is_file() and "<svg" in (folder / f"{stem}.svg").read_text()
    for name in ("gallery_eps-0.1_lucid_standard.png", "gallery_eps-0.05_raw_robust.png", "examples_sneaker_1.png"):
        assert (folder / name).is_file(), name
    # every figure file (the engine's example images too; renders are named by channel and recipe)
    everything = [p.name for p in (root / "figures").rglob("*.*") if p.parent.name != "renders"]
    assert not [n for n in everything if re.search(r"_eps\d", n)], "an eps index in a figure name"
    assert (root / "figures" / "gallery_eps-0.05_lucid.png").is_file()  # the report's own figures too


def test_eps_slug_is_file_name_safe_and_unique():
    assert eps_slug(0.05) == "eps-0.05" and eps_slug("4/255") == "eps-4_255"
    assert eps_slugs({"eps": [0, 0.1], "eps_labels": ["0", "0.1"]}) == ["eps-0", "eps-0.1"]
    assert len(set(eps_slugs({"eps": [0.1, 0.2], "eps_labels": ["a/b", "a b"]}))) == 2


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def slide_words(pdf) -> list[list[tuple[float, float, float, float, str]]]:
    """Per page, each word's box (x0, y0, x1, y1, in points) and text, as poppler lays them out."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [[(*map(float, m[:4]), m[4]) for m in WORD.findall(page)] for page in xml.split("<page ")[1:]]


@needs_poppler
def test_html_text_on_slides_is_at_least_13_5_pt(deck):
    root, _ = deck
    words = [w for page in slide_words(root / "slides.pdf") for w in page]
    assert len(words) > 300
    small = [w[4] for w in words if (w[3] - w[1]) / DEJAVU_BOX < SLIDE_MIN_PT - 0.1]
    assert not small, small[:10]


@needs_poppler
def test_no_two_words_on_a_slide_overlap(deck):
    """Side-by-side tables that do not fit their half run into each other ("top-krobust")."""
    root, _ = deck
    clashes = []
    for n, boxes in enumerate(slide_words(root / "slides.pdf"), start=1):
        for j, a in enumerate(boxes):
            for b in boxes[j + 1 :]:
                dx = min(a[2], b[2]) - max(a[0], b[0])
                dy = min(a[3], b[3]) - max(a[1], b[1])
                if dx > 0.5 and dy > 0.5 * (a[3] - a[1]):
                    clashes.append((n, a[4], b[4]))
    assert not clashes, clashes[:5]


@needs_poppler
def test_every_slide_title_fits_two_lines(deck):
    """A title is a finding a listener reads at a glance; the image area is sized for two lines."""
    root, _ = deck
    css = (templates_dir() / "slides.html.j2").read_text(encoding="utf-8")
    title_pt = float(re.search(r"h2 \{ font-size: ([\d.]+)pt", css).group(1))
    for n, words in enumerate(slide_words(root / "slides.pdf"), start=1):
        lines = {round(w[1]) for w in words if abs((w[3] - w[1]) / DEJAVU_BOX - title_pt) < 0.5}
        assert len(lines) <= 2, (n, " ".join(w[4] for w in words[:30]))


def test_titles_quote_numbers_with_their_intervals(tmp_path):
    """A title is what a listener quotes: accuracy with its Wilson interval, the cross-model ratio and
    the ranking's stability with their bootstrap intervals (the summary's own numbers)."""
    from rnnviz.common.intervals import wilson
    from rnnviz.report.slides import titles as slide_titles
    from rnnviz.report.text.format import focus_index, pct

    results = load_results(make_results(tmp_path))
    i, n = focus_index(results), results.n_images
    strong = results.strong_attack.models["robust"]  # the strongest attack measured leads
    low, high = strong.interval[i]
    assert (
        f"{pct(strong.accuracy[i])} (95% CI {pct(low)}–{pct(high)}) under the strongest attack measured"
        in slide_titles.accuracy(results)
    )
    results.strong_attack = None  # --strong-attack off: the analysis attack, with its Wilson interval
    low, high = wilson(round(results.accuracy.robust[i] * n), n)
    assert f"(95% CI {pct(low)}–{pct(high)}) right under PGD" in slide_titles.accuracy(results)
    c = results.comparison[i]
    assert f"{c.ratio:.1f}× (95% CI {c.ratio_ci[0]:.1f}–{c.ratio_ci[1]:.1f})" in slide_titles.sensitivity(results, i)
    ci = results.ranking.robust[i].jaccard_ci
    assert f"({ci[0]:.2f}–{ci[1]:.2f}) (robust)" in slide_titles.stability(results)
