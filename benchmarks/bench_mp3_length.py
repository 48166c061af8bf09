"""Cost of finding an MP3's true length: packet counting (emomucs) against a full decode.

Writes a 30-s and a 4-min MP3 (generated music, no VBR header, 1.5 MB cover art)
and times, per file: opening it with :class:`emomucs_core.audio.AudioFile`
(which counts the packets), a full decode with PyAV, and libsndfile's own
estimate (which counts the cover art as audio).

    python benchmarks/bench_mp3_length.py [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _best_of(runs: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import av
    import numpy as np
    import soundfile as sf
    from mutagen.id3 import APIC, ID3

    from emomucs_core.audio import AudioFile
    from emomucs_core.testing import drop_vbr_header, synth_music, write_audio

    def decode_all(path: Path) -> float:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return sum(f.samples for f in container.decode(stream)) / stream.codec_context.sample_rate

    def true_length(path: Path) -> float:
        with AudioFile(path) as audio:
            return audio.duration

    with tempfile.TemporaryDirectory() as tmp:
        for seconds in (30, 240):
            path = Path(tmp) / f"{seconds}.mp3"
            one = write_audio(Path(tmp) / "one.mp3", synth_music(30, 44100, seed=1), 44100).read_bytes()
            path.write_bytes(drop_vbr_header(one * (seconds // 30)))
            tags = ID3()
            tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="front", data=np.random.bytes(1_500_000)))
            tags.save(path)
            count_s, counted = _best_of(args.runs, lambda: true_length(path))
            decode_s, decoded = _best_of(args.runs, lambda: decode_all(path))
            estimate = sf.info(str(path)).duration
            print(f"{seconds:>4}-s MP3: AudioFile {counted:.2f} s in {1000 * count_s:.0f} ms; full decode "
                  f"{decoded:.2f} s in {1000 * decode_s:.0f} ms; libsndfile's estimate {estimate:.2f} s")


if __name__ == "__main__":
    main()
