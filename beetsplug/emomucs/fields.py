"""The plugin's database fields: names, types and the numeric query on them.

No torch here: ``beet ls`` must start as fast as without the plugin.
"""

from __future__ import annotations

from typing import Any

from beets import util
from beets.dbcore import types
from beets.dbcore.query import NumericQuery

#: The four sources, as in ``emomucs_core.separation.SOURCES`` (not imported: it pulls in torch).
SOURCES = ("vocals", "drums", "bass", "other")
#: The two dimensions of the circumplex, both 0..1.
DIMENSIONS = ("valence", "arousal")
#: Flexible fields with fixed names.
MODEL_FIELD = "emomucs_model"
ERROR_FIELD = "emomucs_error"


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
    """A null-able float shown with 3 decimals, queried numerically."""

    query = AlbumlessNumericQuery


#: One shared instance per type: beets reports a conflict when two plugin
#: instances declare the same field with different (unequal) type objects.
FLOAT3 = EmotionFloat(3)
STRING = types.STRING


def source_field(source: str, dim: str) -> str:
    """Name of the field holding ``source``'s contribution to ``dim`` (valence or arousal)."""
    return f"emomucs_{source}_{dim}"


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
