"""Shared fixtures: a small random-weight Demucs in demucs' local-repo layout and a test bundle.

Pretrained weights cannot be downloaded here, so the only thing not real in
these tests is the weights: the Demucs model is HTDemucs built with demucs' own
classes and loaded by demucs' own loader, and the bundle is an untrained EmoMucs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emomucs_core.checkpoint import Bundle
from emomucs_core.nets import EmoMucs, NetConfig
from emomucs_core.testing import synth_music, write_audio, write_demucs_repo

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def demucs_repo(tmp_path_factory) -> Path:
    """Folder holding a small random-weight HTDemucs saved as ``htdemucs``."""
    return write_demucs_repo(tmp_path_factory.mktemp("demucs_repo"), name="htdemucs", size="small")


def make_bundle(arch: str = "c2d", fusion: str = "late", sources=("vocals", "drums", "bass", "other"),
                head: str = "regression", seed: int = 0, **config) -> Bundle:
    """An untrained EmoMucs bundle recording the demucs ``htdemucs`` separator (``config``: more NetConfig fields)."""
    torch.manual_seed(seed)
    model = EmoMucs(NetConfig(arch=arch, fusion=fusion, sources=tuple(sources), head=head, **config)).eval()
    separator = None if tuple(sources) == ("mix",) else {"backend": "demucs", "model": "htdemucs"}
    return Bundle(model, separator=separator, name="test", data={"name": "none (random weights)"})


@pytest.fixture(scope="session")
def bundle_path(tmp_path_factory) -> Path:
    """A saved test bundle (C2D, late fusion, random weights)."""
    return make_bundle().save(tmp_path_factory.mktemp("bundle") / "test.safetensors")


@pytest.fixture(scope="session")
def music_files(tmp_path_factory) -> dict[str, Path]:
    """Short synthetic songs: a 12-s stereo WAV, an 8-s mono FLAC at 22.05 kHz, a 25-s MP3."""
    folder = tmp_path_factory.mktemp("music")
    return {
        "wav": write_audio(folder / "song.wav", synth_music(12, 44100, seed=1), 44100),
        "flac": write_audio(folder / "mono.flac", synth_music(8, 22050, channels=1, seed=2), 22050),
        "mp3": write_audio(folder / "long.mp3", synth_music(25, 44100, seed=3), 44100),
    }


#: How the generated 4Q-layout songs of each quadrant sound: (mode, tempo in BPM).
FOURQ_STYLE = {"Q1": ("major", 150), "Q2": ("minor", 150), "Q3": ("minor", 60), "Q4": ("major", 60)}


def write_fourq(root: Path, per_quadrant: int, artist_of, seconds: float = 6) -> Path:
    """The 4Q dataset's layout in ``root``: ``per_quadrant`` generated songs per quadrant.

    ``artist_of(quadrant_index, song_index)`` names each song's artist.
    """
    ann, meta = ['"Song","Quadrant"'], ['"Song","Artist","Title","Quadrant"']
    for qi, (quadrant, (mode, tempo)) in enumerate(FOURQ_STYLE.items()):
        (root / quadrant).mkdir()
        for j in range(per_quadrant):
            song = f"MT{qi}{j:02d}"
            write_audio(root / quadrant / f"{song}.mp3",
                        synth_music(seconds, 22050, tempo=tempo, mode=mode, seed=qi * 10 + j, drums=tempo > 100), 22050)
            ann.append(f'"{song}","{quadrant}"')
            meta.append(f'"{song}","{artist_of(qi, j)}","t","{quadrant}"')
    (root / "panda_dataset_taffc_annotations.csv").write_text("\n".join(ann) + "\n")
    (root / "panda_dataset_taffc_metadata.csv").write_text("\n".join(meta) + "\n")
    return root
