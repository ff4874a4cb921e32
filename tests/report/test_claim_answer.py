"""Issue 24: page 1's answer is read from results.json; advice never asks for more than the source holds."""

import json
import re

from fixtures.make_results import make_results

from rnnviz.report.text.answer import advice, answer_sentences, page_one
from rnnviz.report.text.patch_numbers import MIN_FLIPPED


def load(tmp_path):
    results = json.loads((make_results(tmp_path) / "results.json").read_text())
    results["source"] = {"per_class": 100, "counts": {}}
    return results


def test_the_answer_names_channels_and_every_attacks_accuracy(tmp_path):
    results = load(tmp_path)
    text = " ".join(answer_sentences(results))
    top = results["ranking"]["standard"][-1]["top"][0]
    assert re.search(rf"{re.escape(top['layer'])} ch\d+", text)
    for name in results["attacks"]["names"]:
        assert name.upper() in text
    assert page_one(results)[0].startswith("On clean images")


def test_no_causal_result_where_the_attack_flipped_too_few_patched_images(tmp_path):
    results = load(tmp_path)
    for e in results["patching"]["robust"]:
        if e:
            e["accuracy_adv"] = e["accuracy_clean"] - (MIN_FLIPPED - 1) / e["n_images"]
    text = " ".join(answer_sentences(results))
    assert "No causal result for the robust model" in text
    assert f"{MIN_FLIPPED - 1} at ε" in text
    assert "putting back the clean values of the standard model" in text


def test_advice_never_asks_for_more_images_than_the_source_holds(tmp_path):
    results = load(tmp_path)
    results["config"]["n_images"] = 100
    said = " ".join(advice(results))
    assert "--n-images" not in said and "100 per class" in said
    results["config"]["n_images"], results["source"]["per_class"] = 60, 100
    assert "--n-images 100 " in " ".join(advice(results))


def _hand_entry(top: float, controls: float, n: int = 40, flipped: int = 20) -> dict:
    """One patched eps: the leading top-5 and one draw of each control, with hand-set intervals."""

    def row(kind: str, undone: float) -> dict:
        return {"kind": kind, "k": 5, "draw": 0, "layer": "", "control": "" if kind == "zscore" else "zscore",
                "layers": {"layer4.0": 5}, "accuracy": 0.5, "undone": undone,
                "undone_ci": [max(0.0, undone - 0.05), min(1.0, undone + 0.05)]}  # fmt: skip

    sets = [row("zscore", top), row("random", controls), row("magnitude", controls)]
    return {"accuracy_clean": 1.0, "accuracy_adv": 1.0 - flipped / n, "n_images": n, "sets": sets}


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
    text = cause_sentence(results, "robust", 1)
    first, second = text.split(". At ε")
    assert "undoes 60%" in first and first.endswith("channels of similar clean |F| 10%: more than both controls")
    assert "(40 patched images; the attack flips the most here, 30)" in second
    assert "undoes 0%" in second and "less than both controls" in second
    results["patching"]["robust"][-1] = _hand_entry(0.12, 0.1, flipped=10)  # fewer flips: only the ranked eps
    assert "flips the most" not in cause_sentence(results, "robust", 1)


def test_a_verdict_needs_the_intervals_apart_both_ways(tmp_path):
    """Hand-set: the top-5 undoes 0% with a degenerate 0–0% interval (every resample the same) against
    controls whose intervals reach down to 0%: not "less than the controls", whose lowest end it ties."""
    from rnnviz.report.text.cause import cause_sentence

    results = load(tmp_path)
    results["config"]["top_k"] = 5
    results["ranking"]["robust"][1]["measure"] = "zscore"
    entry = _hand_entry(0.0, 0.1, flipped=6)
    for r in entry["sets"]:
        r["undone_ci"] = [0.0, 0.0] if r["kind"] == "zscore" else [0.0, 0.5]
    results["patching"]["robust"] = [None, entry, *[None] * (len(results["config"]["eps"]) - 2)]
    text = cause_sentence(results, "robust", 1)
    assert "undoes 0% (95% interval 0–0%)" in text and "not clearly more than the controls" in text
    assert "less than both controls" not in text


def test_the_noise_share_gives_its_range_and_never_calls_noise_alone_specific(tmp_path):
    """Hand-set σ_noise / σ: 0.2, 0.4, 0.6 averages 40% (20%–60%); a channel at 1.1 is one noise alone moves."""
    from rnnviz.report.text.answer import _specific

    results = load(tmp_path)
    for m in ("standard", "robust"):
        for row, ratio in zip(results["ranking"][m][1]["top"], (0.2, 0.4, 0.6)):
            row["noise_ratio"] = ratio
    assert "averages 40% (20%–60%) for the standard model" in _specific(results, 1)
    assert _specific(results, 1).endswith("the rest is specific to the attack.")
    results["ranking"]["robust"][1]["top"][0]["noise_ratio"] = 1.1
    assert _specific(results, 1).endswith("for 1 of them noise alone moves them as much.")
