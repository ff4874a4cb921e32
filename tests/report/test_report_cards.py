"""Channel cards (issue 14), report side: a card per channel from ``exemplars``, gallery links to
them, weak renders marked in cards and gallery tiles, validation of the untrusted ``exemplars``,
and a folder without exemplars rendering as before. Everything runs on the recorded folder."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from fixtures.engine_run import made_once
from fixtures.make_results import SMALL, make_results, typed
from pypdf import PdfReader

from rnnviz.cli import main
from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS
from rnnviz.report import render_report
from rnnviz.report.figures.channel_grids import channel_cell
from rnnviz.report.sections.cards import card_id, relative_text, shown_eps
from rnnviz.report.validate.cards import card_key, eps_keys
from rnnviz.results.model.channels import ChannelRow
from rnnviz.results.model.pictures import Render

CARD = re.compile(r'<article class="card" id="([^"]+)">(.*?)</article>', re.S)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One recorded folder the damage cases copy."""
    return make_results(tmp_path_factory.mktemp("pristine") / "run")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, worker_id) -> Path:
    """A rendered folder with exemplars and accent renders (HTML only), made once per session: read only."""

    def make(root: Path) -> None:
        render_report(make_results(root / "run", accent=True), pdf=False, progress=False)

    return made_once(tmp_path_factory, worker_id, "cards-accent", make) / "run"


def results_of(root: Path) -> dict:
    return json.loads((root / "results.json").read_text())


def html_of(root: Path) -> str:
    return (root / "report.html").read_text(encoding="utf-8")


def cards_of(html: str) -> dict[str, str]:
    return {ident: body for ident, body in CARD.findall(html)}


def rewrite(root: Path, damage) -> None:
    results = results_of(root)
    damage(results)
    (root / "results.json").write_text(json.dumps(results))  # NaN is written as NaN, like a bug would


def section_number(html: str, title: str) -> str:
    """The number (main body) or letter (appendix) of the section headed ``title`` (its <h2>)."""
    return re.search(rf"<h2>([\dA-Z]+)\. {re.escape(title)}</h2>", html).group(1)


def _keys_in(ids: list[str], results: dict, m: str) -> list[str]:
    """The exemplar keys of model ``m`` in the order their cards appear."""
    by_id = {card_id(m, k): k for k in results["exemplars"][m]}
    return [by_id[i] for i in ids if i in by_id]


def first_card(results: dict, m: str = "robust") -> dict:
    return next(iter(results["exemplars"][m].values()))


# ---------------------------------------------------------------- cards and links


def test_one_card_per_channel_with_its_id_in_its_section(folder):
    results, html = results_of(folder), html_of(folder)
    expected = [card_id(m, key) for m in MODELS for key in results["exemplars"][m]]
    assert expected == [  # the recorded run's ranked channels, by attacked eps then rank
        "card-standard-layer1-0-14",
        "card-standard-layer3-0-24",
        "card-standard-layer4-0-41",
        "card-standard-layer4-0-74",
        "card-standard-layer4-0-99",
        "card-robust-layer2-0-24",
        "card-robust-layer4-0-10",
        "card-robust-layer4-0-53",
        "card-robust-layer4-0-72",
        "card-robust-layer4-0-83",
        "card-robust-layer4-0-127",
        "card-robust-layer3-0-18",
    ]
    shown = list(cards_of(html))
    assert sorted(shown) == sorted(expected) and len(shown) == len(set(shown))  # each once
    layers = results["config"]["layers"]
    for m in MODELS:  # in network order per model
        depth = [layers.index(k.split(":")[0]) for k in results["exemplars"][m]]
        assert [layers.index(card_key(k)[0]) for k in _keys_in(shown, results, m)] == sorted(depth)
    # the cards are appendix F, between the other galleries (E) and the method (G)
    assert section_number(html, "What the sensitive channels respond to") == "5"
    assert section_number(html, "What each channel responds to: channel cards") == "F"
    assert section_number(html, "Method and reproducibility") == "G"
    assert '<a href="#cards">F. What each channel responds to: channel cards</a>' in html
    assert html.index('id="galleries"') < html.index('id="appendix"') < html.index('<section id="cards"')


def test_gallery_links_resolve_to_cards_in_tile_order(folder):
    results, html = results_of(folder), html_of(folder)
    ids = set(cards_of(html))
    links = [re.findall(r'href="#([^"]+)"', p) for p in re.findall(r'<p class="cardlinks">(.*?)</p>', html, re.S)]
    attacked = [i for i, e in enumerate(results["config"]["eps"]) if e > 0]
    expected = [
        [card_id(m, f"{c['layer']}:{c['channel']}") for m in MODELS for c in results["top_channels"][m][i]]
        for i in attacked
    ]
    # the main body's gallery (the ranked eps) first, then the appendix's one per attacked eps
    assert links[1:] == expected and links[0] in expected
    assert all(set(hrefs) <= ids for hrefs in links)


def test_weak_renders_are_marked_in_words_and_others_are_not(folder):
    results, cards = results_of(folder), cards_of(html_of(folder))
    weak = {(r["model"], r["layer"], r["channel"]) for r in results["renders"] if (r["relative_activation"] or 2) < 1}
    assert weak  # the recorded run has weak renders (below the best real image)
    for m in MODELS:
        for key in results["exemplars"][m]:
            layer, _, ch = key.rpartition(":")
            body = cards[card_id(m, key)]
            if (m, layer, int(ch)) in weak:
                assert body.count('class="weakmark"') >= 1, key
                assert "weak: below the best real image (" in body
            else:
                assert "weakmark" not in body and "weak:" not in body, key
    assert relative_text(Render.model_construct(relative_activation=1.3)) == "1.30× the best real image"
    assert relative_text(Render.model_construct(relative_activation=0.999)) == "weak: below the best real image (1.00×)"


def test_a_weak_gallery_tile_says_so_in_its_caption(tmp_path):
    root = make_results(tmp_path, accent=True)
    render = typed(results_of(root)).renders[0]
    channel = ChannelRow(layer=render.layer, channel=render.channel, sensitivity=0.5)
    texts = lambda rel: [
        line.text for line in channel_cell(root, render.model_copy(update={"relative_activation": rel}), channel).lines
    ]  # noqa: E731
    assert "weak: 0.41× best real image" in texts(0.41)
    assert not any("weak" in t for t in texts(1.0) + texts(None))


def test_accent_renders_get_their_own_galleries(folder):
    html = html_of(folder)
    for i in (1, 2, 3):
        label = results_of(folder)["config"]["eps_labels"][i]
        assert f"Most sensitive channels at ε = {label}" in html
        assert (folder / "figures" / f"gallery_eps-{label}_accent.png").is_file()
    assert "Accent recipe: optimization from the channel" in html


def test_a_card_quotes_sigma_its_interval_noise_and_patching(folder):
    results, cards = results_of(folder), cards_of(html_of(folder))
    top = results["ranking"]["standard"][3]["top"][0]  # eps 0.2: layer4.0 ch 41, σ 3.07 [2.91, 3.22], noise 0.313
    body = cards[card_id("standard", f"{top['layer']}:{top['channel']}")]
    assert "σ = 3.07 [2.91–3.22], noise σ_noise = 0.313 (0.10 of σ); rank 1 of 3, in the top 3 in 100%" in body
    # the k = 1 set by σ is this channel: it undoes none of the damage, nor does a random channel; every
    # resample agrees, so the interval is Wilson's for 0 of the 50 flipped images
    assert "undoes 0% (0%–7%) of the damage (clean 98% → attacked 0%)" in body  # Wilson: 0 of 50 flipped
    assert "one random channel: 0% on average (5–95% of 20 draws: 0%–0%)" in body
    assert "Putting back" not in cards[card_id("standard", "layer4.0:74")]  # never first in a ranking
    best = first_card(results, "standard")["best_analysed"]["value"]  # the best of the analysed classes
    card = first_card(results, "standard")
    pool_first = card["clean"][0]["value"]  # the pool's other classes excite this channel more
    assert pool_first > best
    assert (
        f"Best real image: mean activation {best:.3g} among the analysed classes (the renders' 1×); "
        f"the first real image shown, from the pool, {pool_first:.3g}." in cards["card-standard-layer1-0-14"]
    )


def test_every_card_picture_is_embedded_and_the_change_sheets_have_column_labels(folder):
    results, cards = results_of(folder), cards_of(html_of(folder))
    n_eps = sum(e > 0 for e in results["config"]["eps"])
    for body in cards.values():
        # the clean sheet and the change sheet at the eps the card shows are embedded; the other eps linked
        assert body.count('src="data:image/png;base64,') >= 2
        assert body.count("<th>clean</th><th>adversarial</th><th>|ΔF|</th>") == 1
        assert body.count("(a file beside this report)") == n_eps - 1
        assert body.count("screen-only") >= n_eps - 1  # the PDF shows only the ranked eps


# ---------------------------------------------------------------- untrusted exemplars


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda r: first_card(r)["images"].update(clean="figures/cards/../../outside.png"),
            r"exemplars\.robust\.layer2\.0:24\.images\.clean is 'figures/cards/\.\./\.\./outside\.png'",
        ),
        (
            lambda r: first_card(r)["images"].update(clean="figures/examples/ex00_clean.png"),
            r"images\.clean is .*: expected a path under figures/cards/",
        ),
        (
            lambda r: first_card(r)["clean"][0].update(value=math.nan),
            r"exemplars\.robust\.layer2\.0:24\.clean\[0\]\.value is nan",
        ),
        (
            lambda r: first_card(r)["change"].update({"0.3": []}),
            r"exemplars\.robust\.layer2\.0:24\.change\.0\.3 is a key '0\.3' \(str\): expected an eps of config\.eps",
        ),
        (lambda r: first_card(r)["clean"][0].update(index=-1), r"clean\[0\]\.index is -1"),
        (
            lambda r: r["exemplars"]["robust"].update({"no-channel": {}}),
            r"exemplars\.robust is 'no-channel' \(str\): expected a key",
        ),
        (lambda r: r["renders"][0].update(relative_activation="big"), r"renders\[0\]\.relative_activation is 'big'"),
    ],
)
def test_damaged_exemplars_are_one_line_naming_the_key(tmp_path, capsys, damage, message, pristine):
    root = Path(shutil.copytree(pristine, tmp_path / "run"))
    rewrite(root, damage)
    with pytest.raises(UsageError, match=message) as err:
        render_report(root, pdf=False, progress=False)
    assert "\n" not in str(err.value)
    assert main(["--from", str(root), "--no-pdf", "--quiet"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (root / "report.html").exists()


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    root = make_results(tmp_path / "run")
    outside = tmp_path / "secret.png"
    shutil.copy(root / first_card(results_of(root))["images"]["clean"], outside)
    target = root / first_card(results_of(root))["images"]["clean"]
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(UsageError, match=r"images\.clean names .* not a regular file inside the report folder"):
        render_report(root, pdf=False, progress=False)


def test_a_missing_or_broken_picture_is_shown_as_missing(tmp_path):
    root = make_results(tmp_path / "run", **SMALL)
    card = first_card(results_of(root))
    (root / card["images"]["clean"]).unlink()
    for change in card["images"]["change"].values():
        (root / change).write_bytes(b"not a png")
    render_report(root, pdf=False, progress=False)
    body = cards_of(html_of(root))[card_id("robust", next(iter(results_of(root)["exemplars"]["robust"])))]
    assert body.count("picture missing") == 2  # the clean sheet, and the change sheet the card shows


def test_a_folder_without_exemplars_renders_without_cards(tmp_path):
    """--exemplars 0 (exemplars null): no cards, no links, the other sections numbered as without them."""
    root = make_results(tmp_path, exemplars=False, **SMALL)
    render_report(root, pdf=False, progress=False)
    assert not (root / "figures" / "cards").exists()
    text = html_of(root).split("</style>", 1)[1]  # the stylesheet names the card classes either way
    assert 'id="cards"' not in text and "card-" not in text and "cardlinks" not in text
    assert section_number(text, "What the sensitive channels respond to") == "5"
    assert section_number(text, "Method and reproducibility") == "F"  # no cards appendix: the method moves up
    assert text.count("data:image") == len(re.findall(r"<b>Figure \d+\.</b>", text))


def test_the_pdf_has_compact_card_pages_with_the_ranked_eps_only(tmp_path):
    root = make_results(tmp_path / "run", patching=False, **SMALL)
    files = render_report(root, pdf=True, progress=False)
    assert files.pdf_error is None
    pages = [p.extract_text() for p in PdfReader(files.pdf).pages]
    cards = [t for t in pages if "Real images that excite it most" in t]
    per_model = {m: [t for t in cards if f"{m} · layer" in t] for m in MODELS}
    assert all(1 <= len(v) <= 2 for v in per_model.values()), [len(v) for v in per_model.values()]
    text = "\n".join(cards)
    results = typed(results_of(root))
    keys = eps_keys(results.config.eps)  # one change per card: at the eps where its channel is ranked (issue 25)
    shown = [
        shown_eps(results.config.eps, results.ranking.of(m), *card_key(key), keys, 2)
        for m in MODELS
        for key in results.exemplars.of(m)
    ]
    assert text.count("Changed most by the attack, ε = ") == len(shown)
    for i, label in ((1, "0.1"),):
        assert text.count(f"Changed most by the attack, ε = {label}") == shown.count(i)
