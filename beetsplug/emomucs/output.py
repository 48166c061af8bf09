"""What the plugin prints and writes out: track names, result lines, counts, files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from emomucs_core.printable import printable

from . import labels

if TYPE_CHECKING:
    from beets.library import Item


def track_name(item: Item) -> str:
    """How every line names a track: beets' ``format_item`` (``Artist - Album - Title``), as ``beet ls`` shows it.

    A track whose format leaves nothing but separators (no tags) is named by its path;
    control characters are escaped (one name, one line).
    """
    name = format(item)
    if not name.strip(" -"):
        name = os.fsdecode(item.path)
    return printable(name)


def track_names(items: Iterable[Item]) -> dict[int, str]:
    """:func:`track_name` of each item (by id), told apart where two share one: the file format is added
    (``(FLAC)``, ``(MP3)``), or the path where that is shared too (two copies in one format)."""
    items = list(items)
    base = [track_name(i) for i in items]
    seen = Counter(base)
    names = [f"{n} ({i.format})" if seen[n] > 1 and i.get("format") else n for n, i in zip(base, items)]
    seen = Counter(names)
    return {i.id: f"{b} ({printable(os.fsdecode(i.path))})" if seen[n] > 1 else n
            for b, n, i in zip(base, names, items)}


def result_line(fields: dict[str, str], name: str, prediction, old: dict[str, Any]) -> str:
    """``Artist - Album - Title: valence 0.612, ..., mood calm (0.54), dominant_source drums (drums 0.081 ahead of bass)``.

    ``fields``: the configured field names; ``name``: the track's (:func:`track_names`);
    ``old``: the values before, by the keys of ``fields``. A value that changes shows
    ``old -> new`` (``-f``, and ``-p -f``).
    """
    v, a = prediction.valence, prediction.arousal
    mood = labels.mood(v, a)
    parts = [
        f"{fields['valence']} {_change(old['valence'], v)}",
        f"{fields['arousal']} {_change(old['arousal'], a)}",
        f"{fields['mood']} {_change(old['mood'], mood)} "
        f"({labels.mood_confidence(v, a, getattr(prediction, 'quadrant_probabilities', None)):.2f})",
    ]
    lead = labels.dominance(prediction.contributions)
    if lead is not None:
        ahead = f" ({lead.leader} {lead.margin:.3f} ahead of {lead.runner_up})" if lead.runner_up else ""
        parts.append(f"{fields['dominant_source']} {_change(old['dominant_source'], lead.label)}{ahead}")
    parts += [f"warning: {w}" for w in prediction.warnings]
    return f"{name}: {', '.join(parts)}"


def no_match(args: list[str]) -> str:
    """What a query matching nothing says: ``no tracks match 'title:x'`` (no query: the library is empty)."""
    return f"no tracks match '{' '.join(args)}'" if args else "no tracks in the library"


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 error record", "2 error records"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _change(old: Any, new: Any) -> str:
    """``new``, or ``old -> new`` when there was a different old value (floats with 3 decimals)."""
    def show(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    if old is None or show(old) == show(new):
        return show(new)
    return f"{show(old)} -> {show(new)}"


@contextmanager
def replace_atomically(out: str | Path) -> Iterator[BinaryIO]:
    """A binary file to fill; on success it replaces ``out`` (a rename), on error it is removed.

    Raises FileNotFoundError when ``out``'s folder does not exist.
    """
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
