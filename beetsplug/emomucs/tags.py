"""The plugin's file tags: names, and the MediaFile fields that carry them in every format.

Tag names are configurable (``tags:``); each becomes a MediaFile attribute
named ``<tag>_tag`` in lower case (``valence_tag``, ``emomucs_model_tag``):
the name ``beet info`` shows for the value read from the file. Our tag
replaces any case variant of its name another tool wrote (``valence`` beside
``VALENCE``): ID3 TXXX descriptions, MP4 freeform atoms and ASF attribute
names are case-sensitive, Vorbis comment names are not (mutagen already
treats them as one).
"""

from __future__ import annotations

from mediafile import ASFStorageStyle, MediaField, MediaFile, MP3DescStorageStyle, MP3StorageStyle, MP4StorageStyle
from mediafile import StorageStyle

#: Tag name per result by default; keys are the keys of the ``tags:`` option.
DEFAULT_TAGS = {
    "valence": "VALENCE",
    "arousal": "AROUSAL",
    "dominant_source": "DOMINANT_SOURCE",
    "model": "EMOMUCS_MODEL",
}
#: Results stored as numbers (3 decimals) in the file; the others are text.
FLOAT_KEYS = ("valence", "arousal")
#: The standard mood tag (``mood_tag: yes``): its frame or key in each format.
MOOD_TAG = {"mp3": "TMOO", "mp4": "----:com.apple.iTunes:MOOD", "vorbis": "MOOD", "asf": "WM/Mood"}
MOOD_ATTR = "mood_tag"


def media_attr(tag: str) -> str:
    """The MediaFile attribute that carries the tag named ``tag``."""
    return f"{tag.lower()}_tag"


class _CaselessMP3Desc(MP3DescStorageStyle):
    """A TXXX frame that replaces every frame whose description differs only in case."""

    def store(self, mutagen_file, value):
        self.delete(mutagen_file)
        super().store(mutagen_file, value)

    def delete(self, mutagen_file):
        for frame in list(mutagen_file.tags.getall(self.key)):
            if frame.desc.lower() == self.description.lower():
                del mutagen_file.tags[frame.HashKey]


class _CaselessKeyMixin:
    """Delete keys that differ from ``self.key`` only in case before storing (MP4, ASF)."""

    def store(self, mutagen_file, value):
        self.delete(mutagen_file)
        super().store(mutagen_file, value)

    def delete(self, mutagen_file):
        wanted = self.key.lower()
        for key in [k for k in mutagen_file.keys() if isinstance(k, str) and k.lower() == wanted]:
            del mutagen_file[key]


class _CaselessMP4(_CaselessKeyMixin, MP4StorageStyle):
    pass


class _CaselessASF(_CaselessKeyMixin, ASFStorageStyle):
    pass


def _media_field(tag: str, out_type: type) -> MediaField:
    places = {"float_places": 3} if out_type is float else {}
    return MediaField(
        _CaselessMP3Desc(tag, **places),
        _CaselessMP4(f"----:com.apple.iTunes:{tag}", **places),
        StorageStyle(tag, **places),
        _CaselessASF(tag, **places),
        out_type=out_type,
    )


def _mood_field() -> MediaField:
    return MediaField(
        MP3StorageStyle(MOOD_TAG["mp3"]),
        _CaselessMP4(MOOD_TAG["mp4"]),
        StorageStyle(MOOD_TAG["vorbis"]),
        _CaselessASF(MOOD_TAG["asf"]),
    )


def tag_names(view) -> dict[str, str]:
    """``{key: tag name}`` from the ``tags:`` option (a confuse view); empty when tags are off (``tags: no``)."""
    raw = view.get()
    if not raw:
        return {}
    if raw is True:
        return dict(DEFAULT_TAGS)
    # Key by key, so that naming one tag keeps the defaults of the others.
    names = {key: view[key].get() for key in DEFAULT_TAGS}
    return {key: str(name) for key, name in names.items() if name}


def register_media_fields(tags: dict[str, str]) -> dict[str, str]:
    """Teach MediaFile the tags ``{key: tag name}`` and the mood tag; returns ``{key: attribute}``.

    The attributes are deliberately *not* added to ``Item._media_fields`` (what
    ``BeetsPlugin.add_media_field`` does): then ``beet update``/``Item.read()``
    would set the fields to None for every file that lacks the tag. The
    database is the source of truth; tags are written from it.
    """
    attrs = {}
    for key, tag in tags.items():
        attrs[key] = attr = media_attr(tag)
        if attr not in MediaFile.__dict__:
            MediaFile.add_field(attr, _media_field(tag, float if key in FLOAT_KEYS else str))
    if MOOD_ATTR not in MediaFile.__dict__:
        MediaFile.add_field(MOOD_ATTR, _mood_field())
    return attrs

