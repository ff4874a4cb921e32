"""Label sets and reading the user's class names.

Users name classes the way they remember them ("flamingo", "T-shirt", "n02007558",
"130"); a typo or an ambiguous name ("crane": the bird or the machine?) must stop
the run with a one-line fix rather than silently pick the wrong class.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files

from rnnviz.common.errors import UsageError

FASHION_NAMES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
# a synset id alone ("n02007558") or at the end of display()'s "crane (n03126707)"
_SYNSET = re.compile(r"(?:.*\()?\s*(n\d{8})\s*\)?")
_LIST_ALL_BELOW = 20  # small label sets list every name in the error


def _key(text: str) -> str:
    """Case, spaces and punctuation do not matter: 'T-shirt', 't_shirt', 'tshirt' are one key."""
    return re.sub(r"[\W_]+", "", text.casefold())


@dataclass(frozen=True)
class LabelSet:
    """A dataset's classes in model-output order.

    ``aliases[i]`` are other names of class i (ImageNet: WordNet lemmas). The first
    alias and the slash-separated parts of a name count as names; the other aliases
    are tried only when no name matches, so 'harp' stays the harp, not the harmonica.
    """

    name: str
    names: tuple[str, ...]
    ids: tuple[str, ...] | None = None
    aliases: tuple[tuple[str, ...], ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    def resolve(self, query: str) -> int:
        """The index of a class given by name, synset id or decimal index."""
        found = self._candidates(query)
        if len(found) == 1:
            return found[0]
        if found:
            fix = f"pass the {'synset id or ' if self.ids else ''}index of the one you mean"
            raise UsageError(self._ambiguous(query, found, fix))
        raise UsageError(self._unknown(query))

    def resolve_folder(self, name: str) -> int | None:
        """The class an image folder holds (named by synset, index or class name); None if none."""
        found = self._candidates(name)
        if len(found) > 1:
            raise UsageError(self._ambiguous(name, found, "rename the folder to the synset id"))
        return found[0] if found else None

    def display(self, index: int) -> str:
        """The class's name for reports, with its synset where the name alone is ambiguous."""
        if not 0 <= index < len(self):
            raise IndexError(f"class index {index} out of range 0-{len(self) - 1} for {self.name}")
        name = self.names[index]
        if self.ids and len(self._candidates(name)) > 1:
            return f"{name} ({self.ids[index]})"
        return name

    def _candidates(self, query: str) -> list[int]:
        text = query.strip()
        if text.isdigit():
            return [int(text)] if int(text) < len(self) else []
        synset = _SYNSET.fullmatch(text.lower())
        if self.ids and synset:
            index = self._id_index.get(synset.group(1))
            return [] if index is None else [index]
        primary, secondary = self._tables
        key = _key(text)
        return sorted(primary.get(key) or secondary.get(key) or ())

    @cached_property
    def _id_index(self) -> dict[str, int]:
        return {synset: i for i, synset in enumerate(self.ids or ())}

    @cached_property
    def _tables(self) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
        primary: dict[str, set[int]] = defaultdict(set)
        secondary: dict[str, set[int]] = defaultdict(set)
        for i, name in enumerate(self.names):
            extra = self.aliases[i] if self.aliases else ()
            for word in (name, *name.split("/"), *extra[:1]):
                primary[_key(word)].add(i)
            for word in extra[1:]:
                secondary[_key(word)].add(i)
        primary.pop("", None)
        secondary.pop("", None)
        return dict(primary), dict(secondary)

    def _ambiguous(self, query: str, found: list[int], fix: str) -> str:
        where = [f"{self.ids[i]}, index {i}" if self.ids else f"index {i}" for i in found]
        options = " or ".join(f"{self.names[i]} ({w})" for i, w in zip(found, where))
        return f"ambiguous class {query!r} for {self.name}: {options}; {fix}"

    def _unknown(self, query: str) -> str:
        by_key = {_key(n): i for i, n in reversed(list(enumerate(self.names)))}
        matches = difflib.get_close_matches(_key(query), by_key, n=3, cutoff=0.75)
        close = [by_key[k] for k in matches]
        if len(self) <= _LIST_ALL_BELOW:
            how = f"give one of: {', '.join(self.names)}; or an index 0-{len(self) - 1}"
        elif self.ids:
            example = self.ids[close[0] if close else 0]
            how = f"give a class name, a synset id like {example}, or an index 0-{len(self) - 1}"
        else:
            how = f"give a class name or an index 0-{len(self) - 1}"
        if not close:
            return f"unknown class {query!r} for {self.name}; {how}"
        return (
            f"unknown class {query!r} for {self.name}; did you mean: {', '.join(self.names[i] for i in close)}? ({how})"
        )


@functools.cache
def imagenet_labels() -> LabelSet:
    """The 1000 ImageNet-1k classes from the shipped TSV (index, synset, name, WordNet lemmas)."""
    text = files("rnnviz.models").joinpath("imagenet_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    if [int(row[0]) for row in rows] != list(range(1000)):
        raise RuntimeError("rnnviz/models/imagenet_classes.tsv is corrupt; reinstall rnnviz")
    return LabelSet(
        "imagenet",
        tuple(r[2] for r in rows),
        ids=tuple(r[1] for r in rows),
        aliases=tuple(tuple(r[3].split(", ")) for r in rows),
    )


@functools.cache
def fashion_labels() -> LabelSet:
    """Fashion-MNIST's ten classes in label order."""
    return LabelSet("fashion", FASHION_NAMES)


def parse_classes(text: str) -> list[str]:
    """Split a ``--classes`` value on commas (no class name holds a comma); repeats are dropped."""
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:
        raise UsageError(
            f"empty entry in --classes {text!r}; give comma-separated class names, e.g. --classes flamingo,goldfish"
        )
    return list(dict.fromkeys(parts))
