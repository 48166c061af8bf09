"""Dataset adapters, artist-grouped splits and the feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from emomucs_core.datasets import (
    Clip, DatasetError, group_kfold, inner_split, load_csv, load_dataset, load_deam, load_fourq, load_pmemo,
)
from emomucs_core.datasets.cache import FeatureCache, build_cache
from emomucs_core.datasets.handcrafted import FEATURE_NAMES, cached_summary_features
from emomucs_core.features import MelParams
from emomucs_core.separators.offline import OfflineSeparator
from emomucs_core.testing import synth_music, write_audio

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PMEMO = SHARED_DATA / "pmemo-samples" / "PMEmo2019"
FOURQ = SHARED_DATA / "4q-dev"
SOURCES = ("mix", "vocals", "drums", "bass", "other")


def _need(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"research data not available at {folder}")


def _clip(path: Path, artist: str | None = None, quadrant: str | None = None) -> Clip:
    return Clip(path, 0.5, 0.5, artist, path.stem, quadrant)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Three short synthetic songs (8 s, 22050 Hz WAV)."""
    folder = tmp_path_factory.mktemp("songs")
    return [write_audio(folder / f"song{i}.wav", synth_music(8.0, 22050, seed=i), 22050) for i in range(3)]


class CountingSeparator(OfflineSeparator):
    """The real offline separator, counting its calls (and optionally stopping like a Ctrl-C)."""

    def __init__(self, interrupt_after: int | None = None):
        super().__init__()
        self.calls = 0
        self.interrupt_after = interrupt_after

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        return super().separate(windows)


# -- adapters ---------------------------------------------------------------
def test_pmemo_sample_layout():
    _need(PMEMO)
    clips = load_dataset("pmemo", PMEMO)
    assert len(clips) == 4
    by_id = {c.id: c for c in clips}
    assert by_id["372"].valence == pytest.approx(0.175) and by_id["372"].arousal == pytest.approx(0.825)
    assert by_id["372"].quadrant == "Q2" and by_id["372"].path == PMEMO / "chorus" / "372.mp3"
    assert all(c.artist is None and c.group == f"id:{c.id}" for c in clips)


def test_fourq_dev_layout():
    _need(FOURQ)
    clips = load_fourq(FOURQ)
    assert len(clips) == 600
    assert {q: sum(c.quadrant == q for c in clips) for q in ("Q1", "Q2", "Q3", "Q4")} == dict.fromkeys(
        ("Q1", "Q2", "Q3", "Q4"), 150
    )
    targets = {c.quadrant: (c.valence, c.arousal) for c in clips}
    assert targets == {"Q1": (1.0, 1.0), "Q2": (0.0, 1.0), "Q3": (0.0, 0.0), "Q4": (1.0, 0.0)}
    assert all(c.artist and c.path.is_file() and c.path.parent.name == c.quadrant for c in clips)


def test_deam_scaling_and_headers(tmp_path, songs):
    audio = tmp_path / "MEMD_audio"
    audio.mkdir()
    for song_id in (2, 3):
        write_audio(audio / f"{song_id}.mp3", synth_music(2.0, 44100, seed=song_id), 44100)
    (tmp_path / "static.csv").write_text("song_id, valence_mean, valence_std, arousal_mean, arousal_std\n"
                                         "2,3.1,0.9,3,0.6\n3,9,1.1,1,1.5\n")
    clips = load_deam(tmp_path)
    assert [c.id for c in clips] == ["2", "3"]
    assert clips[0].valence == pytest.approx(2.1 / 8) and clips[0].arousal == pytest.approx(0.25)
    assert (clips[1].valence, clips[1].arousal, clips[1].quadrant) == (1.0, 0.0, "Q4")
    assert load_dataset("deam", tmp_path) == clips
    # DEAM's own layout: two song-level tables under annotations/.
    level = tmp_path / "annotations" / "annotations averaged per song" / "song_level"
    level.mkdir(parents=True)
    (level / "static_annotations_averaged_songs_1_2000.csv").write_text("song_id, valence_mean, arousal_mean\n2,5,5\n")
    (level / "static_annotations_averaged_songs_2000_2058.csv").write_text("song_id, valence_mean, arousal_mean\n3,1,9\n")
    own = load_deam(tmp_path)
    assert [(c.id, c.valence, c.arousal) for c in own] == [("2", 0.5, 0.5), ("3", 0.0, 1.0)]
    (tmp_path / "static.csv").write_text("song_id,valence\n2,3\n")
    with pytest.raises(DatasetError, match=r"static\.csv.*arousal_mean"):
        load_deam(tmp_path, annotations=tmp_path / "static.csv")


def test_csv_relative_paths_and_errors(tmp_path, songs):
    sub = tmp_path / "audio"
    sub.mkdir()
    write_audio(sub / "a.wav", synth_music(1.0, 22050), 22050)
    table = tmp_path / "list.csv"
    table.write_text(f"path,valence,arousal,artist\naudio/a.wav,0.2,0.9,Someone\n{songs[0]},0.7,0.3,\n")
    clips = load_dataset("csv", table)
    assert clips[0].path == sub / "a.wav" and clips[0].artist == "Someone" and clips[0].quadrant == "Q2"
    assert clips[1].path == songs[0] and clips[1].artist is None and clips[1].group == f"id:{songs[0]}"
    table.write_text("path,valence,arousal\naudio/a.wav,1.5,0.5\n")
    with pytest.raises(DatasetError, match=r"list\.csv:2: valence 1.5 is outside"):
        load_csv(table)
    table.write_text("path,valence,arousal\naudio/missing.wav,0.5,0.5\n")
    with pytest.raises(DatasetError, match="missing.wav not found"):
        load_csv(table)
    table.write_text("file,valence,arousal\n")
    with pytest.raises(DatasetError, match=r"list\.csv: missing column\(s\) \['path'\]"):
        load_csv(table)


def test_load_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        load_dataset("gtzan", tmp_path)
    with pytest.raises(DatasetError, match="static_annotations.csv: file not found"):
        load_dataset("pmemo", tmp_path)
    with pytest.raises(DatasetError, match="panda_dataset_taffc_annotations.csv: file not found"):
        load_dataset("4q", tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("csv", tmp_path / "nope.csv")


# -- splits -----------------------------------------------------------------
def test_group_kfold_never_shares_an_artist():
    _need(FOURQ)
    clips = load_fourq(FOURQ)
    folds = group_kfold(clips, 5, seed=0)
    assert len(folds) == 5
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen) == list(range(len(clips)))
    for train, test in folds:
        assert not {clips[i].artist for i in train} & {clips[i].artist for i in test}
        share = np.mean([clips[i].quadrant == "Q1" for i in test])
        assert 0.15 < share < 0.35  # stratified by quadrant
        fit, val = inner_split(train, clips, 0.2, seed=0)
        assert sorted(np.concatenate([fit, val])) == sorted(train)
        assert not {clips[i].artist for i in fit} & {clips[i].artist for i in val}
        assert 0.1 < len(val) / len(train) < 0.3
    assert [te.tolist() for _, te in group_kfold(clips, 5, seed=0)] == [te.tolist() for _, te in folds]


def test_group_kfold_without_quadrants_groups_by_artist_then_id():
    clips = [Clip(Path(f"{i}.wav"), 0.5, 0.5, f"a{i % 7}" if i < 40 else None, str(i), None) for i in range(60)]
    for train, test in group_kfold(clips, 4, seed=1):
        assert not {clips[i].group for i in train} & {clips[i].group for i in test}


# -- feature cache ----------------------------------------------------------
def test_cache_hit_does_not_recompute(tmp_path, songs):
    cache, sep = FeatureCache(tmp_path / "cache"), CountingSeparator()
    mel = MelParams()
    first = cache.get_or_compute(songs[0], sep, SOURCES, windows=2, mel=mel, window_seconds=3.0)
    assert sep.calls == 1 and cache.computed == 1
    for s in SOURCES:
        assert first[s].dtype == np.float16 and first[s].shape == (2, 96, mel.frames(3.0))
    again = FeatureCache(tmp_path / "cache").get_or_compute(songs[0], sep, SOURCES, windows=2, window_seconds=3.0)
    assert sep.calls == 1
    assert all(np.array_equal(first[s], again[s]) for s in SOURCES)
    # A subset is served from the same entry; other parameters are another entry.
    assert set(cache.get_or_compute(songs[0], sep, ("mix", "bass"), windows=2, window_seconds=3.0)) == {"mix", "bass"}
    assert sep.calls == 1
    cache.get_or_compute(songs[0], sep, ("mix",), windows=1, window_seconds=3.0)
    assert cache.computed == 2
    # The key follows the content, not the name.
    copy = tmp_path / "copy.wav"
    copy.write_bytes(songs[0].read_bytes())
    assert cache.key(copy, "offline:v1", {"a": 1}) == cache.key(songs[0], "offline:v1", {"a": 1})
    assert cache.key(copy, "offline:v1", {"a": 1}) != cache.key(copy, "demucs:htdemucs", {"a": 1})


def test_corrupted_entry_is_recomputed(tmp_path, songs):
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute(songs[1], None, ("mix",), windows=2, window_seconds=3.0)
    entries = list(tmp_path.glob("*/*.npz"))
    assert len(entries) == 1
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # truncated, as by a crash of the disk
    again = cache.get_or_compute(songs[1], None, ("mix",), windows=2, window_seconds=3.0)
    assert cache.computed == 2 and np.array_equal(first["mix"], again["mix"])
    assert np.load(entries[0])["mix"].shape == first["mix"].shape


def test_build_resumes_after_interruption_and_skips_bad_files(tmp_path, songs):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all" * 100)
    clips = [_clip(p) for p in songs] + [_clip(bad)]
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        build_cache(clips, cache, CountingSeparator(interrupt_after=1), SOURCES, 2, window_seconds=3.0,
                    progress=lambda line: None)
    assert len(list((tmp_path / "cache").glob("*/*.npz"))) == 1
    assert not list((tmp_path / "cache").glob("*/*.tmp"))
    lines: list[str] = []
    sep = CountingSeparator()
    stats = build_cache(clips, FeatureCache(tmp_path / "cache"), sep, SOURCES, 2, window_seconds=3.0,
                        progress=lines.append)
    assert stats == {"done": 3, "computed": 2, "failed": 1} and sep.calls == 2
    assert any(line.startswith(f"{bad}: skipped") for line in lines)
    assert "4/4 clips" in lines[-1] and "ETA" in lines[-1]


def test_handcrafted_features_cached(tmp_path, songs):
    cache = FeatureCache(tmp_path)
    features = cached_summary_features(songs[2], cache)
    assert features.shape == (len(FEATURE_NAMES),) and 130 <= features.size <= 170
    assert features.dtype == np.float32 and np.all(np.isfinite(features))
    assert np.array_equal(cached_summary_features(songs[2], cache), features) and cache.computed == 1


def test_lookup_reads_without_computing(tmp_path, songs):
    cache = FeatureCache(tmp_path)
    assert cache.lookup(songs[0], "none", ("mix",), windows=2, window_seconds=3.0) is None
    made = cache.get_or_compute(songs[0], None, ("mix",), windows=2, window_seconds=3.0)
    found = cache.lookup(songs[0], "none", ("mix",), windows=2, window_seconds=3.0)
    assert np.array_equal(found["mix"], made["mix"])
    assert cache.lookup(songs[0], "none", ("mix", "bass"), windows=2, window_seconds=3.0) is None
    assert cache.lookup(songs[0], "offline:v1", ("mix",), windows=2, window_seconds=3.0) is None


def test_cache_builder_shards_split_the_clips(tmp_path, songs):
    from emomucs_core.datasets.__main__ import main as build_main

    table = tmp_path / "list.csv"
    table.write_text("path,valence,arousal\n" + "".join(f"{p},0.5,0.5\n" for p in songs))
    common = ["--dataset", "csv", "--data", str(table), "--cache", str(tmp_path / "cache"), "--sources", "mix",
              "--windows", "1", "--window-seconds", "3"]
    entries = lambda: len(list((tmp_path / "cache").glob("*/*.npz")))  # noqa: E731
    assert build_main(common + ["--shard", "0/2"]) == 0 and entries() == 2  # songs 0 and 2
    assert build_main(common + ["--shard", "1/2"]) == 0 and entries() == 3
    cache = FeatureCache(tmp_path / "cache")
    assert all(cache.lookup(p, "none", ("mix",), windows=1, window_seconds=3.0) is not None for p in songs)
    with pytest.raises(SystemExit):
        build_main(common + ["--shard", "2/2"])
