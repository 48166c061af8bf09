"""Files to predictions through the small Demucs and a test bundle."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from conftest import make_bundle
from emomucs_core.predictor import Predictor
from emomucs_core.separators import make_separator
from emomucs_core.testing import synth_music, write_audio


@pytest.fixture(scope="module")
def predictor(bundle_path, demucs_repo):
    return Predictor(bundle_path, device="cpu", windows=2, batch_size=3, demucs_repo=demucs_repo)


def test_predictions_are_in_range_and_contributions_add_up(predictor, music_files):
    results = list(predictor.predict(music_files.values()))
    assert [r.path for r in results] == list(music_files.values())
    for r in results:
        assert r.ok, r.error
        assert 0 <= r.valence <= 1 and 0 <= r.arousal <= 1
        assert set(r.contributions) == {"vocals", "drums", "bass", "other"}
        assert r.dominant_source == max(
            r.contributions, key=lambda s: abs(r.contributions[s]["valence"]) + abs(r.contributions[s]["arousal"])
        )
        assert r.model_id == predictor.model_id and r.elapsed > 0
        assert r.windows and all(0 <= w["valence"] <= 1 for w in r.windows)
        assert r.valence == pytest.approx(np.mean([w["valence"] for w in r.windows]))
    # 8 s and 12 s files get one window, the 25-s file two.
    assert [len(r.windows) for r in results] == [1, 1, 2]


def test_contributions_sum_to_prediction_minus_all_silent(predictor, music_files):
    r = predictor.predict_one(music_files["wav"])
    silent = predictor.model.to_unit(predictor.model.fuse(
        {s: e[None] for s, e in predictor.step.absent_embeddings().items()})).detach().numpy()[0]
    total_v = sum(c["valence"] for c in r.contributions.values())
    total_a = sum(c["arousal"] for c in r.contributions.values())
    assert total_v == pytest.approx(r.valence - silent[0], abs=1e-5)
    assert total_a == pytest.approx(r.arousal - silent[1], abs=1e-5)


def test_same_results_whatever_the_batching(bundle_path, demucs_repo, music_files):
    sep = make_separator("demucs:htdemucs", repo=demucs_repo, device="cpu")
    files = [music_files["flac"], music_files["mp3"]]  # 1 + 2 windows
    runs = [
        [(r.valence, r.arousal) for r in Predictor(bundle_path, sep, windows=2, batch_size=b, threads=t).predict(files)]
        for b, t in [(1, 1), (3, 2)]
    ]
    assert np.allclose(runs[0], runs[1], atol=1e-5)


def test_bad_files_yield_errors_and_the_batch_goes_on(predictor, music_files, tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("not audio\n" * 100)
    silent = write_audio(tmp_path / "silent.wav", np.zeros((44100 * 3, 2), np.float32), 44100)
    full = write_audio(tmp_path / "full.mp3", synth_music(20, seed=9), 44100).read_bytes()
    (tmp_path / "cut.mp3").write_bytes(full[: len(full) // 4])
    paths = [tmp_path / "empty.mp3", music_files["wav"], tmp_path / "text.mp3", silent,
             tmp_path / "missing.flac", tmp_path / "cut.mp3", music_files["flac"]]
    results = list(predictor.predict(paths))
    assert [r.path for r in results] == paths
    by_name = {r.path.name: r for r in results}
    assert "empty" in by_name["empty.mp3"].error
    assert by_name["text.mp3"].error.startswith("not an audio file")
    assert "silent" in by_name["silent.wav"].error
    assert "not found" in by_name["missing.flac"].error
    assert by_name["cut.mp3"].ok  # a truncated file gives what it has
    assert by_name["song.wav"].ok and by_name["mono.flac"].ok
    assert all("\n" not in (r.error or "") for r in results)


def test_mix_only_bundle_needs_no_separator(tmp_path, music_files):
    path = make_bundle(sources=("mix",)).save(tmp_path / "m.safetensors")
    predictor = Predictor(path, windows=1)
    assert predictor.separator is None
    r = predictor.predict_one(music_files["wav"])
    assert r.ok and r.contributions == {} and r.dominant_source is None


def test_a_different_separator_is_used_with_a_warning(bundle_path, demucs_repo, caplog):
    sep = make_separator("demucs:htdemucs", repo=demucs_repo)
    sep.variant = "htdemucs_ft"
    with caplog.at_level(logging.WARNING):
        Predictor(bundle_path, separator=sep)
    assert "differs from the one the model was trained with" in caplog.text


def test_tags_and_cover_art_do_not_change_predictions(predictor, tmp_path):
    """The issue's repro, generated: one MP3 stream concatenated (a stale length header), then a
    1.5 MB cover, a long title or our own VALENCE/AROUSAL tags added: the same values for all."""
    from test_audio import _tagged_copies

    one = write_audio(tmp_path / "one.mp3", synth_music(12, 44100, seed=11), 44100).read_bytes()
    results = list(predictor.predict(_tagged_copies(tmp_path, one * 4)))
    assert all(r.ok for r in results), [r.error for r in results]
    assert results[0].duration == pytest.approx(48.0, abs=0.3)
    assert len(results[0].windows) == 2 and results[0].windows[-1]["start"] > 20
    for r in results[1:]:  # the same audio; batched with other files, so equal to float rounding
        assert [w["start"] for w in r.windows] == [w["start"] for w in results[0].windows]
        assert r.duration == results[0].duration
        assert (r.valence, r.arousal) == pytest.approx((results[0].valence, results[0].arousal), abs=1e-5)


def test_result_fields_of_a_short_track(predictor, music_files, tmp_path, monkeypatch):
    monkeypatch.chdir(music_files["flac"].parent)
    r = predictor.predict_one(music_files["flac"].name)  # a relative path
    assert r.ok and r.duration == pytest.approx(8.0, abs=0.01)
    assert r.warnings == ["short track: 8.0 s looped to fill a 20-s window"]
    assert r.quadrant_probabilities is None  # a regression head
    record = json.loads(json.dumps(r.to_dict()))
    assert record["path"] == str(music_files["flac"]) and record["error"] is None
    assert {"duration", "warnings", "quadrant_probabilities"} <= set(record)


def test_quadrant_probabilities_are_the_mean_over_windows(tmp_path, music_files):
    path = make_bundle(sources=("mix",), head="quadrant").save(tmp_path / "q.safetensors")
    r = Predictor(path, windows=2).predict_one(music_files["mp3"])
    p = np.array(r.quadrant_probabilities)
    assert p.shape == (4,) and p.sum() == pytest.approx(1.0, abs=1e-5) and (p > 0).all()
    assert r.valence == pytest.approx(p[0] + p[3], abs=1e-5) and r.arousal == pytest.approx(p[0] + p[1], abs=1e-5)


def test_the_built_in_model_analyses_on_one_torch_thread_and_gives_the_others_back(music_files):
    """offline:v2-v5 are many small tensor operations: a second intra-op thread only waits (docs/benchmarks.md)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        predictor = Predictor(device="cpu")
        assert predictor.separator.cpu_threads == 1 and predictor.analysis_threads == 1
        seen = []
        analyse = predictor.step.from_spans
        predictor.step.from_spans = lambda *args: (seen.append(torch.get_num_threads()), analyse(*args))[1]
        results = list(predictor.predict([music_files["wav"], music_files["mp3"]]))
        assert all(r.ok for r in results) and seen == [1, 1]
        assert torch.get_num_threads() == 2  # beets' process gets its threads back between files
        assert Predictor(device="cpu", separator="offline:v1").analysis_threads is None  # stem audio: torch's default
    finally:
        torch.set_num_threads(before)


def test_the_shipped_musicnn_model_by_name_adds_up_per_source_and_differs_from_the_default(music_files):
    """``model: musicnn``: the shipped bundle whose descriptors include musicnn on every stem. Its Shapley
    values over the four sources still add up exactly, and it is another model than the default."""
    from emomucs_core.bundle_id import BUILTIN_BUNDLES, bundle_id

    predictor = Predictor("musicnn", windows=2)
    assert predictor.model_id == bundle_id("musicnn") == bundle_id(BUILTIN_BUNDLES["musicnn"])
    assert {"musicnn"} <= set(predictor.bundle.config.descriptor_groups)
    assert [e["name"] for e in predictor.bundle.extractors] == ["musicnn"]
    r = predictor.predict_one(music_files["mp3"])
    assert r.ok, r.error
    silent = predictor.model.to_unit(predictor.model.fuse(
        {s: e[None] for s, e in predictor.step.absent_embeddings().items()})).detach().numpy()[0]
    assert sum(c["valence"] for c in r.contributions.values()) == pytest.approx(r.valence - silent[0], abs=1e-5)
    assert sum(c["arousal"] for c in r.contributions.values()) == pytest.approx(r.arousal - silent[1], abs=1e-5)
    default = Predictor(None, windows=2).predict_one(music_files["mp3"])
    assert abs(default.valence - r.valence) + abs(default.arousal - r.arousal) > 1e-3
