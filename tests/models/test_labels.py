"""Class names as users type them: every ImageNet class reachable, typos and ambiguity caught."""

from collections import defaultdict
from importlib.resources import files

import pytest

from rnnviz.common.errors import UsageError
from rnnviz.models.labels import _key, fashion_labels, imagenet_labels, parse_classes


def _rows():
    text = files("rnnviz.models").joinpath("imagenet_classes.tsv").read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if not line.startswith("#")]


def _duplicated_names():
    """Names (display name or WordNet head word) that more than one row of the file carries."""
    rows_by_key = defaultdict(set)
    for index, _, name, lemmas in _rows():
        for word in (name, lemmas.split(", ")[0]):
            rows_by_key[_key(word)].add(int(index))
    return {key: rows for key, rows in rows_by_key.items() if len(rows) > 1}


def test_file_is_the_standard_index_order():
    rows = _rows()
    assert [int(r[0]) for r in rows] == list(range(1000))
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    anchors = {
        0: ("n01440764", "tench"),
        130: ("n02007558", "flamingo"),
        134: ("n02012849", "crane bird"),
        517: ("n03126707", "crane"),
        999: ("n15075141", "toilet tissue"),
    }
    for index, (synset, name) in anchors.items():
        assert tuple(rows[index][1:3]) == (synset, name)


def test_every_synset_and_index_resolves():
    labels = imagenet_labels()
    assert len(labels) == 1000
    for index, synset, _, _ in _rows():
        assert labels.resolve(synset) == int(index)
        assert labels.resolve(synset.upper()) == int(index)
        assert labels.resolve(index) == int(index)


def test_every_name_resolves_unless_duplicated():
    labels = imagenet_labels()
    duplicated = _duplicated_names()
    for index, _synset, name, lemmas in _rows():
        for word in (name, lemmas.split(", ")[0]):
            if _key(word) in duplicated:
                with pytest.raises(UsageError) as err:
                    labels.resolve(word)
                for other in duplicated[_key(word)]:
                    assert labels.ids[other] in str(err.value)
                    assert f"index {other}" in str(err.value)
                assert "synset" in str(err.value)
            else:
                assert labels.resolve(word) == int(index), word


def test_duplicated_names_are_the_known_ones():
    assert set(_duplicated_names()) == {"crane", "maillot", "cardigan"}


def test_flamingo_every_way():
    labels = imagenet_labels()
    for query in ("130", "n02007558", "Flamingo", " flamingo ", "FLAMINGO"):
        assert labels.resolve(query) == 130


def test_crane_is_ambiguous_with_both_synsets():
    with pytest.raises(UsageError) as err:
        imagenet_labels().resolve("crane")
    message = str(err.value)
    assert "n02012849" in message and "n03126707" in message
    assert "index 134" in message and "index 517" in message
    assert "\n" not in message


def test_other_lemmas_are_fallbacks():
    labels = imagenet_labels()
    assert labels.resolve("Tinca tinca") == 0
    assert labels.resolve("white_shark") == 2
    assert labels.resolve("harp") == 594  # a name beats harmonica's lemma "harp"
    with pytest.raises(UsageError, match="lesser panda.*giant panda"):
        labels.resolve("panda")


def test_typo_suggests_the_closest_names():
    with pytest.raises(UsageError) as err:
        imagenet_labels().resolve("flamingoo")
    assert str(err.value) == (
        "unknown class 'flamingoo' for imagenet; did you mean: flamingo? "
        "(give a class name, a synset id like n02007558, or an index 0-999)"
    )


@pytest.mark.parametrize("query", ["qwertyuiop", "1000", "n99999999", "-1", ""])
def test_unknown_without_suggestion_still_says_how(query):
    with pytest.raises(UsageError, match="an index 0-999"):
        imagenet_labels().resolve(query)


def test_display_disambiguates_and_round_trips():
    labels = imagenet_labels()
    assert labels.display(130) == "flamingo"
    assert labels.display(517) == "crane (n03126707)"
    assert labels.display(134) == "crane bird"
    assert all(labels.resolve(labels.display(i)) == i for i in range(1000))
    with pytest.raises(IndexError):
        labels.display(1000)


def test_resolve_folder():
    labels = imagenet_labels()
    assert labels.resolve_folder("n02007558") == 130
    assert labels.resolve_folder("130") == 130
    assert labels.resolve_folder("flamingo") == 130
    assert labels.resolve_folder(".ipynb_checkpoints") is None
    assert labels.resolve_folder("1000") is None
    with pytest.raises(UsageError, match="rename the folder"):
        labels.resolve_folder("crane")


@pytest.mark.parametrize(
    "query,index",
    [
        ("tshirt", 0),
        ("t-shirt", 0),
        ("T-shirt/top", 0),
        ("T_SHIRT", 0),
        ("top", 0),
        ("ankle-boot", 9),
        ("ankle_boot", 9),
        ("Ankle Boot", 9),
        ("ankleboot", 9),
        ("sneaker", 7),
        ("shirt", 6),
        ("7", 7),
    ],
)
def test_fashion_is_forgiving(query, index):
    assert fashion_labels().resolve(query) == index


def test_fashion_unknown_lists_the_ten_names():
    labels = fashion_labels()
    assert len(labels) == 10 and labels.ids is None
    with pytest.raises(UsageError) as err:
        labels.resolve("sneakr")
    assert "did you mean: sneaker?" in str(err.value)
    assert "t-shirt/top" in str(err.value) and "0-9" in str(err.value)
    with pytest.raises(UsageError):
        labels.resolve("10")


def test_label_sets_are_cached():
    assert imagenet_labels() is imagenet_labels()
    assert fashion_labels() is fashion_labels()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("flamingo", ["flamingo"]),
        (" flamingo , goldfish ", ["flamingo", "goldfish"]),
        ("t-shirt/top,ankle boot", ["t-shirt/top", "ankle boot"]),
        ("130,n02007558", ["130", "n02007558"]),
        ("flamingo,flamingo", ["flamingo"]),
    ],
)
def test_parse_classes(text, expected):
    assert parse_classes(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "flamingo,", ",flamingo", "a,,b", "a, ,b"])
def test_parse_classes_rejects_empty_entries(text):
    with pytest.raises(UsageError, match="empty entry in --classes"):
        parse_classes(text)
