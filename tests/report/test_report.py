"""The renderer: self-contained HTML, a paginated PDF, confinement to the report folder, and
re-rendering a results folder without torch. Everything runs on a recorded real results folder."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import weasyprint
from fixtures.engine_run import copy_run, made_once
from fixtures.make_results import SMALL, make_results, relabel, typed
from fixtures.outline import SECTIONS
from PIL import Image
from pypdf import PdfReader

from rnnviz.common.errors import UsageError
from rnnviz.common.names import SCHEMA_VERSION
from rnnviz.report import load_results, render_report
from rnnviz.report.figures.look import COLOURS
from rnnviz.report.html import templates_dir
from rnnviz.report.pdf import ReportFetcher, write_pdf
from rnnviz.report.sections.catalogue import class_slugs
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.summary import caveats, summary_sentences
from rnnviz.results.model.run import AnalysedClass

REPO = Path(__file__).resolve().parents[2]
FIGURE_IMAGE = re.compile(r'<figure id="fig-\d+"[^>]*>\s*<img src="data:image')  # cards add images of their own
TRUST = ["ranking_stability", "noise_baseline", "ranking_convergence", "ranking_per_class"]
# 3 attacked eps x 2 recipes of galleries, 2 diversity figures, 2 example grids, 3 profiles, 2 curves,
# 4 figures on the ranking's trustworthiness, 2 on activation patching, 2 comparing the attacks,
# 1 matching the two models' layers (CKA), 1 gallery of matched pairs.
FIGURES = 26
PLOTS = [
    "accuracy_vs_eps",
    "accuracy_per_class",
    "layer_sensitivity_eps-0.05",
    "layer_sensitivity_eps-0.1",
    "layer_sensitivity_eps-0.2",
    "matching_cka",
    "matching_baselines",
    *TRUST,
    "patching_undone",
    "patching_layers",
    "attack_overlap",
    "attack_collapse",
]
GRIDS = ["examples_sneaker", "examples_bag", "diversity_lucid", "diversity_raw", "matched_pairs"] + [
    f"gallery_eps-{e}_{r}" for e in ("0.05", "0.1", "0.2") for r in ("lucid", "raw")
]


def small_figures(renders: bool = True, patching: bool = True) -> set[str]:
    """The figure files of the SMALL folder (one class, eps 0 and 0.1, no diversity): the default's at eps 0.1."""
    stems = [s for s in PLOTS + GRIDS if s != "examples_bag" and ("eps-" not in s or "eps-0.1" in s)]
    stems = [s for s in stems if not s.startswith("diversity_")]
    stems = [s for s in stems if renders or not s.startswith(("gallery_", "diversity_", "matched_"))]
    return {f"{s}.png" for s in stems if patching or not s.startswith("patching_")}


@pytest.fixture(scope="module")
def rendered(rendered_fixture):
    return rendered_fixture


@pytest.fixture(scope="module")
def pdf_pages(rendered):
    return [page.extract_text() for page in PdfReader(rendered[1].pdf).pages]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, worker_id) -> Path:
    """One render of three independent damages, made once per session (read only): no damage to undo for
    robust at eps 0.05 (patching), robust's #2 channel at eps 0.05 in the top k in only 30% of the
    bootstrap draws (ranking), and the standard model's accuracy rising from eps 0.1 to 0.2."""

    def make(root: Path) -> None:
        make_results(root)
        results = json.loads((root / "results.json").read_text())
        entry = results["patching"]["robust"][1]
        entry["accuracy_adv"] = entry["accuracy_clean"]
        for row in entry["sets"]:
            if row["kind"] != "converse":
                row.update(undone=None, undone_ci=None)
        results["ranking"]["robust"][1]["top"][1]["p_top"] = 0.3
        results["accuracy"]["standard"][2:] = [0.005, 0.02]
        for entry, value in zip(results["attacks"]["accuracy"]["pgd"]["standard"][2:], [0.005, 0.02]):
            entry["accuracy"] = value
        (root / "results.json").write_text(json.dumps(results))
        render_report(root, pdf=False, progress=False)

    return made_once(tmp_path_factory, worker_id, "damaged", make)


def html_of(root: Path) -> str:
    return (root / "report.html").read_text(encoding="utf-8")


def body_text(page_text: str) -> str:
    """A page's text without the running footer (title and "n / N") every page carries."""
    lines = [ln for ln in page_text.splitlines() if not re.fullmatch(r"\s*(rnnviz · .*|\d+ / \d+)\s*", ln)]
    return "\n".join(lines).strip()


# ---------------------------------------------------------------- figures and HTML


def test_every_figure_is_written_as_png_and_only_slide_figures_as_svg(rendered):
    root, files = rendered
    names = sorted(p.name for p in files.figures)
    assert names == sorted(f"{s}.png" for s in PLOTS + GRIDS)
    for stem in PLOTS:
        with Image.open(root / "figures" / f"{stem}.png") as img:
            assert img.info["dpi"][0] >= 199  # stored as pixels per metre, so 199.99
    assert not list((root / "figures").glob("*.svg"))  # the page's figures are embedded as PNG
    assert list((root / "figures" / "slides").glob("*.svg"))  # slide material also as SVG


def test_html_is_self_contained(rendered):
    html = html_of(rendered[0])
    assert not re.search(r"https?:|<script|<link|@import|url\(", html, re.I)
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        if attr == "src":
            assert value.startswith("data:image/png;base64,")
        else:
            assert not value.startswith("//") and ":" not in value, value
            assert value.startswith("#") or (rendered[0] / value).is_file(), value


def test_html_embeds_every_figure_once_in_numbered_order(rendered):
    html = html_of(rendered[0])
    assert len(FIGURE_IMAGE.findall(html)) == FIGURES
    numbers = [int(n) for n in re.findall(r"<b>Figure (\d+)\.</b>", html)]
    assert numbers == list(range(1, FIGURES + 1))


def test_html_sections_and_facts(rendered):
    html = html_of(rendered[0])
    positions = [html.index(title) for title in ["Summary", "Contents", *SECTIONS]]
    assert positions == sorted(positions)
    sha = json.loads((rendered[0] / "results.json").read_text())["models"]["robust"]["sha256"]
    assert "12.75/255" in html and sha in html  # eps in /255; full sha256 in the appendix
    assert 'href="data/accuracy.csv"' in html and 'href="results.json"' in html


def test_malicious_class_name_is_escaped_and_sanitized(tmp_path):
    evil = "<script>alert(1)</script>"
    relabel(make_results(tmp_path, renders=False, exemplars=False), {"sneaker": evil, "bag": "$x$ bag"})
    render_report(tmp_path, pdf=False, progress=False)
    html = html_of(tmp_path)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (tmp_path / "figures" / "examples_script-alert-1-script.png").is_file()
    assert (tmp_path / "figures" / "examples_x-bag.png").is_file()


def test_class_slugs_stay_unique():
    classes = [
        AnalysedClass(name="t-shirt/top", index=0, n_images=1),
        AnalysedClass(name="T-shirt top", index=6, n_images=1),
    ]
    assert class_slugs(classes) == {"t-shirt/top": "t-shirt-top", "T-shirt top": "t-shirt-top-6"}


def test_skipped_rendering_is_clearly_noted(tmp_path):
    make_results(tmp_path, renders=False, **SMALL)
    files = render_report(tmp_path, pdf=False, progress=False)
    html = html_of(tmp_path)
    assert "Rendering was skipped" in html
    assert {p.name for p in files.figures} == small_figures(renders=False)  # every figure but the renders'
    assert len(FIGURE_IMAGE.findall(html)) == len(files.figures)
    assert not list((tmp_path / "figures").glob("gallery_*"))


def test_rerender_from_an_existing_folder_is_identical(rendered, tmp_path):
    root = copy_run(rendered[0], tmp_path / "run")  # rendered once already, with the PDF and the slides
    first = {p: p.read_bytes() for p in (root / "figures").glob("*.*")}
    html = html_of(root)
    files = render_report(root, pdf=False, progress=False)
    assert files.pdf is None and files.pdf_error is None
    assert html_of(root) == html
    assert {p: p.read_bytes() for p in (root / "figures").glob("*.*")} == first


def test_the_renderer_never_imports_torch(tmp_path):
    """The renderer's own imports only: the package's __init__ (the engine's API) is skipped."""
    make_results(tmp_path, **SMALL)
    code = (
        "import sys, types; pkg = types.ModuleType('rnnviz'); "
        f"pkg.__path__ = [{str(REPO / 'rnnviz')!r}]; sys.modules['rnnviz'] = pkg; "
        "from rnnviz.report import render_report; "
        f"render_report({str(tmp_path)!r}, pdf=False, progress=False); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    )


def test_summary_quotes_the_numbers(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    sentences = summary_sentences(typed(results))
    assert 3 <= len(sentences) <= 8
    assert (
        "At ε = 0.05 (12.75/255) the robust model still classifies 93% of sneaker and 95% of "
        "bag images correctly, the standard model 0% and 0%."
    ) in sentences
    assert any("standard model's most sensitive channels sit in layer1.0" in s for s in sentences)


def test_summary_ratio_has_its_interval_its_range_over_eps_and_its_measure(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    results["comparison"][2].update(ratio=8.06, ratio_ci=[7.7, 8.4])  # the range's top moves off the lead ε
    sentences = summary_sentences(typed(results))
    assert (
        "Measured in units of each channel's own activation size (relative σ), the standard model's "
        "channels change 7.7× (95% interval 7.4–8.1) as much as the robust model's at ε = 0.05 "
        "(12.75/255); across the attacked ε the ratio ranges from 1.7× (ε = 0.2) to 8.1× "
        "(ε = 0.1)."
    ) in sentences
    assert not any("less than the standard" in s for s in sentences)
    assert any(
        "already causes 65% of σ in the standard model and 66% in the robust model at ε = 0.05" in s for s in sentences
    )
    assert any(
        "is 0.77 (95% interval 0.20–1.00) for the standard model and 0.63 (95% interval "
        "0.20–1.00) for the robust model" in s
        for s in sentences
    )


def test_trust_section_and_its_figures_are_in_the_html_and_the_pdf(rendered, pdf_pages):
    root, files = rendered
    html = html_of(root)
    section = html[html.index('<section id="trust"') : html.index('<section id="patching"')]
    for key in TRUST:
        assert 'alt="Figure' in section and (root / "figures" / f"{key}.png").exists(), key
    detail = html[html.index('<section id="detail"') : html.index('<section id="attacks"')]
    assert section.count("<figure") == 2 and detail.count("<figure") == 3  # two on the ranking, one per layer
    assert "<script" not in html
    text = "\n".join(pdf_pages)
    for words in (
        "How much to trust the ranking",
        "Noise baseline",
        "Enough images?",
        "Per-class rankings compared with the pooled ranking",
    ):
        assert words in text, words


def test_patching_section_and_its_figures_are_in_the_html_and_the_pdf(rendered, pdf_pages):
    root, _ = rendered
    html = html_of(root)
    section = html[html.index('<section id="patching"') : html.index('<section id="galleries"')]
    assert section.count("<figure") == 1 and 'href="#patching"' in html  # the per-layer figure: appendix C
    assert "Damage undone by putting back the clean values of k channels" in section
    assert "Where does the damage enter?" in html and "51 images, a seeded" in section
    assert "44% (29%–57%)" in html and "14% [7.9%–24%]" in html  # standard, eps 0.05, k = 30: mean [5–95%] of 20 draws
    assert "No damage to undo for" not in section
    text = "\n".join(pdf_pages)
    for words in (
        "Do the sensitive channels cause the errors?",
        "Damage undone by putting back",
        "Where does the damage enter?",
    ):
        assert words in text, words


def test_patching_without_damage_says_so(damaged):
    section = html_of(damaged)[
        html_of(damaged).index('<section id="patching"') : html_of(damaged).index('<section id="galleries"')
    ]
    assert "No damage to undo for robust at ε = 0.05" in section


def test_patch_none_renders_without_the_section_and_says_patching_was_off(tmp_path):
    root = make_results(tmp_path, patching=False, **SMALL)
    assert json.loads((root / "results.json").read_text())["patching"] is None
    files = render_report(root, pdf=True, progress=False)
    html = html_of(root)
    assert 'id="patching"' not in html and "patching_undone" not in html
    assert "Activation patching was off in this run (--patch none)" in html
    assert "4. What the sensitive channels respond to" in html and "G. Method and reproducibility" in html
    assert {p.name for p in files.figures} == small_figures(patching=False)  # the two patching figures go
    assert html.count("<b>Figure ") == len(files.figures)
    assert "Activation patching was off" in " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(files.pdf).pages
    )


def test_summary_compares_the_top_k_with_random_channels(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    sentence = next(s for s in summary_sentences(typed(results)) if "putting back the clean values" in s)
    flips = pn.flipped(typed(results).patching.standard[1])
    assert sentence == (  # the recording's 20 random draws per k give a spread: a verdict per k
        "At ε = 0.05, putting back the clean values of the standard model's top 5 channels by σ undoes 0% "
        "(95% interval 0–7.1%) of the attack's damage, against 0.2% for 5 random channels; the top 30 undo "
        f"44% (95% interval 29–57%), against 14% for 30 random channels (on the {flips} images the attack "
        "flipped, of 51 patched): only the top 30 clearly beat random channels (interval above the random "
        "draws' 5–95% range); the top 5 do not."
    )
    entry = results["patching"]["standard"][1]
    entry.pop("controls")  # the draws' summary; without it the report reads the draws' rows
    rows = entry["sets"]
    entry["sets"] = [r for r in rows if r["kind"] != "random" or r["draw"] < 2]  # 2 draws are no spread: no verdict
    sentence = next(s for s in summary_sentences(typed(results)) if "putting back the clean values" in s)
    assert sentence.endswith("(on the 50 images the attack flipped, of 51 patched).")
    entry["sets"] = rows
    for row in rows:
        if row["kind"] == "random":
            row["undone"] = 0.99
    sentence = next(s for s in summary_sentences(typed(results)) if "putting back the clean values" in s)
    assert sentence.endswith("so the σ ranking does not identify the channels that cause the errors.")


def test_unsettled_channels_are_marked_and_eps_zero_is_not_ranked(damaged):
    root = damaged
    html = html_of(root)
    sens = html[html.index('<section id="sensitivity"') : html.index('<section id="trust"')]
    # the damaged robust #2 (30%) beside the recording's own robust #3 (41%)
    assert sens.count('<tr class="unsure">') == 2 and "30%&nbsp;†" in sens and "41%&nbsp;†" in sens
    assert "† below half: its place in the list is not settled" in sens and "At ε = 0 σ is 0 by construction" in sens
    assert 'id="sens-0"' not in html and not re.search(r"layer_sensitivity_eps-0(?![.\d])", html)
    drawn = [p for p in (root / "figures").rglob("*") if p.parent.name != "examples"]  # the engine keeps eps 0's
    assert not [p for p in drawn if re.search(r"eps-0(?![.\d])", p.name)]
    assert '<td>0.0407</td><td class="ci">0.037–0.044</td>' in sens  # σ with its interval (robust, eps 0.05, #1)


def test_non_monotone_accuracy_is_derived_once_from_every_neighbouring_pair(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    assert caveats(typed(results)) == []  # the recorded run's accuracy never rises
    results["accuracy"]["standard"][1:] = [0.01, 0.006, 0.019]
    rises = (
        "PGD accuracy of the standard model rises from ε = 0.1 to 0.2 (0.6% → 1.9%): PGD is "
        "not monotone in ε, so read it as an upper bound on robust accuracy."
    )
    assert caveats(typed(results)) == [rises]
    # every neighbouring pair in eps order (not list order), and no text search over warnings
    results["warnings"] = ["FGSM is not monotone in eps"]
    results["config"].update(eps=[0.2, 0.1, 0.05, 0.0], eps_labels=["0.2", "0.1", "0.05", "0"])
    results["accuracy"]["standard"] = [0.0, 0.1, 0.2, 0.9]
    results["accuracy"]["robust"] = [0.5, 0.35, 0.4, 0.3]
    assert caveats(typed(results)) == [
        "PGD accuracy of the robust model rises from ε = 0 to 0.05 (30% → 40%) and from ε = 0.1 to "
        "0.2 (35% → 50%): PGD is not monotone in ε, so read it as an upper bound on robust accuracy."
    ]
    assert sum("not monotone" in s for s in summary_sentences(typed(results))) == 1


def test_the_report_states_non_monotone_accuracy_once(damaged):
    html = html_of(damaged)
    assert html.count("Accuracy rises with ε") == 1 and "PGD for the standard model (ε 0.05 → 0.2: 0% → 2%)" in html
    assert "not monotone in ε" not in html  # the older caveat, for folders without a strong evaluation


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: r.update(schema_version=SCHEMA_VERSION + 1), f"schema_version {SCHEMA_VERSION + 1}"),
        (lambda r: r["examples"][0].update(image="../outside.png"), r"examples\[0\]\.image is '\.\./outside\.png'"),
        (lambda r: r["renders"][0].update(image="figures/renders/gone.png"), r"renders\[0\]\.image .* is missing"),
    ],
)
def test_a_damaged_results_folder_is_one_clear_error(tmp_path, damage, message):
    make_results(tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    damage(results)
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(UsageError, match=message):
        render_report(tmp_path, pdf=False, progress=False)
    assert not (tmp_path / "report.html").exists()


def test_no_results_json_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no results.json"):
        render_report(tmp_path, progress=False)


# ---------------------------------------------------------------- templates


def test_templates_are_found_in_a_wheel_and_in_a_source_tree(tmp_path):
    wheel = tmp_path / "site-packages" / "rnnviz"
    shutil.copytree(REPO / "templates", wheel / "templates")
    assert templates_dir(wheel) == wheel / "templates"
    source = tmp_path / "checkout"
    (source / "rnnviz").mkdir(parents=True)
    shutil.copytree(REPO / "templates", source / "templates")
    assert templates_dir(source / "rnnviz") == source / "templates"
    with pytest.raises(UsageError, match="templates not found"):
        templates_dir(tmp_path / "empty" / "rnnviz")


def test_the_wheel_ships_the_templates_where_the_renderer_looks():
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert build["targets"]["wheel"]["force-include"]["templates"] == "rnnviz/templates"


# ---------------------------------------------------------------- PDF


def test_pdf_is_a4_landscape_with_every_section_starting_a_page(rendered, pdf_pages):
    reader = PdfReader(rendered[1].pdf)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)
    assert 10 <= len(pdf_pages) <= 42  # the recorded real run: 40
    starts = [next(n for n, text in enumerate(pdf_pages) if body_text(text).startswith(title)) for title in SECTIONS]
    assert starts == sorted(starts) and starts[0] >= 2  # after the title page and contents


def test_pdf_has_page_numbers_and_a_contents_page_with_real_page_numbers(pdf_pages):
    n = len(pdf_pages)
    assert all(f"{k + 1} / {n}" in text for k, text in enumerate(pdf_pages))
    # beside the run's facts, after the page-1 answer (which may run onto a second page)
    contents = next(text for text in pdf_pages[1:4] if "Contents" in text)
    for title in SECTIONS:
        listed = int(re.search(re.escape(title).replace(r"\ ", r"\s+") + r"[\s.]*(\d+)", contents)[1])
        assert body_text(pdf_pages[listed - 1]).startswith(title)


def test_pdf_carries_the_data_files_and_no_local_path(rendered):
    root, files = rendered
    attached = {
        annot.get_object()["/FS"].get_object()["/F"]
        for page in PdfReader(files.pdf).pages
        for annot in page.get("/Annots", [])
        if annot.get_object()["/Subtype"] == "/FileAttachment"
    }
    named = json.loads((root / "results.json").read_text())["data_files"].values()
    assert attached == {Path(rel).name for rel in named} | {"results.json"}
    assert len(attached) >= 6
    # One attachment annotation per file (a viewer lists each); links in the text jump to it.
    annotations = [
        annot.get_object()["/FS"].get_object()["/F"]
        for page in PdfReader(files.pdf).pages
        for annot in page.get("/Annots", [])
        if annot.get_object()["/Subtype"] == "/FileAttachment"
    ]
    assert len(annotations) == len(attached)
    assert files.pdf.read_bytes().count(b"/Type /EmbeddedFile") == len(attached)
    assert str(root).encode() not in files.pdf.read_bytes()


def test_pdf_has_no_blank_page(pdf_pages):
    # Every page of this report carries text beyond the footer (a heading or a caption).
    # Image counts cannot tell: WeasyPrint shares one resource dictionary across pages.
    for k, text in enumerate(pdf_pages):
        assert len(body_text(text)) > 40, f"page {k + 1} is blank"


def test_slides_are_16_9_one_figure_per_page(rendered):
    reader = PdfReader(rendered[1].slides)
    box = reader.pages[0].mediabox
    assert abs(float(box.width) / float(box.height) - 16 / 9) < 0.01
    # title, then every figure redrawn for slides (grids split per model / example), tables, provenance
    assert 8 <= len(reader.pages) <= 16  # about a dozen; tests/report/test_slides.py checks the deck in detail


def test_fetcher_serves_only_data_uris_and_files_inside_the_report(tmp_path):
    (tmp_path / "inside.txt").write_text("ok")
    (tmp_path / "escape").symlink_to("/etc")
    fetcher = ReportFetcher(tmp_path)
    assert fetcher("data:text/plain;base64,b2s=").read() == b"ok"
    assert fetcher((tmp_path / "inside.txt").as_uri()).read() == b"ok"
    for url in [
        "file:///etc/passwd",
        (tmp_path / "escape" / "passwd").as_uri(),
        "http://example.com/x.png",
        "https://example.com/x.png",
        "ftp://example.com/x",
    ]:
        with pytest.raises(ValueError, match="refused"):
            fetcher(url)


def test_pdf_of_html_with_outside_references_fetches_nothing(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the renderer tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    html = (
        '<p>text</p><img src="file:///etc/passwd"><img src="http://example.com/x.png">'
        '<link rel="stylesheet" href="https://example.com/s.css">'
    )
    messages = write_pdf(html, tmp_path / "out.pdf", tmp_path)
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    refused = [m for m in messages if "refused" in m]
    assert len(refused) == 3, messages


def test_a_weasyprint_failure_keeps_the_html_and_reports_one_line(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("pango exploded\nsecond line of detail")

    monkeypatch.setattr(weasyprint, "HTML", broken)
    make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    files = render_report(tmp_path, pdf=True, progress=False)
    assert files.pdf is None
    assert files.pdf_error == "report.pdf: RuntimeError: pango exploded"
    assert files.html.is_file() and "<html" in html_of(tmp_path)
    assert not (tmp_path / "report.pdf").exists()


# ---------------------------------------------------------------- one home per name; the fixture


def test_colours_reach_the_report_from_rnnviz_names(tmp_path, monkeypatch):
    for name in ("report.css", "slides.html.j2", "report.html.j2"):
        text = (REPO / "templates" / name).read_text().upper()
        assert not any(colour.upper() in text for colour in COLOURS.values()), name
    monkeypatch.setitem(COLOURS, "standard", "#123456")
    make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    render_report(tmp_path, pdf=False, progress=False)
    assert "--standard: #123456;" in html_of(tmp_path)


def test_renderer_modules_are_small_and_define_no_shared_constant():
    for path in (REPO / "rnnviz" / "report").glob("*.py"):
        source = path.read_text()
        assert len(source.splitlines()) <= 300, path.name
        assert not re.search(r"^(SCHEMA_VERSION|MODELS|COLOURS|RECIPES|ATTACKS)\s*=", source, re.M), path.name
        assert "#D55E00" not in source and "#0072B2" not in source, path.name


# Keys whose names are data (class names, layer names, "layer:channel"): only their values' shape counts.
DATA_KEYED = re.compile(
    r"(accuracy_per_class\.\w+|layer_sensitivity\.\w+\[\]|channel_max_activation\.\w+"
    r"|neuron_sensitivity\.\w+\[\]|matching\.per_layer|ranking\.\w+\[\]\.(layers|per_class)"
    r"|ranking\.\w+\[\]\.confound\.\w+|patching\.\w+\[\]\.sets\[\]\.layers|noise_match\.\w+\.sizes\[\]"
    r"|source\.counts"
    r"|attacks\.(accuracy|sigma_mean|top|collapse|norm)|exemplars\.\w+|exemplars\.\w+\.<key>\.(change|images\.change"
    r"|images\.bars\.change|map_scale\.change))"
)


def shape(value, path: str = ""):
    """Keys and value types, recursively; a list's elements are merged, an empty list matches any."""
    if isinstance(value, dict):
        if DATA_KEYED.fullmatch(path):
            return {"<map>": _merge([shape(v, path + ".<key>") for v in value.values()])}
        return {k: shape(v, f"{path}.{k}".lstrip(".") if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", _merge([shape(v, path + "[]") for v in value])]
    return type(value).__name__ if value is not None else "NoneType"


def _merge(shapes: list):
    merged = None
    for s in shapes:
        if s == "NoneType":  # null stands for "not measured" (e.g. at eps 0) and matches any shape
            continue
        if merged is None or s == merged:
            merged = s
        elif isinstance(s, dict) and isinstance(merged, dict):
            merged = {k: _merge([x for x in (merged.get(k), s.get(k)) if x is not None]) for k in {**merged, **s}}
        elif isinstance(s, list) and isinstance(merged, list):
            merged = ["list", _merge([x for x in (merged[1], s[1]) if x is not None])]
        else:
            merged = "|".join(sorted({*str(merged).split("|"), *str(s).split("|")}))
    return merged


def differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(dict.fromkeys([*a, *b]))
        return [
            d
            for k in keys
            for d in (
                [f"{path}.{k}: only in the {'fixture' if k in a else 'engine'}"]
                if (k in a) != (k in b)
                else differences(a[k], b[k], f"{path}.{k}")
            )
        ]
    if isinstance(a, list) and isinstance(b, list):
        return [] if a[1] is None or b[1] is None else differences(a[1], b[1], path + "[]")
    return [] if a == b or None in (a, b) else [f"{path}: fixture {a}, engine {b}"]


def test_shape_comparison_sees_keys_and_types():
    assert differences(shape({"a": [1], "b": {"c": "x"}}), shape({"a": [], "b": {"c": "y"}})) == []
    assert differences(shape({"a": [1]}), shape({"a": [1.0]})) == [".a[]: fixture int, engine float"]
    assert differences(shape({"a": {"b": 1}}), shape({"a": {}})) == [".a.b: only in the fixture"]


def test_fixture_has_the_engine_s_structure(tmp_path, tiny_run):
    """The recorded folder has the keys, types and CSV headers the engine writes today (the session's tiny
    run); if not, re-record it (tests/fixtures/record.py)."""
    engine_dir = tiny_run
    fixture_dir = make_results(tmp_path / "fixture")
    engine, fixture = (json.loads((d / "results.json").read_text()) for d in (engine_dir, fixture_dir))
    for results in (engine, fixture):
        for stage in ("report_s", "pdf_s"):  # the renderer's own timings, added after the engine
            results["timings"].pop(stage, None)
        for setting in ("neurons", "primary"):  # set in one and not the other (null when not asked for)
            results["config"].pop(setting)
        results["data_files"].pop("neuron_sensitivity", None)
    assert differences(shape(fixture), shape(engine)) == []
    assert fixture["label_set"] == engine["label_set"]
    assert set(fixture["data_files"]) == set(engine["data_files"])
    for name, rel in engine["data_files"].items():
        header = (engine_dir / rel).read_text().splitlines()[0]
        assert (fixture_dir / fixture["data_files"][name]).read_text().splitlines()[0] == header, name


def test_patching_figures_draw_the_leading_ranking_and_skip_too_few_flips(tmp_path):
    """The recorded run leads with zscore: the undone plot draws its top k (page 1 quotes it); the robust
    model's ε = 0.05 (3 of 51 patched images flipped) gets no bar in the per-layer plot, nor a table cell."""
    from rnnviz.report.figures import patching as patch_plots
    from rnnviz.report.sections import patching as patch_section
    from rnnviz.report.text import patch_numbers as pn

    results = load_results(make_results(tmp_path, renders=False))
    assert results.ranking.standard[1].measure == "zscore"
    fig = patch_plots.undone_plot(results, tmp_path, "u")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert patch_plots.LEAD_STYLE[1] in legend
    standard_first = fig.axes[0]
    lead_k30 = pn.row(pn.entry(results, "standard", 1), "zscore", 30).undone  # 86%
    assert any(lead_k30 in line.get_ydata() for line in standard_first.get_lines())
    robust = pn.entry(results, "robust", 1)
    assert pn.damaged(robust) and not pn.causal(robust) and pn.flipped(robust) == 3
    fig = patch_plots.layer_plot(results, tmp_path, "l")
    robust_axis = fig.axes[1]
    assert [t.get_text() for t in robust_axis.get_legend().get_texts()] == ["ε = 0.1", "ε = 0.2"]
    rows = patch_section.context(results)["layer_rows"]
    assert all(row["cells"][0]["robust"] == "–" and row["cells"][0]["standard"] != "–" for row in rows)


def test_the_main_gallery_explains_its_tiles_and_the_appendix_galleries_refer_back(rendered):
    root, _ = rendered
    html = html_of(root)
    results = json.loads((root / "results.json").read_text())
    n_eps, n_recipes = sum(e > 0 for e in results["config"]["eps"]), len({r["recipe"] for r in results["renders"]})
    assert html.count("Each tile is an image optimized to excite one channel") == 1  # the main body's
    assert html.count("Tiles, captions and marks as in the main body") == n_eps * n_recipes - 1
    assert "channels by sensitivity σ" not in html  # they are ranked by the leading measure (section 2)
