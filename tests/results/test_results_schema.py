"""results.json has one definition, the typed models of rnnviz.results.model: rnnviz/results/schema.json
is generated from them and is a valid JSON Schema, it names what rnnviz.common.names names, the docs
are generated from it, its messages name the field, and a real run passes it and parses into the
models (the engine's own output is checked against it in test_cli.py)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fixtures.make_results import make_results
from fixtures.record import RECORDED
from helpers import undeclared_keys
from jsonschema import Draft202012Validator

from rnnviz.common.errors import UsageError
from rnnviz.common.names import ATTACKS, MODELS, NORMS, QUALITIES, RECIPES, SCHEMA_VERSION
from rnnviz.report.validate.results import validate
from rnnviz.results import schema_doc, schema_gen
from rnnviz.results.model import Results
from rnnviz.results.model.channels import RankingEntry
from rnnviz.results.schema import resolve, schema


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
    assert list(resolve(props["accuracy"])["properties"]) == list(MODELS)
    condition = s["$defs"]["overlap"]["properties"]["conditions"]["items"]["properties"]
    assert condition["attack"]["enum"] == [*ATTACKS, "noise"]  # every attack, and the noise baseline


@pytest.fixture(scope="module")
def generated():
    return schema_gen.generate()


def test_the_committed_schema_is_the_generated_one(generated):
    assert schema_gen.SCHEMA.read_text(encoding="utf-8") == schema_gen.text(generated), (
        "rnnviz/results/schema.json is stale: run python -m rnnviz.results.schema_gen"
    )


@pytest.mark.parametrize("run", sorted(p for p in RECORDED.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_a_recorded_run_passes_the_generated_schema_and_parses_into_the_models(generated, run):
    raw = json.loads((run / "results.json").read_text(encoding="utf-8"))
    Draft202012Validator(generated).validate(raw)
    validate(raw, run)  # and every rule --from adds (the x- keywords, files, the rules between fields)
    results = Results.model_validate(raw)
    assert results.created == datetime.fromisoformat(raw["created"])
    assert results.ranking.standard[0] is None  # nothing is ranked at eps = 0
    entry = results.ranking.robust[1]
    assert isinstance(entry, RankingEntry) and entry.measure == raw["ranking"]["robust"][1]["measure"]
    assert entry.top[0].channel == raw["ranking"]["robust"][1]["top"][0]["channel"]
    assert results.attacks is not None and results.attacks.primary == raw["attacks"]["primary"]
    wilson = results.attacks.accuracy[results.attacks.primary].robust[1]
    written = raw["attacks"]["accuracy"][results.attacks.primary]["robust"][1]
    assert (wilson.low, wilson.high) == (written["low"], written["high"])
    assert results.examples[0].class_ == raw["examples"][0]["class"]  # a key Python cannot spell, by its alias


def test_the_committed_doc_is_the_generated_one():
    assert schema_doc.DOC.read_text(encoding="utf-8") == schema_doc.render(), (
        "docs/results-schema.md is stale: run python -m rnnviz.results.schema_gen"
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
        # what the generator turns from pydantic's anyOf and json_schema_extra into one node each
        (
            lambda r: r["ranking"]["standard"].__setitem__(1, 3),
            "results.json: ranking.standard[1] is 3 (int): expected an object or null",
        ),
        (lambda r: r.update(patching=3), "results.json: patching is 3 (int): expected an object or null"),
        (
            lambda r: r["config"].update(attack=3),
            "results.json: config.attack is 3 (int): expected a list with at least one entry",
        ),
        (
            lambda r: r["config"].update(attack=["fgsm", "xyz"]),
            "results.json: config.attack[1] is 'xyz' (str): expected one of fgsm, pgd, pgd-l2, apgd, apgd-t",
        ),
        (
            lambda r: r["environment"].update(python=[]),
            "results.json: environment.python is a list: expected a string of at most 500 characters or a number "
            "or true or false or null",
        ),
        (
            lambda r: next(s for s in r["patching"]["robust"][1]["sets"] if s["kind"] == "layer").update(layer=""),
            ".layer is '' (str): expected a layer name for kind layer",
        ),
    ],
)
def test_a_refused_field_is_named_with_what_it_must_be(folder, damage, line):
    results = load(folder)
    damage(results)
    with pytest.raises(UsageError) as refused:
        validate(results, folder)
    assert line in str(refused.value) and len(str(refused.value).splitlines()) == 1
