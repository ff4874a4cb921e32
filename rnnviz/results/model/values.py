"""The values results.json is built from, each named once so that a bound or a rule changes in one place.

The scalars the schema refers to by name (text, a probability, a count, a file, an attack) are
``TypeAliasType``s: each becomes one entry of schema.json's ``$defs``. The ``x-`` keywords
(rnnviz.results.schema.CUSTOM) ride in ``json_schema_extra``: they state rules that need the rest of
the document or the folder, which rnnviz.report.validate.schema_check checks and pydantic does not.
So a model parses a document that schema_check has passed; it is not the gate for an untrusted one.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, model_validator
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypeAliasType

from rnnviz.common.names import BIG, AttackName, NormName
from rnnviz.results.schema import NULL_AT_ZERO, NULL_ONLY_AT_ZERO

T = TypeVar("T")

TEXT_MOST = 500  # characters of a string: names, paths, specs and sentences are shorter
EPS_MOST = 1000.0  # an eps in its attack's unit (an L2 radius reaches rnnviz.settings.config.MAX_L2_EPS)


def most(limit: str, **field: Any) -> Any:
    """A list's or object's ``x-most``: the name of the limit rnnviz.report.validate.budgets checks its
    length against before anything reads it (a folder from someone else may hold 50,000 cards)."""
    return Field(json_schema_extra={"x-most": limit}, **field)


def distinct(**field: Any) -> Any:
    """A list without repeats (``uniqueItems``; pydantic's own is a set, which would lose the order)."""
    return Field(json_schema_extra={"uniqueItems": True}, **field)


def schema_of(kind: Any) -> dict[str, Any]:
    """The JSON Schema of a type, written out, for a rule stated in JSON Schema (``json_schema_extra``):
    such a rule cannot refer to pydantic's ``$defs``, which are named only once the whole is built."""
    return TypeAdapter(kind).json_schema()


Text = TypeAliasType("Text", Annotated[str, Field(max_length=TEXT_MOST, pattern=r"^[^\u0000]*$")])
# a command-line value kept as given (where shown, a NUL is escaped rather than refused)
AnyText = Annotated[str, Field(max_length=TEXT_MOST)]
Number = TypeAliasType("Number", Annotated[float, Field(ge=-BIG, le=BIG)])
Nonnegative = TypeAliasType("Nonnegative", Annotated[float, Field(ge=0, le=BIG)])
Probability = TypeAliasType("Probability", Annotated[float, Field(ge=0, le=1)])
Count = TypeAliasType("Count", Annotated[int, Field(ge=0)])
Eps = TypeAliasType("Eps", Annotated[float, Field(ge=0, le=EPS_MOST)])
Attack = TypeAliasType("Attack", AttackName)
Norm = TypeAliasType("Norm", NormName)
File = TypeAliasType("File", Annotated[str, Field(json_schema_extra={"x-file": "required"})])
# a card's picture may be missing (null, or a path whose file is gone): the card shows it as missing
CardPicture = TypeAliasType("CardPicture", Annotated[str | None, Field(json_schema_extra={"x-file": "card"})])

Correlation = Annotated[float, Field(ge=-1, le=1)]
Percent = Annotated[float, Field(ge=0, le=100)]
Positive = Annotated[int, Field(ge=1)]
AnyNonnegative = Annotated[float, Field(ge=0)]  # a size or a ratio with no upper bound
EpsIndex = Annotated[int, Field(ge=0, json_schema_extra={"x-eps-index": True})]  # an index of config.eps
AttackList = Annotated[list[Attack], distinct(min_length=1)]  # attacks named once each, in their order

# [low, high] with low <= high
Interval = Annotated[tuple[T, T], Field(json_schema_extra={"x-ordered": True})]

# One entry per config.eps (eps = 0 included)
PerEps = Annotated[list[T], Field(json_schema_extra={"x-per-eps": True})]
PerEpsNullAtZero = Annotated[list[T | None], Field(json_schema_extra={"x-per-eps": NULL_AT_ZERO})]
PerEpsNullOnlyAtZero = Annotated[list[T | None], Field(json_schema_extra={"x-per-eps": NULL_ONLY_AT_ZERO})]

# Objects whose keys come from the document: the eps of config.eps above 0 (written repr(float(eps))),
# a class of classes (every one, or some), a name of attacks.names (every one)
ByEps = Annotated[dict[str, T], Field(json_schema_extra={"x-eps-keys": True})]
ByEveryClass = Annotated[dict[str, T], Field(json_schema_extra={"x-class-names": "all"})]
BySomeClasses = Annotated[dict[str, T], Field(json_schema_extra={"x-class-names": "some"})]
ByAttack = Annotated[dict[str, T], Field(json_schema_extra={"x-attack-keys": True})]

# A key the writer may leave out but never writes as null (None here means absent)
Omittable: TypeAlias = T | SkipJsonSchema[None]


class ByModel(BaseModel, Generic[T]):
    # one value per model of the pair, and no other key
    model_config = ConfigDict(extra="forbid")

    standard: T
    robust: T

    def of(self, role: str) -> T:
        """The value of the model ``role`` names (``"standard"`` or ``"robust"``): the renderer loops over
        rnnviz.common.names.MODELS."""
        if role not in ("standard", "robust"):
            raise KeyError(role)
        return getattr(self, role)


class InFileOrder(BaseModel):
    """An object whose every key a reader lists (the run's environment, its tables): pydantic keeps the
    declared fields first, so the order the file has them in is kept beside, for ``entries``."""

    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: Any) -> Any:
        made = handler(data)
        if isinstance(data, dict):
            made._order = list(data)
        return made

    def entries(self) -> dict[str, Any]:
        """Every key and value, in the order the file has them."""
        values = self.model_dump()
        return {key: values[key] for key in [*self._order, *values] if key in values}
