"""Safe tag writes: the file on disk is always either the old one or the new one, whole.

A tag write that grows the header (an untagged MP3 gaining an ID3 tag) moves
every byte of the audio; an interruption in the middle left a broken file. So
the tags are written into a copy in the same folder, the copy is flushed to
disk, and only then renamed over the original (``rename`` is atomic on POSIX).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from mediafile import MediaFile


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
    # The extension stays last: mutagen also looks at it to tell the format.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=f".emomucs-tmp{ext}")
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
