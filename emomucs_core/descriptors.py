"""Global descriptors of a log-mel window: timbre, modulation and rhythm statistics.

The descriptor branch of a source model (``NetConfig.descriptors``) summarises
its whole 20-s window in 260 numbers (with 96 mel bands), computed from the
same log-mel input as the CNN, in torch, so training and inference share one
code path and a bundle needs nothing else:

- ``mfcc``: MFCC 1-20 (orthonormal DCT-II of the log-mel frame) as mean, std and
  mean absolute frame-to-frame change over time (60);
- ``flux``: mean absolute frame-to-frame change of every mel band (n_mels);
- ``modulation``: log modulation energy of 16 pooled mel bands in 6 octave bands
  of modulation frequency, 0.25-16 Hz (96);
- ``rhythm``: loudness mean, std and 10/50/90th percentiles, onset-strength std,
  and the height and lag (s) of the onset autocorrelation peak between 50 and
  200 BPM (8).

Parts that need a longer window than given (a modulation band with no frequency
bin, a beat period longer than the window) are 0 before the log / as peak and lag.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

N_MFCC = 20
MOD_BANDS = 16
#: Edges (Hz) of the modulation-frequency bands.
MOD_EDGES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: Floor (dB) under which log-mel values count as silence.
FLOOR_DB = -80.0
#: Onset-autocorrelation lags searched for the beat period: 200 to 50 BPM (s).
BEAT_LAGS = (60 / 200, 60 / 50)


def descriptor_size(n_mels: int) -> int:
    """Number of descriptor values for ``n_mels`` mel bands."""
    return 3 * N_MFCC + n_mels + MOD_BANDS * (len(MOD_EDGES) - 1) + 8


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n_out, n_in)`` (as ``scipy.fft.dct(norm="ortho")``)."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2 / n_in)
    m[0] /= math.sqrt(2)
    return m.float()


def window_descriptors(logmel: torch.Tensor, frame_rate: float) -> torch.Tensor:
    """Descriptors of log-mel windows ``(B, n_mels, T)`` in dB: ``(B, descriptor_size(n_mels))``.

    ``frame_rate``: frames per second of the log-mel (Hz).
    """
    x = logmel.float().clamp_min(FLOOR_DB)
    n_mels = x.shape[1]
    change = x.diff(dim=-1)

    mfcc = torch.einsum("km,bmt->bkt", dct_matrix(N_MFCC, n_mels).to(x.device), x)
    timbre = [mfcc.mean(-1), mfcc.std(-1, unbiased=False), mfcc.diff(dim=-1).abs().mean(-1)]

    bands = F.adaptive_avg_pool1d(x.transpose(1, 2), MOD_BANDS).transpose(1, 2)  # (B, 16, T)
    bands = bands - bands.mean(-1, keepdim=True)
    spectrum = torch.fft.rfft(bands, dim=-1).abs() / bands.shape[-1]
    freqs = torch.fft.rfftfreq(bands.shape[-1], 1 / frame_rate).to(x.device)
    in_band = torch.stack([(freqs >= lo) & (freqs < hi) for lo, hi in zip(MOD_EDGES[:-1], MOD_EDGES[1:])], -1)
    modulation = spectrum @ in_band.float() / in_band.sum(0).clamp_min(1)  # (B, 16, 6); 0 if no bin
    modulation = (modulation + 1e-6).log().flatten(1)

    loud = x.mean(1)
    onset = change.clamp_min(0).mean(1)
    onset = onset - onset.mean(-1, keepdim=True)
    auto = _autocorrelation(onset)
    lags = torch.arange(auto.shape[-1], device=x.device) / frame_rate
    beat = (lags > BEAT_LAGS[0]) & (lags < BEAT_LAGS[1])
    peak, where = torch.where(beat, auto, -math.inf).max(dim=-1)
    if not beat.any():  # window shorter than a beat period
        peak, where = torch.zeros_like(peak), torch.zeros_like(where)
    rhythm = torch.stack(
        [loud.mean(-1), loud.std(-1, unbiased=False),
         *torch.quantile(loud, torch.tensor([0.1, 0.5, 0.9], device=x.device), dim=-1),
         onset.std(-1, unbiased=False), peak, lags[where]],
        dim=-1,
    )
    return torch.cat(timbre + [change.abs().mean(-1), modulation, rhythm], dim=-1)


def _autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """Autocorrelation of ``(B, T)`` at lags ``0..T-1``, normalised by lag 0."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, n=2 * n, dim=-1)
    auto = torch.fft.irfft(spec.abs() ** 2, n=2 * n, dim=-1)[:, :n]
    return auto / (auto[:, :1] + 1e-9)
