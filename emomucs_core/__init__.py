"""emomucs engine: audio file -> valence, arousal and per-source contributions (EmoMucs).

This package knows nothing of beets; ``beetsplug/emomucs/`` is the thin plugin on top.
"""

__version__ = "0.1.0"
