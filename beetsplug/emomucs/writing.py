"""Safe tag writes: the file on disk is always either the old one or the new one, whole.

A tag write that grows the header (an untagged MP3 gaining an ID3 tag) moves
every byte of the audio; an interruption in the middle left a broken file. So
the tags are written into a copy in the same folder, the copy is flushed to
disk, and only then renamed over the original (``rename`` is atomic on POSIX).
A run killed mid-write leaves its copy behind; the next write in that folder
removes it (:func:`remove_stale_copies`).

What goes into the tags is :func:`tag_values`: the plugin's stored results,
written by :func:`write_item_tags` (``-w``, imports as-is) or added to beets'
own writes (:func:`values_for_beets_write`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any

from beets import config, util
from mediafile import MediaFile

from emomucs_core.printable import printable

from . import labels
from .errors import one_line
from .fields import DIMENSIONS, ERROR_FIELD, MODEL_FIELD, value_without_album
from .tags import MOOD_ATTR

if TYPE_CHECKING:
    from beets.library import Item

#: Suffix of a copy being written (before the file's own extension).
TMP_SUFFIX = ".emomucs-tmp"
#: A copy of another file older than this (seconds) is left from a killed run: no write takes that long.
STALE_SECONDS = 3600.0


def tag_values(plugin, item: Item) -> dict[str, Any]:
    """MediaFile attribute -> value for the item's stored results; None (delete the tag) for a value it lacks."""
    fields = plugin.fields
    v, a = (value_without_album(item, fields[d]) for d in DIMENSIONS)
    whole = v is not None and a is not None  # what derives from them goes with either (`beet modify 'valence!'`)
    values = {attr: value_without_album(item, fields[key] if key != "model" else MODEL_FIELD)
              if whole or key in DIMENSIONS else None for key, attr in plugin.tag_attrs.items()}
    if plugin.config["mood_tag"].get(bool):
        values[MOOD_ATTR] = labels.mood(v, a) if whole else None  # from the values beside it, even before a store
    return values


def write_item_tags(plugin, item: Item) -> bool:
    """Write only the plugin's tags to the item's file, safely; log and return False on failure."""
    values = tag_values(plugin, item)
    if all(v is None for v in values.values()):
        return True
    try:
        write_tags(util.syspath(item.path), values, id3v23=config["id3v23"].get(bool))
    except Exception as exc:  # mediafile wraps most errors; a permission error may come raw
        plugin._log.error("{}: could not write tags ({})", printable(util.displayable_path(item.path)),
                          one_line(exc))
        return False
    item.mtime = item.current_mtime()
    return True


def values_for_beets_write(plugin, item: Item) -> dict[str, Any]:
    """What to add to a tag write beets does (``beet write``, imports, ``modify``): empty when none of ours.

    Our tags that lack a value are deleted, unless the item holds nothing of ours (never
    analysed: its file may carry another tool's VALENCE). After ``beet modify 'valence!'``
    beets writes before it stores, so the model id still marks the item as ours.
    """
    ours = (*(plugin.fields[d] for d in DIMENSIONS), MODEL_FIELD, ERROR_FIELD)
    if plugin.tags and any(value_without_album(item, f) is not None for f in ours):
        return tag_values(plugin, item)
    return {}


def write_tags(path: str, values: dict[str, Any], *, id3v23: bool = False) -> None:
    """Set MediaFile attributes ``values`` in the file at ``path`` (a str path); raises on failure.

    The file keeps its mode, owner and group; a symlink is followed (its target
    is replaced, the link stays). A file the caller may not write is refused
    (``PermissionError``), as an in-place write would be, although its folder
    would allow the rename. Hard links to the file are not kept (it is a new inode).
    """
    target = os.path.realpath(path)
    if not os.access(target, os.W_OK):
        raise PermissionError(f"permission denied: {target}")
    folder, name = os.path.split(target)
    stem, ext = os.path.splitext(name)
    remove_stale_copies(folder, name)
    # The extension stays last: mutagen also looks at it to tell the format.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=f"{TMP_SUFFIX}{ext}")
    try:
        os.close(fd)
        shutil.copyfile(target, tmp)
        _copy_owner_and_mode(target, tmp)
        mf = MediaFile(tmp, id3v23=id3v23)
        mf.update(values)
        mf.save()
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(folder)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def remove_stale_copies(folder: str, name: str) -> int:
    """Remove copies that killed writes left in ``folder``; returns how many.

    Copies of ``name`` itself go whatever their age (the caller is writing that
    file, and a plugin run claims its tracks, so no other write of it runs);
    copies of other files go once older than :data:`STALE_SECONDS`.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        owner = _copy_of(entry.name)
        if owner is None:
            continue
        try:
            if owner == name or now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


def _copy_of(entry: str) -> str | None:
    """The file name a temporary copy named ``entry`` was made for (``.<stem>.<8 chars><TMP_SUFFIX><ext>``), or None."""
    if not entry.startswith(".") or TMP_SUFFIX not in entry:
        return None
    head, _, ext = entry[1:].rpartition(TMP_SUFFIX)
    stem, dot, random = head.rpartition(".")
    return f"{stem}{ext}" if dot and stem and len(random) == 8 and "/" not in ext else None


def _copy_owner_and_mode(source: str, dest: str) -> None:
    st = os.stat(source)
    if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(dest, st.st_uid, st.st_gid)
        except PermissionError:  # not root: the group may still be ours to set
            pass
    shutil.copymode(source, dest)


def _fsync(path: str) -> None:
    """Flush a file's (or a folder's) data and metadata to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
