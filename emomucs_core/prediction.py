"""The result of one file: :class:`Prediction`, in plain Python types.

Neither torch nor numpy is imported here, so a process that only receives,
prints or stores results (the parent of worker processes, the plugin's
writer, a result-file reader) never loads them. Workers fill every field with
plain ``float``, ``str``, ``list`` and ``dict`` values, so a pickled
Prediction unpickles without numpy too.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Prediction:
    """The result for one file.

    valence, arousal : in [0, 1], 0.5 neutral (mean over windows); None on error.
    contributions : ``{source: {"valence": c, "arousal": c}}``, signed Shapley
        values in the same unit; per output they sum to the prediction minus
        the prediction with every source absent (silent, or average for a linear head).
    dominant_source : source with the largest ``|c_valence| + |c_arousal|``.
    windows : per window ``{"start": s, "valence": v, "arousal": a}`` (seconds, unit values).
    model_id : id of the bundle; elapsed : wall seconds spent on this file.
    error : one-line reason when the file could not be analysed.
    duration : decoded length of the file in seconds (None when it could not be decoded).
    warnings : one-line remarks on a result that was still produced (short track looped,
        band-limited or very quiet input, truncated file, silent windows left out).
    quadrant_probabilities : P(Q1), P(Q2), P(Q3), P(Q4) (mean over windows) for a
        quadrant head; None for other heads and on error.
    """

    path: Path
    valence: float | None = None
    arousal: float | None = None
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    dominant_source: str | None = None
    windows: list[dict[str, float]] = field(default_factory=list)
    model_id: str = ""
    elapsed: float = 0.0
    error: str | None = None
    duration: float | None = None
    warnings: list[str] = field(default_factory=list)
    quadrant_probabilities: list[float] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        """The JSON record: every field, ``path`` as an absolute path string."""
        out = asdict(self)
        out["path"] = os.path.abspath(self.path)
        return out
