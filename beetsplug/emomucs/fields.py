"""The plugin's database fields: names, types and the numeric query on them.

No torch here: ``beet ls`` must start as fast as without the plugin.
"""

from __future__ import annotations

from typing import Any, Callable

from beets import util
from beets.dbcore import types
from beets.dbcore.query import NumericQuery
from beets.ui import UserError

from emomucs_core.constants import SOURCES

from .labels import MIXED

#: The two dimensions of the circumplex, both 0..1.
DIMENSIONS = ("valence", "arousal")
#: Database field names by default; keys are the keys of the ``fields:`` option.
DEFAULT_FIELDS = {"valence": "valence", "arousal": "arousal", "dominant_source": "dominant_source", "mood": "mood",
                  "warnings": "emomucs_warnings"}
#: Flexible fields with fixed names.
MODEL_FIELD = "emomucs_model"
ERROR_FIELD = "emomucs_error"
#: Gap between the two sources with the largest contributions (see labels.dominance).
MARGIN_FIELD = "emomucs_dominant_margin"
#: Confidence of the mood, 0..1 (see labels.mood_confidence).
CONFIDENCE_FIELD = "emomucs_mood_confidence"
#: Set on the items an interrupted run did not reach: the next run analyses them, even without -f.
PENDING_FIELD = "emomucs_pending"
#: On albums: how many of its tracks the album's means cover.
ANALYSED_FIELD = "emomucs_analysed"


def value_without_album(model, field: str) -> Any:
    """``model[field]`` or None; for an item, never the value of its album.

    beets' ``Item.get`` falls back to the album's flexible fields, so a track
    never analysed would otherwise report its album's mean as its own value.
    """
    from beets.library import Item

    return model.get(field, with_album=False) if isinstance(model, Item) else model.get(field)


class AlbumlessNumericQuery(NumericQuery):
    """A numeric query on an object's own value.

    Unlike beets' own, a NULL value never matches (beets' raises a TypeError),
    and an item does not fall back to its album's value: a track never analysed
    must not match a range because its album has a mean.
    """

    def match(self, obj) -> bool:
        value = value_without_album(obj, self.field_name)
        if value is None:
            return False
        if isinstance(value, str):
            value = self._convert(value)
        if self.point is not None:
            return value == self.point
        if self.rangemin is not None and value < self.rangemin:
            return False
        return self.rangemax is None or value <= self.rangemax


class EmotionFloat(types.NullFloat):
    """A null-able float shown with 3 decimals, queried numerically.

    A missing value displays as an empty string (beets' float shows ``0.000``).
    Values typed by a user (``beet modify valence=abc``) must be numbers in
    ``[low, high]``; anything else is refused with a one-line error instead of
    being stored as NULL.
    """

    query = AlbumlessNumericQuery

    def __init__(self, field: str, low: float | None = None, high: float | None = None):
        super().__init__(3)
        self.field, self.low, self.high = field, low, high

    def format(self, value: float | None) -> str:
        return "" if value is None else super().format(value)

    def parse(self, string: str) -> float:
        try:
            value = float(string)
        except ValueError:
            raise UserError(f"{self.field}={string!r} is not a number "
                            f"(to remove the value, use `{self.field}!`)") from None
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise UserError(f"{self.field}={string!r} is outside {self.low:g}..{self.high:g}")
        return value

    def from_sql(self, sql_value):
        """Values read back from the database are never refused (NULL when unreadable)."""
        if isinstance(sql_value, (str, memoryview)):
            try:
                return float(bytes(sql_value) if isinstance(sql_value, memoryview) else sql_value)
            except ValueError:
                return None
        return self.normalize(sql_value)


_FLOATS: dict[str, EmotionFloat] = {}


def emotion_float(field: str, low: float | None = None, high: float | None = None) -> EmotionFloat:
    """The one :class:`EmotionFloat` of ``field`` in this process.

    beets reports a conflict when two plugin instances declare the same field
    with different (unequal) type objects, so each field's type is shared.
    """
    if field not in _FLOATS:
        _FLOATS[field] = EmotionFloat(field, low, high)
    return _FLOATS[field]


STRING = types.STRING


class _CheckedString(types.String):
    """A text field whose ``parse`` checks what a user types; values read back from the database pass unchecked."""

    def from_sql(self, sql_value):
        if isinstance(sql_value, memoryview):
            sql_value = bytes(sql_value).decode("utf-8", "ignore")
        return types.String.parse(self, sql_value) if isinstance(sql_value, str) else self.normalize(sql_value)

    def __eq__(self, other) -> bool:  # beets reports two plugin instances' unequal types as a conflict
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None


class DerivedString(_CheckedString):
    """A text field the plugin derives from valence and arousal (``mood``): never set by hand.

    ``beet modify mood=happy`` is refused with one line: a value typed there
    would be replaced at the next change of valence or arousal.
    """

    def __init__(self, field: str, valence: str, arousal: str):
        super().__init__()
        self.field, self.valence, self.arousal = field, valence, arousal

    def parse(self, string: str) -> str:
        raise UserError(f"{self.field} follows {self.valence} and {self.arousal} and cannot be set by hand "
                        f"(set those, e.g. `beet modify {self.valence}=0.8 {self.arousal}=0.7`)")


class ChoiceString(_CheckedString):
    """A text field whose value typed by hand must be one of ``choices`` (``dominant_source``)."""

    def __init__(self, field: str, choices: tuple[str, ...]):
        super().__init__()
        self.field, self.choices = field, tuple(choices)

    def parse(self, string: str) -> str:
        if string not in self.choices:
            raise UserError(f"{self.field}={string!r} is not one of {', '.join(self.choices)}")
        return string
#: Count of an album's tracks that have values of their own (what its means cover).
COUNT = types.INTEGER


def source_field(source: str, dim: str) -> str:
    """Name of the field holding ``source``'s contribution to ``dim`` (valence or arousal)."""
    return f"emomucs_{source}_{dim}"


def clear(item, fields) -> bool:
    """Delete the item's own values of ``fields`` (does not store); whether any was there."""
    present = [f for f in fields if value_without_album(item, f) is not None]
    for f in present:
        del item[f]
    return bool(present)


def reset_type_cache() -> None:
    """Forget beets' cached field types so the ones of the current plugin instances are used.

    ``Item._types``/``Album._types`` are ``cached_classproperty`` values computed
    once per process from the plugins loaded at that moment.
    """
    from beets.library import Album, Item

    cache = getattr(util.cached_classproperty, "cache", None)
    if isinstance(cache, dict):
        for model in (Item, Album):
            cache.pop((model, "_types"), None)


def item_types(fields: dict[str, str]) -> dict[str, types.Type]:
    """The item fields' types, under the configured field names ``fields``."""
    valence, arousal = (emotion_float(fields[d], 0.0, 1.0) for d in DIMENSIONS)
    return {
        fields["valence"]: valence,
        fields["arousal"]: arousal,
        fields["dominant_source"]: ChoiceString(fields["dominant_source"], (*SOURCES, MIXED)),
        fields["mood"]: DerivedString(fields["mood"], fields["valence"], fields["arousal"]),
        fields["warnings"]: STRING,
        MARGIN_FIELD: emotion_float(MARGIN_FIELD, 0.0, 2.0),
        CONFIDENCE_FIELD: emotion_float(CONFIDENCE_FIELD, 0.0, 1.0),
        MODEL_FIELD: STRING,
        ERROR_FIELD: STRING,
        PENDING_FIELD: COUNT,
        **{source_field(s, d): emotion_float(source_field(s, d), -1.0, 1.0) for s in SOURCES for d in DIMENSIONS},
    }


def album_types(fields: dict[str, str]) -> dict[str, types.Type]:
    """The album fields' types: the means of valence and arousal, and how many tracks they cover."""
    valence, arousal = (emotion_float(fields[d], 0.0, 1.0) for d in DIMENSIONS)
    return {fields["valence"]: valence, fields["arousal"]: arousal, ANALYSED_FIELD: COUNT}


def own_value_getters(fields: dict[str, str]) -> dict[str, Callable[[Any], Any]]:
    """Computed fields returning an object's own flexible valence and arousal (None without one).

    Without them, beets shows an unanalysed track its album's mean (flexible-field
    fallback), and ``$valence`` unexpanded for an album without a mean.
    """
    return {fields[d]: _own_value_getter(fields[d]) for d in DIMENSIONS}


def _own_value_getter(field: str) -> Callable[[Any], Any]:
    def getter(obj) -> Any:
        return obj._values_flex.get(field)

    return getter
