"""The demo's generated songs: what ``energy`` does to the audio, and the tagged files it writes."""

from __future__ import annotations

import mutagen
import numpy as np

from emomucs_core.demo import SONGS, make_songs
from emomucs_core.testing import synth_song


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))


def _centroid_hz(x: np.ndarray, rate: int = 44100) -> float:
    spectrum = np.abs(np.fft.rfft(x[:, 0].astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def _backbeat_db(x: np.ndarray, tempo: float, rate: int = 44100) -> float:
    """Mean level (dB) of 1-8 kHz energy just after beats 2 and 4 over the level just before them."""
    beat = int(rate * 60 / tempo)
    high = np.diff(x[:, 0].astype(np.float64))  # crude high-pass
    after = [np.mean(high[b : b + beat // 8] ** 2) for b in range(beat, len(high) - beat, 2 * beat)]
    before = [np.mean(high[b - beat // 8 : b] ** 2) for b in range(beat, len(high) - beat, 2 * beat)]
    return float(10 * np.log10(np.mean(after) / np.mean(before)))


def test_energy_makes_a_song_louder_brighter_and_drummed():
    calm = synth_song(6.0, tempo=100, energy=0.0, seed=3)
    loud = synth_song(6.0, tempo=100, energy=1.0, seed=3)
    for x in (calm, loud):
        assert x.shape == (6 * 44100, 2) and x.dtype == np.float32 and np.abs(x).max() <= 1.0
    assert _rms_db(loud) - _rms_db(calm) > 6  # -20 dB against -12 dB RMS, before the soft clip
    assert _centroid_hz(loud) > 1.5 * _centroid_hz(calm)
    assert _backbeat_db(loud, 100) > 3 and _backbeat_db(calm, 100) < 1  # the snare on 2 and 4; calm: none
    np.testing.assert_array_equal(synth_song(6.0, tempo=100, energy=1.0, seed=3), loud)


def test_demo_songs_are_written_in_their_formats_with_tags(tmp_path):
    paths = make_songs(tmp_path, seconds=3.0)
    assert [p.name for p in paths] == [name for name, *_ in SONGS]
    for path, (_, title, *_rest) in zip(paths, SONGS):
        tags = mutagen.File(path, easy=True)
        assert tags.info.length > 2.5
        assert tags["title"] == [title] and tags["album"] == ["Demo Songs"] and tags["artist"] == ["emomucs demo"]


def test_demo_with_keep_leaves_its_library_and_prints_the_beet_command_that_reads_it(capsys):
    import shlex
    import shutil
    import subprocess
    from pathlib import Path

    from emomucs_core.demo import main

    main(["--keep", "--seconds", "6"])  # --keep without a folder: the temporary one, kept
    out = capsys.readouterr().out.splitlines()
    root = Path(out[0].split("demo library in ", 1)[1].split(":", 1)[0])
    try:
        assert out[-2] == f"the demo library is kept in {root}; look at it with"
        assert (root / "library.db").is_file() and (root / "map.png").stat().st_size > 10_000
        assert [p.name for p in sorted((root / "incoming").iterdir())] == sorted(name for name, *_ in SONGS)
        command = shlex.split(out[-1].strip())
        assert command[1:3] == ["-c", str(root / "config.yaml")] and command[3] == "ls"
        listed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
        rows = listed.stdout.splitlines()
        assert sorted(row.split("  valence")[0] for row in rows) == sorted(title for _, title, *_ in SONGS)
        assert all(0 <= float(row.split("valence ")[1].split()[0]) <= 1 for row in rows)
    finally:
        shutil.rmtree(root, ignore_errors=True)
