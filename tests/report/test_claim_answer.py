"""Issue 24: page 1's answer is read from results.json; advice never asks for more than the source holds."""

import json
import re

from fixtures.make_results import make_results

from rnnviz.report.text.answer import MIN_FLIPPED, advice, answer_sentences, page_one


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
