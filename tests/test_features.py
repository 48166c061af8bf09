"""Feature arrays: the paper's log-mel rows, chroma rows, and parameters in keys and bundles."""

from __future__ import annotations

import librosa
import numpy as np

from emomucs_core.features import MelParams, features_from_audio, log_mel
from emomucs_core.separators import V2_PARAMS, feature_params
from emomucs_core.testing import synth_music


def test_log_mel_rows_are_librosa_power_to_db_of_its_melspectrogram():
    mono = synth_music(4.0, 22050, channels=1, seed=1)[:, 0]
    params = MelParams()
    expected = librosa.power_to_db(
        librosa.feature.melspectrogram(y=mono, sr=22050, n_fft=512, hop_length=256, n_mels=96, power=2.0),
        ref=1.0, amin=params.amin, top_db=None)
    ours = log_mel(mono, params)
    assert ours.shape == expected.shape == (96, params.frames(4.0))
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_chroma_rows_follow_the_mel_rows_in_db():
    audio = synth_music(4.0, 44100, seed=2).T  # (2, n)
    params = MelParams(n_fft=2048, hop_length=512, n_chroma=12)
    feats = features_from_audio(audio[None], 44100, params)[0]
    assert feats.shape == (96 + 12, params.frames(4.0))
    mono = librosa.resample(audio.mean(axis=0), orig_sr=44100, target_sr=22050, res_type="soxr_hq")
    power = np.abs(librosa.stft(mono, n_fft=2048, hop_length=512, pad_mode="constant")) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=22050, norm=None, tuning=0.0)  # A440, no tuning estimate
    np.testing.assert_allclose(feats[96:], 10 * np.log10(chroma + params.amin), atol=0.05)
    # Without chroma rows the features are exactly the mel rows.
    np.testing.assert_allclose(features_from_audio(audio[None], 44100, MelParams(n_fft=2048, hop_length=512))[0],
                               feats[:96], atol=1e-4)


def test_params_in_keys_and_per_separator():
    assert "n_chroma" not in MelParams().to_dict()  # keys of chroma-free features are unchanged
    assert MelParams(**V2_PARAMS.to_dict()) == V2_PARAMS and V2_PARAMS.rows == 108
    assert V2_PARAMS.frame_rate > 32  # the descriptors' modulation bands reach 16 Hz
    assert feature_params("offline:v2") == V2_PARAMS
    assert feature_params("offline") == feature_params("demucs:htdemucs") == feature_params(None) == MelParams()
