"""The report as a brief plus an appendix, and the deck of one-finding slides (issue 27): no page
left half empty mid-section, slide titles that are sentences with their number, captions that
name only the attacks run, every image embedded once."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from fixtures.make_results import make_results
from fixtures.page_fill import holes, needs_poppler, page_fill, section_starts
from pypdf import PdfReader

from rnnviz.report import load_results
from rnnviz.report.pdf import write_pdf
from rnnviz.report.sections import attacks as attack_section
from rnnviz.report.sections.catalogue import _upper_bound
from rnnviz.report.slides import titles as say
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.cause import cause_line
from rnnviz.report.text.format import focus_index, pct

# Finite verbs the findings use; a topic label ("Layer sensitivity at ε = 0.1") has none.
VERB = re.compile(
    r"\b(is|are|was|were|has|have|gets|leads?|moves?|sits?|keeps?|causes?|undoes|share|shares|reach|reaches|"
    r"rises?|falls?|stays?|changes?|flips?|beats?|differs?)\b"
)
COMPARISON = re.compile(r"\d|×|\b(more|less|than|against|ahead|behind|higher|lower|smoother|as much as)\b")


def is_finding(title: str) -> bool:
    """A sentence stating a finding: a verb, a number or a comparison, not a question or a heading."""
    if title.rstrip().endswith("?") or re.match(r"(What|How|Which|Where|Why)\b", title):
        return False
    return bool(VERB.search(title)) and bool(COMPARISON.search(title))


@pytest.fixture(scope="module")
def rendered(rendered_fixture):
    return rendered_fixture


@needs_poppler
def test_no_page_is_near_empty_or_half_empty_inside_a_section(rendered):
    assert holes(rendered[1].pdf) == []


@needs_poppler
def test_page_fill_tells_a_near_empty_page_from_a_full_one(tmp_path):
    css = "@page { size: A4 landscape; margin: 12mm 14mm 14mm; } p { margin: 0; }"
    tall = "<div style='height: 180mm; background: #333'></div>"
    html = f"<style>{css}</style><p>1. One line</p><p style='break-before: page'>{tall}</p><p>2. Next</p>"
    write_pdf(html, tmp_path / "t.pdf", tmp_path)
    fills = page_fill(tmp_path / "t.pdf")
    assert fills[0] < 0.1 and fills[1] > 0.95
    assert section_starts(tmp_path / "t.pdf") == [0, 2]
    # page 1 is half empty inside its section; page 3 is near-empty even as the last page
    assert [h.split(":")[0] for h in holes(tmp_path / "t.pdf")] == ["page 1", "page 3"]


def test_the_brief_leads_with_the_answer_then_the_appendix(rendered):
    pages = [page.extract_text() for page in PdfReader(rendered[1].pdf).pages]
    assert "Summary" in pages[0] and "Figure 1." in pages[0]
    first = " ".join(pages[0].split())
    assert "restoring the top 5 / 30 channels undoes" in first  # the cause is part of the answer
    second = " ".join(pages[1].split())
    assert "Which channels react at ε = 0.05" in second and "Contents" in second
    for pointer in ("Trust.", "(section 3)", "Attacks.", "(appendix D)"):
        assert pointer in second, pointer
    cover = next(n for n, text in enumerate(pages) if text.lstrip().startswith("Appendix"))
    assert "Appendix contents" in pages[cover] and "Figures" in pages[cover]
    assert cover <= 10  # the brief and its main body stay short (the recorded run: 9 pages)


def test_every_slide_title_states_a_finding_with_its_number(rendered):
    titles = rendered[1].slide_titles
    assert 8 <= len(titles) <= 14, titles
    assert [t for t in titles if not is_finding(t)] == []
    assert len(PdfReader(rendered[1].slides).pages) == len(titles) + 2  # the title slide, the provenance


def test_a_topic_label_is_not_a_finding():
    for label in (
        "What the standard model's most sensitive channels at ε = 0.05 respond to (lucid renders)",
        "Layer sensitivity at ε = 0.1",
        "Accuracy under attack vs ε",
        "Does the attack change the answer?",
    ):
        assert not is_finding(label), label
    assert is_finding("The robust model leads by 81 points in every class at ε = 0.1")


def test_no_image_is_embedded_twice(rendered):
    html = (rendered[0] / "report.html").read_text(encoding="utf-8")
    uris = Counter(re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", html))
    assert uris and max(uris.values()) == 1
    assert len(html.encode()) < 3e6


def test_captions_name_only_the_attacks_that_were_run(tmp_path):
    results = load_results(make_results(tmp_path))
    both = attack_section.accuracy_caption(results)
    assert "FGSM dashed" in both and "PGD solid" in both
    results.attacks.names = results.strong_attack.analysis = ["fgsm"]
    alone = attack_section.accuracy_caption(results)
    assert "FGSM dashed" in alone and not re.search(r"\bPGD\b", alone) and alone.startswith("The run's attack")
    results.config.attack = ["pgd"]
    assert "such as PGD" not in _upper_bound(results.config)


def test_the_pointer_titles_quote_the_numbers_they_summarise(tmp_path):
    results = load_results(make_results(tmp_path))
    i = focus_index(results)
    overlap = results.attacks.overlap.standard
    where = {(c.attack, c.eps_index): n for n, c in enumerate(overlap.conditions)}
    jaccard = overlap.jaccard[where[("fgsm", i)]][where[("pgd", i)]]
    assert f"share a Jaccard index of {jaccard:.2f} (standard)" in say.attacks(results)
    e = pn.entry(results, "standard", i)
    lead = results.ranking.standard[i].measure
    ks = pn.quoted_ks(results.config, e, lead)
    assert ks == [5, 30]  # the recording: top_k 3 on the ladder 1, 5, 30: nearest (the larger on a tie), largest
    undone = " / ".join(pct(pn.row(e, lead, k).undone) for k in ks)
    random = " / ".join(pct(pn.random_stats(e, k)[0]) for k in ks)
    line = cause_line(results)
    flips = f"on the {pn.flipped(e)} images the attack flipped"
    short = f"on {pn.flipped(e)} flipped images"  # the slide title's shorter wording
    assert (
        f"restoring the top 5 / 30 channels undoes {undone} (random: {random}) of the standard model's damage {short}"
        in line
    )
    assert line.endswith(short)  # the slide title names only models with a result
    ranges = " / ".join(f"{pct(lo)[:-1]}–{pct(hi)}" for lo, hi in (pn.row(e, lead, k).undone_ci for k in ks))
    full = cause_line(results, full=True)  # the brief's line: the intervals, and the robust model where it is hit
    assert f"undoes {undone} (95% intervals {ranges}; random: {random}) of the standard model's damage {flips}" in full
    # page 1 reads the numbers as section 4 does: the standard model's top 5 and 30 clear both controls' spread
    assert f"{flips} (more than both controls)" in full
    robust = pn.entry(results, "robust", 3)  # ε = 0.2: the attack flips 47 of the robust model's 51
    assert pn.flipped(robust) == 47
    assert (
        "the robust model: the attack flipped 3 of 51 patched images, too few for a verdict; at ε = 0.2 its top 5 / 30 "
        "undo " in full
    )
    assert "on the 47 images the attack flipped (not clearly more than the controls)" in full
