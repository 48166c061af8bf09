"""Feature arrays: the paper's log-mel rows, chroma rows, and parameters in keys and bundles."""

from __future__ import annotations

import librosa
import numpy as np

import pytest
import torch

from emomucs_core.features import (
    MelParams, features_from_audio, features_from_power, interpolate_frames, log_mel, power_spectrogram,
)
from emomucs_core.separators import V2_PARAMS, V4_PARAMS, feature_params
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
    assert feature_params("offline:v4") == feature_params("offline:v5") == feature_params("offline:v7") == V4_PARAMS
    assert MelParams(**V4_PARAMS.to_dict()) == V4_PARAMS
    assert "chroma_n_fft" not in V2_PARAMS.to_dict() and "chroma_hop_length" not in V2_PARAMS.to_dict()
    assert feature_params("offline") == feature_params("demucs:htdemucs") == feature_params(None) == MelParams()


def test_chroma_rows_of_their_own_stft_follow_the_mel_frames():
    """``offline:v4``'s features: mel rows of a 512-point STFT every 256 samples, chroma rows of a
    2048-point STFT every 512 samples, interpolated onto the mel frames."""
    mono = synth_music(4.0, 22050, channels=1, seed=3)[:, 0]
    feats = log_mel(mono, V4_PARAMS)
    assert feats.shape == (108, V4_PARAMS.frames(4.0)) and V4_PARAMS.frame_rate == 2 * V2_PARAMS.frame_rate
    np.testing.assert_array_equal(feats[:96], log_mel(mono, MelParams()))  # the paper's mel rows
    coarse = log_mel(mono, V2_PARAMS)[96:]
    power = 10 ** (feats[96:] / 10)
    np.testing.assert_allclose(feats[96:, ::2], coarse, atol=1e-3)  # even frames are the coarse frames
    between = 10 * np.log10((10 ** (coarse[:, :-1] / 10) + 10 ** (coarse[:, 1:] / 10)) / 2)
    np.testing.assert_allclose(10 * np.log10(power[:, 1:-1:2]), between[:, : power[:, 1:-1:2].shape[1]], atol=1e-3)
    with pytest.raises(ValueError, match="own STFT"):  # the chroma rows cannot come from the mel rows' power
        features_from_power(power_spectrogram(mono, V4_PARAMS), V4_PARAMS)


def test_power_spectrogram_is_librosas_laid_out_bin_by_bin():
    mono = synth_music(2.0, 22050, channels=2, seed=4).T  # (2, n): a batch of two signals
    power = power_spectrogram(mono, V2_PARAMS)
    assert power.is_contiguous()  # each bin's frames side by side (torch's STFT gives frames' bins)
    expected = np.abs(librosa.stft(mono, n_fft=2048, hop_length=512, pad_mode="constant")) ** 2
    np.testing.assert_allclose(power.numpy(), expected, rtol=1e-3, atol=1e-3 * expected.max())


def test_interpolate_frames_places_output_frame_o_at_input_frame_o_over_step():
    x = torch.tensor([[0.0, 2.0, 4.0, 10.0]])
    assert interpolate_frames(x, 2, 7).tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0]]
    assert interpolate_frames(x, 2, 10).tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0, 10.0, 10.0, 10.0]]  # held
    assert interpolate_frames(x, 1, 4).tolist() == x.tolist()
