"""Regenerate ``rnnviz/models/imagenet_classes.tsv`` (run once; the TSV is the committed artifact).

Synsets and WordNet lemmas come from timm's package data, display names from
torchvision's ResNet-50 weights metadata; both list the 1000 ImageNet-1k classes in
the standard index order (sorted synsets), which the anchors below check.
torchvision renamed the duplicated labels ("crane bird", "maillot tank suit"); the
lemma column keeps WordNet's head words ("crane" for both cranes) so that
``LabelSet.resolve`` can tell users a name is ambiguous instead of guessing.

    PYTHONPATH=. .venv/bin/python scripts/make_imagenet_classes.py
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from torchvision.models import ResNet50_Weights

OUT = Path(__file__).resolve().parents[1] / "rnnviz" / "models" / "imagenet_classes.tsv"
ANCHORS = {
    0: ("n01440764", "tench"),
    130: ("n02007558", "flamingo"),
    134: ("n02012849", "crane bird"),
    517: ("n03126707", "crane"),
    999: ("n15075141", "toilet tissue"),
}
HEADER = (
    "# ImageNet-1k classes: index<TAB>synset<TAB>name<TAB>WordNet lemmas (comma-separated, "
    "head word first). Synsets and lemmas: timm timm/data/_info/imagenet_synsets.txt and "
    "imagenet_synset_to_lemma.txt (Apache-2.0); names: torchvision "
    "ResNet50_Weights.IMAGENET1K_V1.meta['categories'] (BSD-3-Clause). "
    "Made by scripts/make_imagenet_classes.py.\n"
)


def _read_timm(name: str) -> str:
    return (files("timm") / "data" / "_info" / name).read_text(encoding="utf-8")


def main() -> None:
    synsets = _read_timm("imagenet_synsets.txt").split()
    lemma_lines = _read_timm("imagenet_synset_to_lemma.txt").splitlines()
    lemmas = dict(line.split("\t") for line in lemma_lines)
    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(synsets) == len(names) == 1000, (len(synsets), len(names))
    assert synsets == sorted(synsets), "timm synsets are not in index (sorted) order"
    for index, expected in ANCHORS.items():
        assert (synsets[index], names[index]) == expected, (index, synsets[index], names[index])
    assert lemmas["n02012849"] == lemmas["n03126707"] == "crane"
    cells = names + [lemmas[s] for s in synsets]
    assert not any(c != c.strip() or "\t" in c or "\n" in c for c in cells)
    rows = "".join(f"{i}\t{s}\t{n}\t{lemmas[s]}\n" for i, (s, n) in enumerate(zip(synsets, names)))
    OUT.write_text(HEADER + rows, encoding="utf-8")
    print(f"wrote {OUT} ({len(names)} classes)")


if __name__ == "__main__":
    main()
