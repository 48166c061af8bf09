"""Names and numbers shared by the engine and the plugin; torch-free, cheap to import."""

from __future__ import annotations

#: The four separated sources, in the order used everywhere in emomucs.
SOURCES = ("vocals", "drums", "bass", "other")
#: Input and output sample rate of every separator, Hz (windows are stereo at this rate).
SEPARATION_RATE = 44100
#: Length of one model window, in seconds (paper: 20-second clips).
WINDOW_SECONDS = 20.0
#: Russell quadrants, in the order of the ``quadrant`` head's logits:
#: Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A-.
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
#: Suffixes of the audio formats emomucs decodes and its tests write (files taken from a directory).
AUDIO_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".mp3", ".ogg", ".opus", ".m4a", ".wma")
