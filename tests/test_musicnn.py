"""The torch port of musicnn (emomucs_core/extractors/musicnn.py) against musicnn's own TensorFlow graph.

tests/data/musicnn_msd_reference.npz holds the TF outputs (MSD_musicnn, float32 log step) for the
synthetic signals below, made by tools/musicnn_tf_reference.py; this test needs no TensorFlow.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from emomucs_core.extractors.musicnn import (MSD_LABELS, MUSICNN_PARAMS, PATCH_FRAMES, WEIGHTS, load_musicnn,
                                             mel_from_power, musicnn_embed, musicnn_mel, patches)
from emomucs_core.features import power_spectrogram

REFERENCE = Path(__file__).parent / "data" / "musicnn_msd_reference.npz"
SR = 16000


def synthetic_signals(seconds: float = 6.0) -> list[np.ndarray]:
    """Three seeded 16-kHz signals of different character: a chord with vibrato, drum-like bursts, a noisy sweep."""
    rng = np.random.default_rng(23)
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) / (k + 1)
                for k, f in enumerate([220.0, 277.2, 329.6, 440.0, 660.0]))
    bursts = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        i = int(start * SR)
        n = min(2000, len(t) - i)
        bursts[i:i + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / 300.0)
        bursts[i:i + n] += np.sin(2 * np.pi * 60 * np.arange(n) / SR) * np.exp(-np.arange(n) / 800.0)
    sweep = np.sin(2 * np.pi * (100 + 400 * t) * t) + 0.3 * rng.standard_normal(len(t))
    return [(0.3 * s / np.abs(s).max()).astype(np.float32) for s in (chord, bursts, sweep)]


def reference_input() -> np.ndarray:
    """Patches ``(6, 187, 96)``: two per synthetic signal."""
    return np.concatenate([patches(musicnn_mel(s)).numpy() for s in synthetic_signals()])


def test_mel_equals_librosa():
    librosa = pytest.importorskip("librosa")
    for s in synthetic_signals():
        mel = librosa.feature.melspectrogram(y=s, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
        expected = np.log10(10000 * mel.astype(np.float32) + 1)
        got = musicnn_mel(s).numpy()
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4


def test_mel_from_power_of_a_batch():
    s = np.stack(synthetic_signals())
    got = mel_from_power(power_spectrogram(s, MUSICNN_PARAMS))
    assert got.shape == (3, 1 + len(s[0]) // 256, 96)
    assert torch.allclose(got[1], musicnn_mel(s[1]))


def test_patches_drop_the_tail_and_pad_short_input():
    mel = torch.arange(400 * 96, dtype=torch.float32).reshape(400, 96)
    p = patches(mel)
    assert p.shape == (2, PATCH_FRAMES, 96)
    assert torch.equal(p[1, 0], mel[PATCH_FRAMES])
    short = patches(mel[:50])
    assert short.shape == (1, PATCH_FRAMES, 96) and not short[0, 50:].any()


def test_port_matches_tensorflow():
    ref = np.load(REFERENCE)
    x = reference_input()
    assert abs(float(x.astype(np.float64).sum()) - float(ref["input_sum"])) < 1e-2 * x.size ** 0.5
    out = musicnn_embed(x)
    assert out["penultimate"].shape == (6, 200) and out["taggram"].shape == (6, len(MSD_LABELS))
    for key in ("penultimate", "taggram"):
        assert np.abs(out[key].numpy() - ref[key]).max() < 1e-4, key
    assert out["mean_pool"].shape == out["max_pool"].shape == (6, 753)


def test_taggram_depends_on_the_input():
    """musicnn's float16 log step made every clip alike; the port's taggram must tell signals apart."""
    tags = musicnn_embed(reference_input())["taggram"].numpy()
    per_signal = tags.reshape(3, 2, -1).mean(axis=1)
    for a in range(3):
        for b in range(a + 1, 3):
            assert np.abs(per_signal[a] - per_signal[b]).max() > 0.05


def test_weights_load_without_pickle_and_carry_the_licence(tmp_path):
    from safetensors import safe_open

    for name in ("MSD_musicnn", "MTT_musicnn"):
        net = load_musicnn(name)
        assert not net.training
        with safe_open(str(WEIGHTS[name]), "pt") as f:
            meta = f.metadata()
        assert meta["licence"] == "ISC" and "Pons" in meta["authors"] and meta["model"] == name
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_musicnn(path=tmp_path / "missing.safetensors")


# -- musicnn on features that are already there (a separator's stem log-mels) ----------------------------------
from conftest import SHARED_DATA  # noqa: E402

FOURQ_DEV = SHARED_DATA / "4q-dev"


@pytest.mark.skipif(not FOURQ_DEV.is_dir(), reason="4q-dev clips not present")
def test_tags_from_a_separators_log_mel_follow_musicnns_own_input():
    """offline:v7's 22.05-kHz log-mel rows converted (mel_from_logmel) against musicnn's own 16-kHz input, on the
    same 8 real clips: the inputs correlate, and so do the tags across clips (what the model reads)."""
    import librosa

    from emomucs_core.extractors.musicnn import mel_from_logmel
    from emomucs_core.features import MelParams, features_from_power

    params = MelParams(n_fft=512, hop_length=256, n_mels=96)  # offline:v7's mel rows
    own, converted, inputs = [], [], []
    for path in sorted(FOURQ_DEV.glob("Q*/*.mp3"))[::75]:
        y = librosa.load(path, sr=22050, mono=True, duration=7)[0].astype(np.float32)
        ref = patches(musicnn_mel(librosa.resample(y, orig_sr=22050, target_sr=SR)))[:2]
        logmel = features_from_power(power_spectrogram(y, params), params)
        conv = patches(mel_from_logmel(torch.from_numpy(logmel), params))[:2]
        inputs.append(np.corrcoef(ref.flatten(), conv.flatten())[0, 1])
        own.append(musicnn_embed(ref)["taggram"].mean(0).numpy())
        converted.append(musicnn_embed(conv)["taggram"].mean(0).numpy())
    own, converted = np.array(own), np.array(converted)
    assert min(inputs) > 0.93
    per_clip = [np.corrcoef(a, b)[0, 1] for a, b in zip(own, converted)]
    assert np.median(per_clip) > 0.8
    # the tags still tell these clips apart the same way: each clip's converted tags are nearest its own
    distance = ((converted[:, None] - own[None]) ** 2).sum(-1)
    assert (distance.argmin(axis=1) == np.arange(len(own))).mean() >= 0.75


def test_window_embeddings_read_the_central_patch_of_each_window():
    from emomucs_core.extractors.musicnn import mel_from_logmel, window_embeddings
    from emomucs_core.features import MelParams

    params = MelParams(n_fft=512, hop_length=256, n_mels=96)
    rng = np.random.default_rng(0)
    windows = torch.from_numpy(rng.normal(-40, 15, (2, 108, 1723)).astype(np.float32))  # 20 s, chroma rows last
    emb = window_embeddings(windows, params)
    assert emb.shape == (2, 250) and torch.isfinite(emb).all()
    mel = mel_from_logmel(windows[:1, :96], params)
    start = (mel.shape[1] - PATCH_FRAMES) // 2
    direct = musicnn_embed(mel[:, start:start + PATCH_FRAMES])
    assert torch.allclose(emb[0, :200], direct["penultimate"][0], atol=1e-5)
    assert torch.allclose(emb[0, 200:], direct["taggram"][0], atol=1e-6)
    # chroma rows are not read; the log-mel rows are
    other = windows.clone()
    other[:, 96:] += 30
    assert torch.equal(window_embeddings(other, params), emb)
    other[:, :96] += 10
    assert not torch.allclose(window_embeddings(other, params), emb, atol=1e-3)
