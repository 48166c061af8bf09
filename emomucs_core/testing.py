"""Helpers for tests, benchmarks and the demo: random-weight demucs repos and synthetic music.

Pretrained demucs weights cannot be downloaded everywhere, so tests and
benchmarks build HTDemucs with demucs' own classes, random weights, and save it
in demucs' local-repo layout (``<sig>-<checksum>.th`` + ``<name>.yaml``) to be loaded
through ``demucs.pretrained.get_model(name, repo=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .constants import AUDIO_EXTENSIONS

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


def synth_song(
    seconds: float,
    samplerate: int = 44100,
    tempo: float = 120.0,
    root_hz: float = 220.0,
    mode: str = "major",
    energy: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """A fuller synthetic arrangement than :func:`synth_music`, for the demo.

    Band-limited sawtooth chords (a four-bar progression) and melody, a sawtooth
    bass, and for ``energy`` above 0.3 a kick, a snare and hi-hats; a 1.2-s
    noise reverb tail; level from -20 dB RMS (``energy`` 0) to -12 dB (1), soft-clipped.
    ``energy`` in [0, 1] also sets the brightness (harmonics up to 2-8 kHz), the
    note rate (quarter or eighth notes) and how sharply notes decay.

    Returns float32 of shape ``(n, 2)`` in [-1, 1].
    """
    from scipy.signal import butter, fftconvolve, sosfilt

    rng = np.random.default_rng(seed)
    n = int(seconds * samplerate)
    t = np.arange(n) / samplerate
    beat = 60.0 / tempo
    minor = mode == "minor"
    scale = np.array([0, 2, 3, 5, 7, 8, 10, 12] if minor else [0, 2, 4, 5, 7, 9, 11, 12])
    progression = np.array([0, 5, 2, 4] if minor else [0, 5, 3, 4])  # scale degrees of the chords' roots
    chord_root = scale[progression[(t // (4 * beat)).astype(int) % 4]]
    bright = 2000.0 + 6000.0 * energy  # Hz: highest harmonic
    busy = energy > 0.5
    note = beat / 2 if busy else beat

    def saw(freq: np.ndarray, top_hz: float) -> np.ndarray:
        phase = 2 * np.pi * np.cumsum(np.broadcast_to(freq, t.shape)) / samplerate
        return sum(np.sin(k * phase) / k for k in range(1, int(top_hz // np.max(freq)) + 1))

    def envelope(period: float, attack: float, decay: float) -> np.ndarray:
        phase = t % period
        return np.minimum(phase / attack, 1.0) * np.exp(-phase / decay)

    chords = sum(saw(root_hz * 2 ** ((chord_root + step) / 12), bright) for step in (0, 3 if minor else 4, 7))
    chords = 0.05 * chords * (0.6 + 0.4 * envelope(beat if busy else 4 * beat, 0.02, beat * (2.5 - 2 * energy)))
    degrees = rng.integers(0, len(scale), size=int(seconds / note) + 2)
    melody_hz = 2 * root_hz * 2 ** (scale[degrees[(t // note).astype(int)]] / 12) * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    melody = 0.12 * saw(melody_hz, bright) * (0.3 + 0.7 * envelope(note, 0.02, 0.4))
    bass = 0.25 * saw(root_hz / 2 * 2 ** (chord_root / 12), 800.0) * (0.5 + 0.5 * envelope(beat, 0.005, 0.3))
    mix = chords + melody + bass
    if energy > 0.3:
        phase = t % beat
        kick = 0.9 * np.sin(2 * np.pi * (50 * phase + 2.1 * (1 - np.exp(-phase / 0.03)))) * np.exp(-phase / 0.15)
        backbeat = (t + beat) % (2 * beat)  # beats 2 and 4
        noise = rng.standard_normal(n)
        snare = sosfilt(butter(2, [1000, 8000], "bandpass", fs=samplerate, output="sos"), noise) * 1.5
        snare = (snare + 0.3 * np.sin(2 * np.pi * 185 * t)) * np.exp(-backbeat / 0.12) * (backbeat < beat)
        hat = 0.4 * sosfilt(butter(2, 7000, "highpass", fs=samplerate, output="sos"), noise) * np.exp(-(t % (beat / 2)) / 0.04)
        mix = mix + energy * (kick + 0.6 * snare + hat)
    tail = np.arange(int(1.2 * samplerate)) / samplerate
    response = np.random.default_rng(99).standard_normal(tail.size) * np.exp(-tail / 0.35)
    response[0] = 30.0  # the direct sound
    mix = fftconvolve(mix, response)[:n]
    mix = mix / np.sqrt(np.mean(mix**2)) * 10 ** ((-20 + 8 * energy) / 20)
    mix = np.tanh(1.2 * mix) / 1.2
    return np.stack([mix, 0.95 * mix], axis=1).astype(np.float32)


#: Extensions :func:`write_audio` can produce, with (container, codec) for PyAV where libsndfile cannot write.
_PYAV_FORMATS = {".m4a": ("ipod", "aac"), ".wma": ("asf", "wmav2")}
_SOUNDFILE_FORMATS = {
    ".wav": {}, ".flac": {}, ".aiff": {}, ".aif": {"format": "AIFF"},
    ".mp3": {"format": "MP3"},
    ".ogg": {"format": "OGG", "subtype": "VORBIS"},
    ".opus": {"format": "OGG", "subtype": "OPUS"},
}


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


_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG1_RATES = (44100, 48000, 32000)


def drop_vbr_header(mp3: bytes) -> bytes:
    """``mp3`` (MPEG-1 Layer III, no ID3v2 tag) without its Xing/Info/VBRI frame.

    The first frame of a LAME file states the number of frames; without it
    decoders must find the length themselves, as for most MP3s in the wild
    (583 of the 600 4q-dev clips have no such frame).
    """
    sync = next(i for i in range(len(mp3) - 1) if mp3[i] == 0xFF and mp3[i + 1] & 0xE0 == 0xE0)
    header = mp3[sync : sync + 4]
    kbps = _MPEG1_L3_KBPS[header[2] >> 4]
    rate = _MPEG1_RATES[(header[2] >> 2) & 3]
    size = 144_000 * kbps // rate + ((header[2] >> 1) & 1)
    frame = mp3[sync : sync + size]
    if not any(tag in frame for tag in (b"Xing", b"Info", b"VBRI")):
        return mp3
    return mp3[:sync] + mp3[sync + size :]


@dataclass(frozen=True)
class BadInput:
    """One generated awkward input: ``error`` (start of the one-line reason) or ``warning`` (start of one)."""

    path: Path
    error: str | None = None
    warning: str | None = None


def _tone(seconds: float, samplerate: int, level: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * samplerate)) / samplerate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None].repeat(2, axis=1)


def _gain(audio: np.ndarray, db: float) -> np.ndarray:
    """``audio`` scaled to an RMS level of ``db`` dBFS."""
    rms = np.sqrt(np.mean(np.square(audio.mean(axis=1), dtype=np.float64)))
    return (audio * (10 ** (db / 20) / rms)).astype(np.float32)


def _tag_replaygain(path: Path, gain: str) -> None:
    """Give the FLAC at ``path`` a ReplayGain track gain tag of ``gain`` (e.g. ``"+24.00 dB"``)."""
    from mutagen.flac import FLAC

    tags = FLAC(path)
    tags["REPLAYGAIN_TRACK_GAIN"] = gain
    tags["REPLAYGAIN_TRACK_PEAK"] = "0.050000"
    tags.save()


def write_bad_inputs(folder: str | Path) -> list[BadInput]:
    """Write every awkward input emomucs must handle into ``folder``, each with its expected outcome.

    Everything is generated (tones, :func:`synth_music`, random bytes); nothing
    comes from research data. Paths that are not files (a directory, a symlink
    loop, a missing file) are included, so not every ``path`` is audio.
    """
    import soundfile as sf
    import soxr
    from mutagen.id3 import APIC, ID3

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rate = 44100
    cases: list[BadInput] = []

    def add(name: str, error: str | None = None, warning: str | None = None) -> Path:
        cases.append(BadInput(folder / name, error, warning))
        return folder / name

    (add("a folder.mp3", "is a directory")).mkdir()
    loop_a, loop_b = add("loop.mp3", "symlink loop"), folder / "loop2.mp3"
    loop_a.symlink_to(loop_b.name)
    loop_b.symlink_to(loop_a.name)
    add("dangling.flac", "broken symlink").symlink_to("nowhere.flac")
    add("missing.wav", "file not found")
    add("empty.mp3", "empty file (0 bytes)").write_bytes(b"")
    add("line\nbreak.mp3", "empty file (0 bytes)").write_bytes(b"")  # its lines must stay one line each
    add("random.mp3", "not an audio file").write_bytes(np.random.default_rng(1).bytes(200_000))
    add("random.wav", "not an audio file").write_bytes(np.random.default_rng(2).bytes(50_000))
    add("text.flac", "not an audio file").write_text("these are liner notes, not audio\n" * 100)
    sf.write(add("no-frames.wav", "no audio frames (zero length)"), np.zeros((0, 2), np.float32), rate)
    nan = synth_music(5, rate, seed=3)
    nan[1000:2000] = np.nan
    sf.write(add("nan.wav", "decoder returned non-finite samples"), nan, rate, subtype="FLOAT")
    huge = add("huge.wav", "too long")
    with sf.SoundFile(huge, "w", 8000, 1, subtype="PCM_U8") as f:
        f.write(np.zeros(8000, np.float32))
    with open(huge, "r+b") as f:  # a sparse 25-hour file: the header and the size agree, the disk holds little
        f.truncate(44 + 25 * 3600 * 8000)
        f.seek(4)
        f.write((36 + 25 * 3600 * 8000).to_bytes(4, "little"))
        f.seek(40)
        f.write((25 * 3600 * 8000).to_bytes(4, "little"))
    write_audio(add("tone-0.8s.flac", "too short: 0.8 s of audio, at least 3 s needed"), _tone(0.8, rate, 0.3), rate)
    write_audio(add("silence-61s.flac", "silent: no audible signal"), np.zeros((61 * 8000, 1), np.float32), 8000)
    hidden = np.concatenate([synth_music(5, rate, seed=4), np.zeros((100 * rate, 2), np.float32),
                             synth_music(5, rate, seed=5)])
    write_audio(add("silent-middle.flac", "silent: no audible signal in the analysed windows"), hidden, rate)
    write_audio(add("near-silence.flac", "too quiet to analyse: -60 dBFS"), _gain(synth_music(30, rate, seed=6), -60),
                rate)
    write_audio(add("quiet.flac", warning="very quiet"), _gain(synth_music(30, rate, seed=7), -42), rate)
    write_audio(add("short-8s.mp3", warning="short track: 8.0 s looped"), synth_music(8, rate, seed=8), rate)
    phone = soxr.resample(synth_music(30, rate, seed=9), rate, 8000)
    write_audio(add("telephone.wav", warning="band-limited: no energy above 3.9 kHz"), phone, 8000)
    full = write_audio(folder / "whole.flac", synth_music(30, rate, seed=10), rate)
    add("truncated.flac", warning="truncated").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    full = write_audio(folder / "whole.mp3", synth_music(30, rate, seed=12), rate)  # a LAME header counts 30 s
    add("truncated.mp3", warning="truncated: the header states 30.0 s").write_bytes(
        full.read_bytes()[: full.stat().st_size * 3 // 10])
    full.unlink()
    loud = np.clip(_gain(synth_music(30, rate, seed=13), -4), -1, 1)  # hard clipped, as a +12 dB copy of a master
    write_audio(add("clipped.flac", warning="clipped: "), loud, rate)
    stale_gain = write_audio(add("replaygain-disagrees.flac"), synth_music(30, rate, seed=14), rate)
    _tag_replaygain(stale_gain, "+24.00 dB")  # ignored: the loudness is measured on the audio (docs/inputs.md)
    cover = add("cover-art.mp3")
    write_audio(cover, synth_music(30, rate, seed=11), rate)
    tags = ID3()
    tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="front", data=np.random.default_rng(3).bytes(1_500_000)))
    tags.save(cover)
    return cases
