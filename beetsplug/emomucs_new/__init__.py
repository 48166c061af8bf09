"""Scratch home of the plugin's view and ingest commands until ``beetsplug/emomucs/`` exists."""
