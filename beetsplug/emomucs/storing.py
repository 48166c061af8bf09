"""An item's fields from a prediction, and the fields that follow valence and arousal when edited by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emomucs_core.constants import SOURCES

from . import labels
from .fields import (CONFIDENCE_FIELD, DIMENSIONS, ERROR_FIELD, MARGIN_FIELD, MODEL_FIELD, PENDING_FIELD, clear,
                     source_field, value_without_album)

if TYPE_CHECKING:
    from beets.library import Item


def apply(fields: dict[str, str], item: Item, prediction) -> None:
    """Set the item's fields (names in ``fields``) from a prediction (does not store)."""
    if not prediction.ok:
        # Old values would outlive the file they describe: a failure clears them all.
        clear(item, [*(fields[d] for d in DIMENSIONS), *derived_fields(fields), PENDING_FIELD])
        item[ERROR_FIELD] = prediction.error  # failed is an answer too: retried only with -f
        return
    v, a = prediction.valence, prediction.arousal
    item[fields["valence"]] = v
    item[fields["arousal"]] = a
    item[fields["mood"]] = labels.mood(v, a)
    probabilities = getattr(prediction, "quadrant_probabilities", None)
    item[CONFIDENCE_FIELD] = labels.mood_confidence(v, a, probabilities)
    lead = labels.dominance(prediction.contributions)
    if lead is not None:
        item[fields["dominant_source"]] = lead.label
        item[MARGIN_FIELD] = lead.margin
    for source, values in prediction.contributions.items():
        for dim in DIMENSIONS:
            item[source_field(source, dim)] = values[dim]
    item[MODEL_FIELD] = prediction.model_id
    clear(item, (ERROR_FIELD, PENDING_FIELD))
    if prediction.warnings:
        item[fields["warnings"]] = "; ".join(prediction.warnings)
    else:
        clear(item, [fields["warnings"]])


def derived_fields(fields: dict[str, str]) -> list[str]:
    """Fields that follow valence and arousal: removed with either of them."""
    return [fields["mood"], fields["dominant_source"], fields["warnings"], CONFIDENCE_FIELD,
            MARGIN_FIELD, MODEL_FIELD, *(source_field(s, d) for s in SOURCES for d in DIMENSIONS)]


def sync_mood(fields: dict[str, str], item: Item) -> None:
    """Keep the mood in step with valence and arousal changed by hand (``beet modify valence=0.2``).

    Removing either (``beet modify 'valence!'``) removes what derives from them.
    """
    v, a = (value_without_album(item, fields[d]) for d in DIMENSIONS)
    if v is None or a is None:
        if clear(item, derived_fields(fields)):
            item.store()
        return
    if value_without_album(item, fields["mood"]) == labels.mood(v, a):
        return
    item[fields["mood"]] = labels.mood(v, a)
    item[CONFIDENCE_FIELD] = labels.mood_confidence(v, a)
    item.store()
