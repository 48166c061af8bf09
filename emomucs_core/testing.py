"""Helpers for tests, benchmarks and the demo: random-weight demucs repos and synthetic music.

Pretrained demucs weights cannot be downloaded everywhere, so tests and
benchmarks build HTDemucs with demucs' own classes, random weights, and save it
in demucs' local-repo layout (``<sig>-<checksum>.th`` + ``<name>.yaml``) to be loaded
through ``demucs.pretrained.get_model(name, repo=...)``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

#: Small HTDemucs (85k parameters, about 1.2 s per 20-s window on 2 cores): for tests.
SMALL_HTDEMUCS = dict(channels=4, depth=4, dconv_comp=4, t_layers=1, t_heads=1, t_hidden_scale=1.0, segment=Fraction(4))
#: Full-size HTDemucs: the class defaults with the segment of the pretrained ``htdemucs``.
FULL_HTDEMUCS = dict(segment=Fraction(39, 5))


def write_demucs_repo(folder: str | Path, name: str = "htdemucs", size: str = "small", seed: int = 0) -> Path:
    """Save a random-weight HTDemucs as model ``name`` in a demucs local repo at ``folder``.

    ``size`` is ``small`` (tests) or ``full`` (benchmarks: default hyper-parameters).
    Returns the folder.
    """
    from demucs.htdemucs import HTDemucs
    from demucs.states import save_with_checksum

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    kwargs = dict(SMALL_HTDEMUCS if size == "small" else FULL_HTDEMUCS)
    sources = ["drums", "bass", "other", "vocals"]
    model = HTDemucs(sources=sources, **kwargs)
    package = {"klass": HTDemucs, "args": (), "kwargs": model._init_args_kwargs[1], "state": model.state_dict()}
    sig = f"{size}{seed}"
    save_with_checksum(package, folder / f"{sig}.th")  # writes <sig>-<sha256[:8]>.th
    (folder / f"{name}.yaml").write_text(f"models: ['{sig}']\n")
    return folder


def synth_music(
    seconds: float,
    samplerate: int = 44100,
    channels: int = 2,
    tempo: float = 120.0,
    root_hz: float = 220.0,
    seed: int = 0,
    mode: str = "major",
    drums: bool = True,
) -> np.ndarray:
    """A short synthetic "song": bass line, chords, a sung-like vibrato melody and drums.

    ``mode`` is ``major`` or ``minor`` (scale and chord); ``drums`` adds kick and hi-hat.

    Returns float32 of shape ``(n, channels)`` in [-1, 1], ready for ``soundfile.write``.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * samplerate)
    t = np.arange(n) / samplerate
    beat = 60.0 / tempo
    step = (t // beat).astype(int)
    minor = mode == "minor"
    scale = np.array([0, 2, 3, 5, 7, 8, 10, 12] if minor else [0, 2, 4, 5, 7, 9, 11, 12])
    degrees = rng.integers(0, len(scale), size=int(seconds / beat) + 2)
    melody_hz = root_hz * 2 ** (scale[degrees[step]] / 12) * 2
    melody = 0.25 * np.sin(2 * np.pi * np.cumsum(melody_hz * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / samplerate)
    bass_hz = root_hz / 2 * 2 ** (scale[degrees[step // 4 * 4] % 5] / 12)
    bass = 0.3 * np.sign(np.sin(2 * np.pi * np.cumsum(bass_hz) / samplerate))
    chord = sum(0.08 * np.sin(2 * np.pi * root_hz * 2 ** (k / 12) * t) for k in ((0, 3, 7) if minor else (0, 4, 7)))
    phase = (t % beat) / beat
    kick = 0.6 * np.exp(-phase * 25) * np.sin(2 * np.pi * 60 * t)
    hat = 0.1 * np.exp(-((t + beat / 2) % beat) / beat * 60) * rng.standard_normal(n)
    mix = melody + bass + chord + (kick + hat if drums else 0.0)
    mix = 0.8 * mix / max(1e-9, np.abs(mix).max())
    out = np.stack([mix * (1.0 - 0.1 * c) for c in range(channels)], axis=1)
    return out.astype(np.float32)


#: Extensions :func:`write_audio` can produce, with (container, codec) for PyAV where libsndfile cannot write.
_PYAV_FORMATS = {".m4a": ("ipod", "aac"), ".wma": ("asf", "wmav2")}
_SOUNDFILE_FORMATS = {
    ".wav": {}, ".flac": {}, ".aiff": {}, ".aif": {},
    ".mp3": {"format": "MP3"},
    ".ogg": {"format": "OGG", "subtype": "VORBIS"},
    ".opus": {"format": "OGG", "subtype": "OPUS"},
}
AUDIO_EXTENSIONS = tuple(_SOUNDFILE_FORMATS) + tuple(_PYAV_FORMATS)


def write_audio(path: str | Path, audio: np.ndarray, samplerate: int, codec: str | None = None) -> Path:
    """Encode ``audio`` ``(n, channels)`` float in [-1, 1] to ``path``; the format follows the extension.

    WAV, FLAC, AIFF, MP3, Ogg Vorbis and Opus via libsndfile; M4A and WMA via
    PyAV, with the codec ``aac`` (default) or ``alac`` for M4A. Opus needs 48,
    24, 16, 12 or 8 kHz, as the codec does.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in _SOUNDFILE_FORMATS:
        import soundfile as sf

        sf.write(str(path), audio, samplerate, **_SOUNDFILE_FORMATS[ext])
        return path
    if ext not in _PYAV_FORMATS:
        raise ValueError(f"cannot write {ext} files")
    import av

    container_format, default_codec = _PYAV_FORMATS[ext]
    codec = codec or default_codec
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    pcm = (np.clip(audio.reshape(-1, channels), -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=samplerate, layout=layout)
        if codec != "alac":
            stream.bit_rate = 128_000
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = samplerate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
