"""`--explain`: the text chart and the words, from stored contributions."""

from __future__ import annotations

import pytest

from beetsplug.emomucs.explain import HALF_WIDTH, bar, describe, explain, signed
from beetsplug.emomucs.points import TrackPoint

CONTRIBUTIONS = {
    "vocals": {"valence": -0.12, "arousal": 0.02},
    "drums": {"valence": 0.03, "arousal": 0.20},
    "bass": {"valence": 0.001, "arousal": -0.05},
    "other": {"valence": 0.04, "arousal": 0.0},
}


def test_words_say_direction_size_and_meaning():
    assert describe("vocals", "valence", -0.12) == "the vocals pull valence down by 0.12 (darker)"
    assert describe("drums", "arousal", 0.2) == "the drums push arousal up by 0.20 (more energetic)"
    assert describe("bass", "arousal", -0.05) == "the bass pulls arousal down by 0.05 (calmer)"
    assert describe("bass", "valence", 0.03) == "the bass pushes valence up by 0.03 (brighter)"
    assert describe("other", "valence", 0.004) == "the other instruments hardly change valence"
    assert describe("bass", "valence", -0.001) == "the bass hardly changes valence"


@pytest.mark.parametrize("value", [-0.2, -0.05, 0.0, 0.05, 0.2, 0.7])
def test_bar_sits_left_for_negative_and_right_for_positive(value):
    text = bar(value, 0.2)
    assert len(text) == 2 * HALF_WIDTH + 1 and text[HALF_WIDTH] == "│"
    left, right = text[:HALF_WIDTH], text[HALF_WIDTH + 1:]
    expected = min(HALF_WIDTH, round(abs(value) / 0.2 * HALF_WIDTH))
    assert left == ("█" * expected if value < 0 else "").rjust(HALF_WIDTH)  # blocks grow from the axis
    assert right == ("█" * expected if value > 0 else "").ljust(HALF_WIDTH)
    assert bar(value, 0.2, unicode=False).replace("#", "█").replace("|", "│") == text


def test_explain_lines_carry_values_baseline_and_one_row_per_source():
    point = TrackPoint("Band - Song", valence=0.40, arousal=0.71, dominant_source="drums", contributions=CONTRIBUTIONS)
    lines = explain(point)
    assert lines[0] == "Band - Song: valence 0.400, arousal 0.710 (tense)"
    for dim, value in (("valence", 0.40), ("arousal", 0.71)):
        head = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{dim} "))
        baseline = value - sum(c[dim] for c in CONTRIBUTIONS.values())
        assert f"{baseline:.3f} with no source" in lines[head]
        rows = lines[head + 1: head + 5]
        for source, row in zip(CONTRIBUTIONS, rows):
            c = CONTRIBUTIONS[source][dim]
            assert row.split()[0] == source
            assert signed(c) in row and describe(source, dim, c) in row
            axis = row.index("│")
            if abs(c) >= 0.01:
                assert ("█" in row[:axis]) == (c < 0) and ("█" in row[axis:]) == (c > 0)
    # the largest contribution (drums' arousal, 0.20) fills its half of the chart
    drums_arousal = [line for line in lines if line.strip().startswith("drums") and "+0.20" in line][0]
    assert "█" * HALF_WIDTH in drums_arousal
    # drums |0.03| + |0.20| = 0.23 lead vocals 0.14 by 0.09
    assert lines[-1] == "  dominant source: drums (drums 0.090 ahead of vocals)"


def test_a_contribution_that_rounds_to_zero_reads_plus_zero():
    tiny = {"vocals": {"valence": 0.2, "arousal": -0.004}, "drums": {"valence": 0.0, "arousal": 0.1},
            "bass": {"valence": 0.0, "arousal": 0.0}, "other": {"valence": 0.0, "arousal": 0.0}}
    rows = [line for line in explain(TrackPoint("A - B", valence=0.7, arousal=0.6, contributions=tiny))
            if line.strip().startswith("vocals")]
    assert "+0.20" in rows[0] and "+0.00  the vocals hardly change arousal" in rows[1]
    assert signed(-0.004) == signed(0.0) == "+0.00" and signed(-0.006) == "-0.01"


def test_a_near_tie_is_called_mixed():
    close = {"vocals": {"valence": 0.10, "arousal": 0.05}, "drums": {"valence": -0.09, "arousal": 0.055},
             "bass": {"valence": 0.0, "arousal": 0.01}, "other": {"valence": 0.01, "arousal": 0.0}}
    lines = explain(TrackPoint("A - B", valence=0.6, arousal=0.6, contributions=close))
    assert lines[-1] == "  dominant source: mixed (no source leads clearly: vocals 0.005 ahead of drums)"


def test_explain_says_when_there_is_nothing_to_explain():
    assert explain(TrackPoint("A - B")) == ["A - B: not analysed yet (run `beet emomucs` on it)"]
    assert explain(TrackPoint("A - B", error="not an audio file")) == ["A - B: could not be analysed (not an audio file)"]
    mix_only = explain(TrackPoint("A - B", valence=0.6, arousal=0.2))
    assert mix_only[0].endswith("(calm)") and "no per-source contributions" in mix_only[1]
