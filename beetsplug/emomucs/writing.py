"""Writing the plugin's tags into a file."""

from __future__ import annotations

from typing import Any

from beets import config, util
from mediafile import MediaFile


def write_tags(path: bytes, values: dict[str, Any]) -> None:
    """Set MediaFile attributes ``values`` in the file at ``path``; raises on failure."""
    mf = MediaFile(util.syspath(path), id3v23=config["id3v23"].get(bool))
    mf.update(values)
    mf.save()
