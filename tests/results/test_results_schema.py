"""results.json has one definition, rnnviz/results/schema.json: it is a valid JSON Schema, it
names what rnnviz.common.names names, the docs are generated from it, and its messages name the
field (the engine's own output is checked against it in test_cli.py)."""

from __future__ import annotations

import json

import pytest
from fixtures.make_results import make_results
from helpers import undeclared_keys
from jsonschema import Draft202012Validator

from rnnviz.common.errors import UsageError
from rnnviz.common.names import ATTACKS, MODELS, NORMS, QUALITIES, RECIPES, SCHEMA_VERSION
from rnnviz.report.validate.results import validate
from rnnviz.results import schema_doc
from rnnviz.results.schema import schema


def test_the_schema_is_valid_json_schema_2020_12():
    Draft202012Validator.check_schema(schema())


def test_the_schema_names_what_rnnviz_names():
    s, props = schema(), schema()["properties"]
    assert props["schema_version"]["const"] == SCHEMA_VERSION
    assert s["$defs"]["attack"]["enum"] == list(ATTACKS)
    assert s["$defs"]["norm"]["enum"] == list(dict.fromkeys(NORMS.values()))
    assert props["config"]["properties"]["quality"]["enum"] == list(QUALITIES)
    assert props["config"]["properties"]["recipes"]["items"]["enum"] == list(RECIPES)
    render = props["renders"]["items"]["properties"]
    assert render["model"]["enum"] == list(MODELS) and render["recipe"]["enum"] == list(RECIPES)
    assert list(props["accuracy"]["properties"]) == list(MODELS)
    condition = s["$defs"]["overlap"]["properties"]["conditions"]["items"]["properties"]
    assert condition["attack"]["enum"] == [*ATTACKS, "noise"]  # every attack, and the noise baseline


def test_the_committed_doc_is_the_generated_one():
    assert schema_doc.DOC.read_text(encoding="utf-8") == schema_doc.render(), (
        "docs/results-schema.md is stale: run python -m rnnviz.results.schema_doc"
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("schema") / "run")


def load(folder):
    return json.loads((folder / "results.json").read_text())


def test_the_fixture_folder_passes_and_declares_every_key(folder):
    results = load(folder)
    validate(results, folder)
    assert undeclared_keys(results) == []


@pytest.mark.parametrize(
    "damage, line",
    [
        (
            lambda r: r["accuracy"]["standard"].__setitem__(2, -0.5),
            "results.json: accuracy.standard[2] is -0.5 (float): expected a number in [0, 1]",
        ),
        (
            lambda r: r["accuracy_per_class"]["robust"]["bag"].append(0.5),
            "results.json: accuracy_per_class.robust.bag has 5 entries: expected 4, one per config.eps",
        ),
        (
            lambda r: r["renders"][0].update(channel=3.0),
            "results.json: renders[0].channel is 3.0 (float): expected an integer >= 0",
        ),
        (
            lambda r: r["attacks"]["accuracy"]["fgsm"]["robust"][1].update(correct=10**6),
            "results.json: attacks.accuracy.fgsm.robust[1] has correct 1000000 > n ",
        ),
        (
            lambda r: r["exemplars"]["robust"][next(iter(r["exemplars"]["robust"]))]["change"].update({"0.3": []}),
            "expected an eps of config.eps above 0: 0.05, 0.1, 0.2",
        ),
        (lambda r: r["config"].update(eps=[]), "results.json: config.eps has 0 entries: expected at least 1"),
        (lambda r: r.pop("timings"), "results.json: timings is missing: re-run the job that wrote the folder"),
    ],
)
def test_a_refused_field_is_named_with_what_it_must_be(folder, damage, line):
    results = load(folder)
    damage(results)
    with pytest.raises(UsageError) as refused:
        validate(results, folder)
    assert line in str(refused.value) and len(str(refused.value).splitlines()) == 1
