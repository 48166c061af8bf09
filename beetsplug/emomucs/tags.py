"""The plugin's file tags: names and the MediaFile fields that carry them in every format."""

from __future__ import annotations

from mediafile import ASFStorageStyle, MediaField, MediaFile, MP3DescStorageStyle, MP4StorageStyle, StorageStyle

#: File tags (the same name in every format) and the MediaFile attributes that carry them.
TAGS = {"valence": "VALENCE", "arousal": "AROUSAL", "dominant_source": "DOMINANT_SOURCE"}
MEDIA_ATTR = {key: f"emomucs_{key}" for key in TAGS}


def _media_field(tag: str, out_type: type) -> MediaField:
    places = {"float_places": 3} if out_type is float else {}
    return MediaField(
        MP3DescStorageStyle(tag, **places),
        MP4StorageStyle(f"----:com.apple.iTunes:{tag}", **places),
        StorageStyle(tag, **places),
        ASFStorageStyle(tag, **places),
        out_type=out_type,
    )


def register_media_fields() -> None:
    """Teach MediaFile the three tags (once per process).

    They are deliberately *not* added to ``Item._media_fields`` (what
    ``BeetsPlugin.add_media_field`` does): then ``beet update``/``Item.read()``
    would set the fields to None for every file that lacks the tag. The
    database is the source of truth; tags are written from it (``write`` event).
    """
    for key, attr in MEDIA_ATTR.items():
        if attr not in MediaFile.__dict__:
            MediaFile.add_field(attr, _media_field(TAGS[key], str if key == "dominant_source" else float))
