"""Album means: an album's valence and arousal are the means of its tracks' own values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .fields import ANALYSED_FIELD, DIMENSIONS, value_without_album

if TYPE_CHECKING:
    from beets.library import Album, Library


def update_albums(plugin, lib: Library, album_ids: Iterable[int | None]) -> None:
    """Set album valence/arousal to the mean of the album's analysed tracks (and forget them as changed)."""
    for album_id in {a for a in album_ids if a is not None}:
        plugin._changed_albums.discard(album_id)
        album = lib.get_album(album_id)
        if album is not None:
            update_album(plugin, album)


def update_album(plugin, album: Album) -> None:
    """Album means of its tracks' own values, and how many tracks they cover; stored when changed."""
    items = list(album.items())
    before = {k: album.get(k) for k in (*(plugin.fields[d] for d in DIMENSIONS), ANALYSED_FIELD)}
    counts = []
    for dim in DIMENSIONS:
        field = plugin.fields[dim]
        values = [v for v in (value_without_album(i, field) for i in items) if v is not None]
        counts.append(len(values))
        if values:
            album[field] = sum(values) / len(values)
        elif album.get(field) is not None:
            del album[field]
    if max(counts):
        album[ANALYSED_FIELD] = max(counts)
    elif album.get(ANALYSED_FIELD) is not None:
        del album[ANALYSED_FIELD]
    if {k: album.get(k) for k in before} != before:
        # inherit=False: an album's flexible fields would otherwise be copied onto every track.
        album.store(inherit=False)
