"""The weight-free HPSS + REPET-SIM split: ``offline:v1`` (stem audio) and ``offline:v2`` to ``v7`` (stem features)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emomucs_core.features import features_from_audio, log_mel, power_spectrogram, to_mono
from emomucs_core.separators import SEPARATION_RATE, SOURCES, SeparatorError, make_separator
from emomucs_core.separators.masks import _cell_means, stem_masks
from emomucs_core.separators.offline import OfflineSeparator
from emomucs_core.separators.shares import band_shares, leakage_shares
from emomucs_core.separators.variants import V2_PARAMS, V4_PARAMS, MaskedFeatureSeparator
from emomucs_core.separators.medians import median9
from emomucs_core.testing import synth_music

SR = SEPARATION_RATE


@pytest.fixture(scope="module")
def separator() -> OfflineSeparator:
    return OfflineSeparator()


def _batch(*signals: np.ndarray) -> torch.Tensor:
    """Stack ``(n, channels)`` or ``(n,)`` signals into a ``(B, 2, n)`` float32 tensor."""
    out = []
    for s in signals:
        s = np.asarray(s, dtype=np.float32)
        out.append(np.stack([s, s]) if s.ndim == 1 else s.T)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out)))


def _energy(x: torch.Tensor) -> float:
    return float((x.double() ** 2).sum())


def test_shapes_lengths_and_sum(separator):
    n = int(6.3 * SR) + 17  # not a multiple of the hop
    x = _batch(synth_music(6.3, seed=1)[:n], synth_music(6.3, seed=2, root_hz=196.0)[:n])
    out = separator.separate(x)
    assert set(out) == set(SOURCES)
    for stem in out.values():
        assert stem.shape == x.shape and stem.dtype == torch.float32 and stem.device.type == "cpu"
        assert torch.isfinite(stem).all()
    total = sum(out.values())
    assert torch.allclose(total, x, atol=1e-5)
    # Every stem gets something from a full mix, and stereo stays stereo (right = 0.9 x left).
    for name, stem in out.items():
        assert _energy(stem) > 1e-4 * _energy(x), name
    ratio = out["vocals"][0, 1].abs().sum() / out["vocals"][0, 0].abs().sum()
    assert 0.85 < float(ratio) < 0.95


def test_drums_signal_goes_to_drums(separator):
    rng = np.random.default_rng(0)
    n = 8 * SR
    x = np.zeros(n, dtype=np.float32)
    for start in range(0, n - SR // 10, SR // 4):  # clicks and short noise bursts, 4 per second
        burst = rng.standard_normal(SR // 50) * np.exp(-np.arange(SR // 50) / (SR / 400))
        x[start : start + burst.size] += 0.5 * burst.astype(np.float32)
        x[start] += 0.9
    out = separator.separate(_batch(x))
    assert _energy(out["drums"]) > 2 * _energy(out["vocals"])
    assert _energy(out["drums"]) > 0.4 * _energy(_batch(x))


def test_vibrato_tone_stays_out_of_drums(separator):
    t = np.arange(8 * SR) / SR
    freq = 440.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    tone = 0.4 * np.sin(2 * np.pi * np.cumsum(freq) / SR)
    out = separator.separate(_batch(tone))
    total = _energy(_batch(tone))
    assert _energy(out["drums"]) < 0.2 * total
    assert _energy(out["bass"]) < 0.05 * total  # 440 Hz is above the bass crossover


def test_bass_tone_goes_to_bass(separator):
    t = np.arange(8 * SR) / SR
    tone = 0.4 * np.sin(2 * np.pi * 55.0 * t)
    out = separator.separate(_batch(tone))
    assert _energy(out["bass"]) > 0.5 * _energy(_batch(tone))


def test_silence_in_silence_out(separator):
    out = separator.separate(torch.zeros(2, 2, 5 * SR))
    for stem in out.values():
        assert stem.shape == (2, 2, 5 * SR)
        assert torch.isfinite(stem).all() and float(stem.abs().max()) == 0.0


def test_partly_silent_and_tiny_inputs(separator):
    x = _batch(np.concatenate([np.zeros(3 * SR), synth_music(3.0, channels=1)[:, 0]]))
    out = separator.separate(x)
    assert all(torch.isfinite(s).all() for s in out.values())
    assert torch.allclose(sum(out.values()), x, atol=1e-5)
    tiny = torch.full((1, 2, 1000), 0.1)  # shorter than one STFT frame: passed through as "other"
    out = separator.separate(tiny)
    assert torch.equal(out["other"], tiny) and float(out["vocals"].abs().max()) == 0.0


def test_deterministic(separator):
    x = _batch(synth_music(5.0, seed=3))
    a, b = separator.separate(x), separator.separate(x)
    assert all(torch.equal(a[s], b[s]) for s in SOURCES)


def test_make_separator():
    for spec in ("offline", {"backend": "offline"}, "offline:v1"):
        sep = make_separator(spec, device="auto", repo=None)
        assert isinstance(sep, OfflineSeparator)
        assert sep.id == "offline:v1" and sep.spec == {"backend": "offline", "model": "v1"}
        assert sep.device.type == "cpu"
    out = sep.separate(_batch(synth_music(3.0)))
    assert set(out) == set(SOURCES)


# -- offline:v2: features straight from the masked spectrogram ----------------
V2 = V2_PARAMS


@pytest.fixture(scope="module")
def v2() -> MaskedFeatureSeparator:
    return make_separator("offline:v2")


def _power(db: np.ndarray) -> float:
    """Total power of the mel rows of a feature array (dB back to power)."""
    return float((10.0 ** (db[..., : V2.n_mels, :].astype(np.float64) / 10)).sum())


@pytest.mark.parametrize("shape,pool", [((1, 1025, 1121), (2, 2)), ((2, 9, 13), (2, 3)), ((1, 7, 10), (3, 4))])
def test_cell_means_are_those_of_avg_pool_over_the_edge(shape, pool):
    x = torch.rand(shape)
    torch.testing.assert_close(_cell_means(x, pool), F.avg_pool2d(x.unsqueeze(1), pool, ceil_mode=True).squeeze(1))


def test_median9_is_the_median():
    values = [torch.randn(4, 5, 6) for _ in range(9)]
    assert torch.equal(median9(values), torch.stack(values, -1).median(-1).values)
    with pytest.raises(ValueError):
        median9(values[:8])


def test_v2_gives_features_of_every_source_and_no_audio(v2):
    x = _batch(synth_music(20.0, seed=1), synth_music(20.0, seed=2, root_hz=196.0)).numpy()
    out = v2.stem_features(x, ("mix",) + SOURCES, V2)
    assert v2.id == "offline:v2" and v2.feature_params == V2
    for name, f in out.items():
        assert f.shape == (2, V2.n_mels + V2.n_chroma, V2.frames(20.0)) and f.dtype == np.float32, name
        assert np.isfinite(f).all()
    # The mix is the audio path's features; each stem gets part of its energy and all of them add up to it
    # at most (masks sum to 1, so squared masks to at most 1).
    np.testing.assert_allclose(out["mix"], features_from_audio(x, SR, V2), atol=1e-3)
    stems = [_power(out[s]) for s in SOURCES]
    assert all(0 < p < _power(out["mix"]) for p in stems)
    assert 0.3 * _power(out["mix"]) < sum(stems) <= 1.0001 * _power(out["mix"])
    with pytest.raises(SeparatorError, match="stem features only"):
        v2.separate(torch.from_numpy(x))


def test_v2_masks_are_a_partition(v2):
    x = _batch(synth_music(10.0, seed=4)).numpy()
    power = power_spectrogram(to_mono(x, SR, V2), V2)
    masks, cell = stem_masks(power, V2)
    assert masks.shape == (1, 4, -(-power.shape[1] // cell), power.shape[2])
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]), atol=1e-5, rtol=0)


def test_v2_sends_clicks_to_drums_and_tones_to_bass_and_not_drums(v2):
    rng = np.random.default_rng(0)
    n = 8 * SR
    clicks = np.zeros(n, dtype=np.float32)
    for start in range(0, n - SR // 10, SR // 4):
        burst = rng.standard_normal(SR // 50) * np.exp(-np.arange(SR // 50) / (SR / 400))
        clicks[start : start + burst.size] += 0.5 * burst.astype(np.float32)
        clicks[start] += 0.9
    t = np.arange(n) / SR
    bass = 0.4 * np.sin(2 * np.pi * 55.0 * t)
    freq = 440.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    tone = 0.4 * np.sin(2 * np.pi * np.cumsum(freq) / SR)
    out = v2.stem_features(_batch(clicks, bass, tone).numpy(), ("mix",) + SOURCES, V2)
    share = {s: [_power(out[s][i]) / _power(out["mix"][i]) for i in range(3)] for s in SOURCES}
    assert share["drums"][0] > 0.4 and share["drums"][0] > 2 * share["vocals"][0]
    assert share["bass"][1] > 0.5
    assert share["drums"][2] < 0.2 and share["bass"][2] < 0.05


def test_v2_chroma_rows_name_the_pitch_class(v2):
    t = np.arange(5 * SR) / SR
    a440 = 0.3 * np.sin(2 * np.pi * 440.0 * t)  # A
    out = v2.stem_features(_batch(a440).numpy(), ("mix",), V2)["mix"][0]
    chroma = out[V2.n_mels :].mean(axis=1)
    assert int(np.argmax(chroma)) == 9  # C, C#, D, D#, E, F, F#, G, G#, A


def test_v2_silence_is_the_silence_level_and_windows_are_independent(v2):
    silent = v2.stem_features(np.zeros((1, 2, 5 * SR), np.float32), SOURCES, V2)
    for f in silent.values():
        assert np.all(f == np.float32(V2.silence_db))
    x = _batch(synth_music(6.0, seed=5), synth_music(6.0, seed=6)).numpy()
    together = v2.stem_features(x, SOURCES, V2)
    alone = v2.stem_features(x[1:], SOURCES, V2)
    again = v2.stem_features(x[1:], SOURCES, V2)
    for s in SOURCES:
        np.testing.assert_allclose(together[s][1:], alone[s], atol=1e-3)
        assert np.array_equal(alone[s], again[s])


def test_registry_and_options():
    assert make_separator({"backend": "offline", "model": "v2"}).id == "offline:v2"
    with pytest.raises(SeparatorError, match=r"unknown separator 'offline:v9' \(choose offline:v1, offline:v2, .*offline:v7\)"):
        make_separator("offline:v9")
    with pytest.raises(SeparatorError, match="takes no option 'repo'"):
        make_separator("offline:v2", repo="/somewhere")
    with pytest.raises(SeparatorError, match="takes no option 'shifts'"):
        make_separator("offline", shifts=1)


# -- offline:v3: one analysis per span of overlapping windows ------------------
def test_v3_single_window_span_is_v2():
    v3 = make_separator("offline:v3")
    x = np.ascontiguousarray(synth_music(6, SR, seed=3, drums=True).T, dtype=np.float32)  # (2, n) at 44.1 kHz
    half = to_mono(x[None], SR, V2)  # what v2 analyses: mono at 22,050 Hz
    span = v3.span_features(np.repeat(half, 2, axis=0), [0], half.shape[-1], ("mix",) + SOURCES, V2)
    alone = make_separator("offline:v2").stem_features(x[None], ("mix",) + SOURCES, V2)
    assert v3.analyses_spans and v3.id == "offline:v3" and v3.span_rate == V2.samplerate
    for s in alone:
        np.testing.assert_allclose(span[s], alone[s], atol=1e-3)


def test_v3_windows_are_their_frames_of_the_span():
    """The rows of a window cut from a span equal the window's own, away from its edges."""
    v3 = make_separator("offline:v3")
    rate = v3.span_rate
    x = np.ascontiguousarray(synth_music(9, rate, tempo=120, seed=5, drums=True).T, dtype=np.float32)
    length, offsets = 5 * rate, [0, 40 * V2.hop_length, 93 * V2.hop_length]
    out = v3.span_features(x, offsets, length, ("mix", "drums"), V2)
    frames = V2.frames(5.0)
    assert out["mix"].shape == out["drums"].shape == (3, V2.rows, frames)
    for i, o in enumerate(offsets):
        own = v3.span_features(x[:, o : o + length], [0], length, ("mix",), V2)["mix"][0]
        inner = slice(4, frames - 4)  # the STFT's edge frames see the zero padding or the span around
        np.testing.assert_allclose(out["mix"][i][:, inner], own[:, inner], atol=1e-3)
    with pytest.raises(ValueError, match="multiples"):
        v3.span_features(x, [0, V2.hop_length + 1], length, ("mix",), V2)


def test_only_v3_analyses_spans():
    assert not make_separator("offline:v2").analyses_spans
    with pytest.raises(SeparatorError, match="one by one"):
        make_separator("offline:v1").span_features(np.zeros((2, SR), np.float32), [0], SR, ("mix",), V2)


# -- offline:v4: v3's masks, the mel rows of a 512-point STFT --------------------
def test_v4_mix_is_the_audio_path_and_stems_partition_it():
    v4 = make_separator("offline:v4")
    rate = v4.span_rate
    x = np.ascontiguousarray(synth_music(8, rate, seed=7, drums=True).T, dtype=np.float32)
    length = 6 * rate
    offsets = [0, 86 * V4_PARAMS.hop_length]
    out = v4.span_features(x, offsets, length, ("mix",) + SOURCES, V4_PARAMS)
    assert v4.id == "offline:v4" and v4.analyses_spans and v4.feature_params == V4_PARAMS
    for f in out.values():
        assert f.shape == (2, V4_PARAMS.rows, V4_PARAMS.frames(6.0)) and np.isfinite(f).all()
    own = features_from_audio(x[:, offsets[1] : offsets[1] + length][None], rate, V4_PARAMS)[0]
    inner = slice(8, -8)  # edge frames see the span around the window
    np.testing.assert_allclose(out["mix"][1][:, inner], own[:, inner], atol=1e-3)
    mix = _power(out["mix"])
    stems = [_power(out[s]) for s in SOURCES]
    assert all(0 < p < mix for p in stems) and 0.3 * mix < sum(stems) <= 1.0001 * mix
    with pytest.raises(ValueError, match="multiples"):
        v4.span_features(x, [0, 128], length, ("mix",), V4_PARAMS)


def test_v4_drum_onsets_keep_the_short_frames_timing():
    """A click over a held tone: v4's drum rows hold it to one 11.6-ms frame; v3's 93-ms frames spread it."""
    rate = 22050
    x = 0.2 * np.sin(2 * np.pi * 220.0 * np.arange(4 * rate) / rate).astype(np.float32)[None]
    clicks = np.arange(22 * 512, x.shape[-1] - rate // 4, 22 * 512)  # every 0.51 s, on both hops' frames
    x[0, clicks] += 1.0
    around = {}
    for sid, params in (("offline:v4", V4_PARAMS), ("offline:v3", V2_PARAMS)):
        drums = make_separator(sid).span_features(x, [0], x.shape[-1], ("drums",), params)["drums"][0]
        energy = 10 * np.log10((10 ** (drums[: params.n_mels].astype(np.float64) / 10)).sum(axis=0))
        frames = [round(c / params.hop_length) for c in clicks]
        assert all(int(np.argmax(energy[f - 4 : f + 5])) == 4 for f in frames), sid  # the peak is the click's frame
        around[sid] = max(energy[f + d] - energy[f] for f in frames for d in (-1, 1))  # dB, next frames
        between = [energy[f + 8 : f + 12].max() - energy[f] for f in frames]  # 90-140 ms (v4), 190-280 ms (v3) later
        assert max(between) < -15, sid  # the tone stays out of the drums
    assert around["offline:v4"] < -10 and around["offline:v3"] > -7  # 11.6 ms away: 23 ms, half the 93-ms frame


def test_band_shares_are_the_stems_share_of_the_power_around_each_bin():
    power = torch.zeros(1, 1025, 3)
    power[0, 400] = 1.0  # one long bin: short bin 100 (at 4 x 100) sees it, and so does no other
    power[0, 40:48] = 2.0  # long bins 40-47: short bins 10 and 11 see them
    stems = torch.zeros(1, 2, 1026, 3)
    stems[0, 0, 400] = 0.25
    stems[0, 1, 40:44] = 2.0  # all the power of 40-43 in stem 1
    shares = band_shares(stems, power, 4)
    assert shares.shape == (1, 2, 257, 3)
    assert torch.allclose(shares[0, :, 100, 0], torch.tensor([0.25, 0.0]))
    assert torch.allclose(shares[0, 1, 10:13, 0], torch.tensor([1.0, 0.5, 0.0]))  # long bins 36-43, 40-47, 44-51
    assert float(shares[0, :, 50].abs().max()) == 0  # no power: share 0


# -- offline:v5: v4 with the short window's leakage in the shares -----------------
def test_v5_bass_rows_are_those_of_the_bass_alone_where_v4_cut_its_side_lobes():
    """A loud 55-Hz bass under a quiet 3-kHz tone: the short STFT of the bass alone leaks into
    0.3-1 kHz; v5's bass rows show that leakage as the stem audio does, v4's are far below it."""
    rate = 22050
    t = np.arange(6 * rate) / rate
    bass = (0.5 * np.sin(2 * np.pi * 55.0 * t)).astype(np.float32)
    x = (bass + 0.02 * np.sin(2 * np.pi * 3000.0 * t)).astype(np.float32)[None]
    alone = log_mel(bass, V4_PARAMS)[: V4_PARAMS.n_mels]
    centres = librosa.mel_frequencies(V4_PARAMS.n_mels + 2, fmax=rate / 2)[1:-1]
    low, leak = centres < 250, (centres > 300) & (centres < 1000)
    inner = slice(40, -40)
    gap = {}
    for sid in ("offline:v4", "offline:v5"):
        rows = make_separator(sid).span_features(x, [0], x.shape[-1], ("bass",), V4_PARAMS)["bass"][0]
        gap[sid] = (rows[: V4_PARAMS.n_mels] - alone)[:, inner].mean(axis=1)  # dB per band
    assert np.abs(gap["offline:v5"][low | leak]).max() < 0.5
    assert gap["offline:v4"][leak].max() < -15  # v4: the flat ±1-bin shares cut the leakage off


def test_leakage_shares_weigh_each_group_of_long_bins_by_the_short_windows_response():
    """Against a direct sum: short bin k sees long bins 4m..4m+3 with the mean power response of a
    512-point Hann window at their distance from 4k (0 under -100 dB); every band of 32 bins and both edges."""
    gen = torch.Generator().manual_seed(0)
    power = torch.rand(1, 1025, 3, generator=gen) ** 4
    power[..., 600:, 1] = 0.0  # no power from group 150 up: 0 past the reach (32 groups)
    stems = power.unsqueeze(1) * torch.rand(1, 2, 1025, 3, generator=gen) * 0.5
    shares = leakage_shares(torch.nn.functional.pad(stems, (0, 0, 0, 1)), power, 4)  # stems carry a padding bin

    response = np.abs(np.fft.rfft(np.hanning(513)[:-1], 2048)) ** 2
    response /= response[0]
    response[response < 1e-10] = 0.0
    group = np.arange(1025) // 4
    expected = np.zeros((2, 257, 3))
    for k in range(257):
        offsets = np.abs(4 * (group - k)[:, None] + np.arange(4))  # long bins of each bin's group, from 4k
        weight = response[np.minimum(offsets, 1024)].mean(axis=1)
        seen = (stems[0].double().numpy() * weight[None, :, None]).sum(axis=1)
        total = (power[0].double().numpy() * weight[:, None]).sum(axis=0)
        expected[:, k] = np.where(total > 0, seen / np.maximum(total, 1e-300), 0.0)
    assert shares.shape == (1, 2, 257, 3)
    np.testing.assert_allclose(shares[0].numpy(), expected, atol=1e-5)
    assert float(shares[0, :, 182:, 1].abs().max()) == 0 and float(shares[0, :, 181, 1].min()) > 0
    assert float(shares.sum(1).max()) <= 1.0


# -- offline:v7: offline:v1's masks on its grid, offline:v5's features -------------
def test_v7_masks_are_v1s_algorithm_on_every_bin_and_every_other_frame():
    """HPSS medians of 9 frames x 17 bins (scipy, mirrored edges) and v1's REPET-SIM over 15 frames, 46 ms apart."""
    from scipy.ndimage import median_filter

    from emomucs_core.separators.masks import BASS_CUTOFF, VOCAL_HIGHPASS, v1_grid_masks
    from emomucs_core.separators.offline import repeating_background

    rng = np.random.default_rng(8)
    x = synth_music(12.0, V2.samplerate, channels=1, tempo=100, seed=8)[:, 0]
    x = (x + 1e-3 * rng.standard_normal(x.size)).astype(np.float32)  # no two frames exactly alike
    power = power_spectrogram(x[None], V2)
    masks, cell = v1_grid_masks(power, V2)
    assert cell == 1 and masks.shape == (1, 4, *power.shape[1:])
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]), atol=1e-5, rtol=0)

    mag = power[0, :, ::2].sqrt().numpy()  # 46 ms apart
    along_time, along_freq = (median_filter(mag, size=s, mode="mirror") for s in ((1, 9), (17, 1)))
    harm = librosa.util.softmask(along_time, along_freq, power=2)
    perc = librosa.util.softmask(along_freq, along_time, power=2)
    h = mag * harm + 1e-8
    background = np.minimum(h, repeating_background(h, width=43, neighbours=15))  # 2 s at 21.5 frames/s
    fore = librosa.util.softmask(h - background, 2.0 * background, power=2)
    freqs = np.maximum(np.arange(mag.shape[0]) * V2.samplerate / V2.n_fft, 1.0)[:, None]
    vocals = harm * fore / (1 + (VOCAL_HIGHPASS / freqs) ** 8)
    bass = (harm - vocals) / (1 + (freqs / BASS_CUTOFF) ** 8)
    expected = np.stack([vocals, perc, bass, np.clip(1 - vocals - perc - bass, 0, 1)])
    np.testing.assert_allclose(masks[0, ..., ::2].numpy(), expected, atol=1e-4)
    # Frames between the grid's are half-way between their neighbours.
    torch.testing.assert_close(masks[0, ..., 1:-1:2], (masks[0, ..., :-2:2] + masks[0, ..., 2::2]) / 2)


def test_v7_is_v5_with_other_masks():
    v5, v7 = make_separator("offline:v5"), make_separator("offline:v7")
    assert v7.id == "offline:v7" and v7.feature_params == V4_PARAMS and v7.analyses_spans
    span = np.ascontiguousarray(synth_music(9, v7.span_rate, seed=2).T, dtype=np.float32)
    length = 5 * v7.span_rate
    five, seven = (s.span_features(span, [0, 40 * V4_PARAMS.hop_length], length, ("mix",) + SOURCES, V4_PARAMS)
                   for s in (v5, v7))
    np.testing.assert_array_equal(five["mix"], seven["mix"])
    for s in SOURCES:
        assert five[s].shape == seven[s].shape and not np.allclose(five[s], seven[s], atol=0.5), s
