"""Issue 24: page 1's answer is read from results.json; advice never asks for more than the source holds."""

import json
import re

import pytest
from fixtures.make_results import make_results, typed

from rnnviz.report.text.answer import advice, brief, cause_sentences
from rnnviz.report.text.patch_numbers import MIN_FLIPPED


def load(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    results["source"] = {"per_class": 100, "counts": {}}
    return results


def test_the_answer_names_channels_and_every_attack(tmp_path):
    results = load(tmp_path)
    text = " ".join(brief(typed(results)))
    top = results["ranking"]["standard"][-1]["top"][0]
    assert re.search(rf"{re.escape(top['layer'])} ch\d+", text)
    for name in results["attacks"]["names"]:
        assert name.upper() in text
    assert brief(typed(results))[0].startswith("On clean images")


def test_no_causal_result_where_the_attack_flipped_too_few_patched_images(tmp_path):
    results = load(tmp_path)
    for e in results["patching"]["robust"]:
        if e:
            e["accuracy_adv"] = e["accuracy_clean"] - (MIN_FLIPPED - 1) / e["n_images"]
    text = " ".join(cause_sentences(typed(results)))  # section 4's opening
    assert "No causal result for the robust model" in text
    assert re.search(rf"{MIN_FLIPPED - 1} of \d+ at ε", text) and "so there is no verdict" in text
    assert "putting back the clean values of the standard model" in text


def test_advice_never_asks_for_more_images_than_the_source_holds(tmp_path):
    results = load(tmp_path)
    results["config"]["n_images"] = 100
    said = " ".join(advice(typed(results)))
    assert "--n-images" not in said and "100 per class" in said
    results["config"]["n_images"], results["source"]["per_class"] = 60, 100
    assert "--n-images 100 " in " ".join(advice(typed(results)))


def _hand_entry(top: float, controls: float, n: int = 40, flipped: int = 20, draws: int = 20) -> dict:
    """One patched eps: the leading top-5 and ``draws`` draws of each control, spread evenly over
    ``controls`` ± 0.02, with hand-set intervals; results.json's control summaries as the engine writes them."""
    from rnnviz.measures.patching import controls as summarise_controls

    def row(kind: str, undone: float, draw: int = 0) -> dict:
        return {"kind": kind, "k": 5, "draw": draw, "layer": "", "control": "" if kind == "zscore" else "zscore",
                "layers": {"layer4.0": 5}, "accuracy": 0.5, "undone": undone,
                "undone_ci": [max(0.0, undone - 0.05), min(1.0, undone + 0.05)]}  # fmt: skip

    spread = [controls - 0.02 + 0.04 * r / max(1, draws - 1) for r in range(draws)]
    sets = [row("zscore", top)] + [row(kind, v, r) for kind in ("random", "magnitude") for r, v in enumerate(spread)]
    entry = {"accuracy_clean": 1.0, "accuracy_adv": 1.0 - flipped / n, "n_images": n, "sets": sets}
    return {**entry, "controls": summarise_controls(sets)}


def _at_eps_1(results: dict, entry: dict) -> dict:
    results["config"]["top_k"] = 5
    results["ranking"]["robust"][1]["measure"] = "zscore"
    results["patching"]["robust"] = [None, entry, *[None] * (len(results["config"]["eps"]) - 2)]
    return results


def test_the_cause_verdict_reads_both_controls_and_the_largest_damage(tmp_path):
    """Hand-set: at the ranked eps the top-5 undoes 60% against controls at 10% (more); at a later eps
    with more flipped images it undoes 0% against 50% (less), and that eps is named as the largest."""
    from rnnviz.report.text.cause import cause_sentence

    results = load(tmp_path)
    eps = results["config"]["eps"]
    results["config"]["top_k"] = 5
    for m in ("standard", "robust"):
        results["ranking"][m][1]["measure"] = results["ranking"][m][-1]["measure"] = "zscore"
        results["patching"][m] = [
            None,
            _hand_entry(0.6, 0.1),
            *[None] * (len(eps) - 3),
            _hand_entry(0.0, 0.5, flipped=30),
        ]
    text = cause_sentence(typed(results), "robust", 1)
    first, second = text.split(". At ε")
    assert "on the 20 images the attack flipped (of 40 patched), putting back" in first
    assert "undoes 60%" in first and "channels of similar clean |F| 10% (5–95% of 20 draws: 8.2–12%)" in first
    assert first.endswith(": more than both controls")
    assert "on the 30 images the attack flipped (of 40 patched; the most at any ε)" in second
    assert "undoes 0%" in second and "less than both controls" in second
    results["patching"]["robust"][-1] = _hand_entry(0.12, 0.1, flipped=10)  # fewer flips: only the ranked eps
    assert "the most at any ε" not in cause_sentence(typed(results), "robust", 1)


def test_a_verdict_needs_the_intervals_apart_both_ways(tmp_path):
    """Hand-set: the top-5 undoes 0% with a degenerate 0–0% interval (every resample the same) against
    controls whose draws' 5th percentile is 0%: not "less than the controls", whose spread it ties."""
    from rnnviz.report.text.cause import cause_sentence

    entry = _hand_entry(0.0, 0.1, flipped=6)
    for r in entry["sets"]:
        if r["kind"] == "zscore":
            r["undone_ci"] = [0.0, 0.0]
        elif r["draw"] < 3:
            r["undone"] = 0.0  # 3 of 20 draws at 0%: the 5th percentile is 0%
    entry["sets"][0]["undone"] = 0.0
    entry.pop("controls")  # a folder from before the summaries: the renderer reads the draws' rows
    text = cause_sentence(typed(_at_eps_1(load(tmp_path), entry)), "robust", 1)
    assert "undoes 0% (95% interval 0–0%)" in text and "not clearly more than the controls" in text
    assert "less than both controls" not in text


def test_the_top_k_must_clear_the_draws_spread_not_their_mean(tmp_path):
    """Hand-set: the top-5's interval (45–55%) is above both controls' mean (44%) but not above their
    95th percentile over 20 draws: not clearly more."""
    from rnnviz.report.text.cause import cause_sentence

    entry = _hand_entry(0.5, 0.44)
    for c in entry["controls"]:
        c["undone_range"] = [0.3, 0.58]
    text = cause_sentence(typed(_at_eps_1(load(tmp_path), entry)), "robust", 1)
    assert "not clearly more than the controls" in text


@pytest.mark.parametrize(
    "change, said",
    [
        ({"draws": 2}, "no verdict (2 control draws, at least 10 needed for a spread)"),
        ({"channels": 3}, "no verdict (its control patched only 3 channels, not 5)"),
        ({"drop": True}, "no verdict (no control of 5 channels fits outside the top 5)"),
    ],
)
def test_no_verdict_from_too_few_draws_a_short_control_or_none(tmp_path, change, said):
    from rnnviz.report.text.cause import cause_sentence

    entry = _hand_entry(0.9, 0.1, draws=change.get("draws", 20))
    if "channels" in change:
        for c in entry["controls"]:
            c["channels"] = change["channels"]
    if change.get("drop"):
        entry["sets"], entry["controls"] = entry["sets"][:1], []
    text = cause_sentence(typed(_at_eps_1(load(tmp_path), entry)), "robust", 1)
    assert said in text and "more than both controls" not in text
    if "channels" in change:
        assert "(3 channels, not 5; 5–95% of 20 draws" in text
    if change.get("drop"):
        assert "random channels in the same layers none" in text


@pytest.mark.parametrize("n, flipped", [(40, 0), (0, 0)])
def test_no_verdict_where_no_image_flipped_or_none_was_patched(tmp_path, n, flipped):
    """0 of 40 flipped, or no image patched at all (a share that picked none): no verdict, said so;
    never 'the attack changed no prediction' where nothing was looked at."""
    from rnnviz.report.sections.patching import context
    from rnnviz.report.text.cause import cause_line, cause_sentence

    entry = _hand_entry(0.9, 0.1, n=max(n, 1), flipped=flipped)
    entry["n_images"] = n
    results = _at_eps_1(load(tmp_path), entry)
    text = cause_sentence(typed(results), "robust", 1)
    why = "no image was patched" if n == 0 else "the attack flipped too few of the patched images (0 of 40"
    assert why in text and "no verdict" in text and "undoes" not in text
    line = cause_line(typed(results), full=True)
    assert "undoes" not in line.split("the robust model")[-1]
    said = context(typed(results))
    assert ("robust at ε = " + results["config"]["eps_labels"][1] in said["unpatched"]) == (n == 0)
    assert all("robust" not in s for s in said["spared"]) or n > 0


def test_the_noise_share_gives_its_range_and_never_calls_noise_alone_specific(tmp_path):
    """Hand-set σ_noise / σ: 0.2, 0.4, 0.6 averages 40% (20%–60%); a channel at 1.1 is one noise alone moves."""
    from rnnviz.report.text.answer import _specific

    results = load(tmp_path)
    for m in ("standard", "robust"):
        for row, ratio in zip(results["ranking"][m][1]["top"], (0.2, 0.4, 0.6)):
            row["noise_ratio"] = ratio
    assert "a mean σ_noise / σ of 40% (20%–60%) for the standard model" in _specific(typed(results), 1)
    assert _specific(typed(results), 1).endswith("the rest is specific to the attack.")
    results["ranking"]["robust"][1]["top"][0]["noise_ratio"] = 1.1
    assert _specific(typed(results), 1).endswith("for 1 of them noise alone moves them as much.")
