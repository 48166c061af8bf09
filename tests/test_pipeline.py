"""The inference step and ``offline:v2``/``v3`` end to end: cache builder -> training -> bundle -> predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomucs_core.audio import AudioFile
from emomucs_core.loudness import TARGET_LUFS
from emomucs_core.tracks import read_track
from emomucs_core.checkpoint import Bundle, load_bundle
from emomucs_core.datasets import Clip
from emomucs_core.datasets.cache import FeatureCache, _mel_params, build_cache
from emomucs_core.features import MelParams
from emomucs_core.nets import EmoMucs, NetConfig
from emomucs_core.pipeline import InferenceStep, stem_features
from emomucs_core.predictor import Predictor
from emomucs_core.separators import SOURCES, V2_PARAMS, V4_PARAMS, make_separator
from emomucs_core.testing import synth_music, write_audio
from emomucs_core.training import load_feature_set, train_final

QUADRANTS = {"Q1": ("major", 150, 0.8, 0.8), "Q2": ("minor", 150, 0.2, 0.8),
             "Q3": ("minor", 60, 0.2, 0.2), "Q4": ("major", 60, 0.8, 0.2)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Clip]:
    """12 generated 6-s songs, 3 per quadrant, 6 artists."""
    folder = tmp_path_factory.mktemp("songs")
    out = []
    for qi, (quadrant, (mode, tempo, v, a)) in enumerate(QUADRANTS.items()):
        for j in range(3):
            path = write_audio(folder / f"{quadrant}-{j}.wav",
                               synth_music(6, 22050, tempo=tempo, mode=mode, seed=qi * 10 + j, drums=tempo > 100),
                               22050)
            out.append(Clip(path, v, a, f"artist{(qi * 3 + j) % 6}", path.stem, quadrant))
    return out


def test_offline_v2_from_cache_builder_to_predictor(clips, tmp_path):
    sep = make_separator("offline:v2")
    cache = FeatureCache(tmp_path / "cache")
    sources = ("mix",) + SOURCES
    stats = build_cache(clips, cache, sep, sources, windows=1)
    assert stats == {"done": 12, "computed": 12, "failed": 0}
    data, missing = load_feature_set(clips, cache, sep.id, sources, windows=1)
    assert not missing and data.mel == V2_PARAMS
    assert data.feats["vocals"].shape == (12, 1, 108, V2_PARAMS.frames(20.0))
    # v1 entries are other entries: nothing of v2 is read for v1.
    assert load_feature_set(clips, cache, "offline:v1", sources, windows=1)[0] is None

    bundle = train_final(data, "desc-early-freeze-quadrant-linear", separator=sep.spec, name="v2test")
    assert bundle.mel == V2_PARAMS and bundle.separator == {"backend": "offline", "model": "v2"}
    cfg = bundle.config
    assert (cfg.n_mels, cfg.n_chroma, cfg.frame_rate) == (96, 12, V2_PARAMS.frame_rate)
    path = bundle.save(tmp_path / "v2.safetensors")

    predictor = Predictor(path, windows=1, device="cpu")
    assert predictor.separator.id == "offline:v2" and load_bundle(path).mel == V2_PARAMS
    result = predictor.predict_one(clips[0].path)
    assert result.ok and 0 <= result.valence <= 1 and result.dominant_source in SOURCES
    # The predictor's features of the window (read, looped and loudness-normalised as it reads
    # them) are the cached ones (float16 there).
    assert bundle.loudness_lufs == TARGET_LUFS
    window = read_track(clips[0].path, 1, 20.0, loudness_lufs=bundle.loudness_lufs).audio
    live = predictor.step.features(window)
    cached = cache.get_or_compute(clips[0].path, sep, sources, windows=1)
    for s in SOURCES:
        np.testing.assert_allclose(live[s], cached[s].astype(np.float32), atol=0.05)


def test_stem_features_prefers_the_separators_own_features(clips):
    with AudioFile(clips[1].path) as audio:
        window = audio.read(0.0, 20.0)[None]
    v2 = make_separator("offline:v2")  # gives no stem audio, so the direct path must be taken
    direct = stem_features(window, SOURCES, v2, V2_PARAMS)
    v1 = make_separator("offline:v1")  # audio only: its stems are featurised with the same params
    from_audio = stem_features(window, ("mix",) + SOURCES, v1, V2_PARAMS)
    assert set(direct) == set(SOURCES) and all(f.shape == (1, 108, 862) for f in from_audio.values())
    np.testing.assert_allclose(from_audio["mix"], stem_features(window, ("mix",), v2, V2_PARAMS)["mix"], atol=1e-3)
    with pytest.raises(ValueError, match="need a separator"):
        stem_features(window, ("vocals",), None, V2_PARAMS)


@pytest.mark.parametrize("arch", ["c1d", "c2d"])
def test_cnns_read_only_the_mel_rows(arch):
    torch.manual_seed(0)
    model = EmoMucs(NetConfig(arch=arch, sources=SOURCES, fusion="early", n_chroma=12, summary=True,
                              descriptors=True, frame_rate=V2_PARAMS.frame_rate)).eval()
    x = {s: torch.randn(2, 108, 300) * 10 - 40 for s in SOURCES}
    other_chroma = {s: torch.cat([v[:, :96], torch.randn(2, 12, 300)], dim=1) for s, v in x.items()}
    with torch.no_grad():
        assert torch.equal(model(x), model(other_chroma))


def test_absent_sources_are_silence_at_the_bundles_level():
    torch.manual_seed(0)
    model = EmoMucs(NetConfig(arch="c1d", sources=SOURCES, fusion="mid", n_chroma=12)).eval()
    loud = MelParams(n_fft=2048, hop_length=512, n_chroma=12, amin=1e-5)
    step = InferenceStep(model, mel=loud, window_seconds=20.0)
    silent = torch.full((1, 108, loud.frames(20.0)), loud.silence_db)
    with torch.no_grad():
        expected = model.embed({s: silent for s in SOURCES})
    for s in SOURCES:
        torch.testing.assert_close(step.absent_embeddings()[s], expected[s][0])
    unit, contrib, _ = step.from_features({s: silent.numpy() for s in SOURCES})
    assert unit.shape == (1, 2) and contrib.shape == (1, 4, 2)
    np.testing.assert_allclose(contrib, 0.0, atol=1e-6)  # every source as silent as an absent one


def test_a_demucs_weights_folder_does_not_stop_other_separators(tmp_path):
    model = EmoMucs(NetConfig(arch="desc", sources=SOURCES, fusion="early", fusion_hidden=0, head="quadrant"))
    bundle = Bundle(model, separator={"backend": "offline", "model": "v1"})
    predictor = Predictor(bundle, device="cpu", demucs_repo=tmp_path)
    assert predictor.separator.id == "offline:v1"


@pytest.mark.parametrize("separator_id, params", [("offline:v3", V2_PARAMS), ("offline:v5", V4_PARAMS), ("offline:v7", V4_PARAMS)])
def test_span_separators_read_alike_in_cache_builder_and_predictor(clips, tmp_path, separator_id, params):
    """A 30-s song's three overlapping windows: one span, the same features and starts in the cache and the predictor."""
    sep = make_separator(separator_id)
    cache = FeatureCache(tmp_path / "cache")
    build_cache(clips, cache, sep, SOURCES, windows=1)
    data, _ = load_feature_set(clips, cache, sep.id, SOURCES, windows=1)
    bundle = train_final(data, "desc-early-freeze-quadrant-linear", separator=sep.spec, name="spantest")
    assert bundle.separator == sep.spec and bundle.mel == params
    song = write_audio(tmp_path / "long.flac", synth_music(30, 44100, tempo=120, seed=7, drums=True), 44100)

    predictor = Predictor(bundle, windows=3, device="cpu")
    assert predictor.step.analyses_spans
    result = predictor.predict_one(song)
    cached = cache.get_or_compute(song, sep, SOURCES, windows=3)
    stored = cache.load(cache.key(song, sep.id, _mel_params(params, 3, 20.0)))
    assert result.ok and len(result.windows) == 3
    starts = [w["start"] for w in result.windows]
    assert starts == pytest.approx(list(stored["starts"]), abs=1e-3)
    hops = np.diff(starts) / (params.hop_length / params.samplerate)
    assert hops == pytest.approx(np.round(hops), abs=0.05)  # every window a whole number of hops into the span
    unit, _, _ = predictor.step.from_features({s: cached[s].astype(np.float32) for s in SOURCES})
    np.testing.assert_allclose([[w["valence"], w["arousal"]] for w in result.windows], unit, atol=2e-3)
