"""Model bundles: round trip, ids, and rejection of corrupt or mismatched files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import make_bundle
from emomucs_core.checkpoint import FORMAT_VERSION, BundleError, load_bundle


@pytest.mark.parametrize("config", [
    dict(arch="c1d", fusion="mid", head="logistic"),
    dict(arch="c1d", fusion="early", head="quadrant", descriptors=True, fusion_hidden=0),
])
def test_round_trip_keeps_weights_config_and_card(tmp_path, config):
    bundle = make_bundle(**config)
    if bundle.config.descriptors:  # buffers must travel too
        bundle.model.set_descriptor_normalisation("bass", torch.full((260,), 3.0), torch.full((260,), 2.0))
    bundle.metrics = {"quadrant_accuracy": 0.5}
    path = bundle.save(tmp_path / "b.safetensors")
    loaded = load_bundle(path)
    assert loaded.config == bundle.config
    assert loaded.separator == {"backend": "demucs", "model": "htdemucs"}
    assert loaded.metrics == {"quadrant_accuracy": 0.5}
    assert loaded.id == bundle.id and loaded.id.startswith("test-")
    x = {s: torch.randn(2, 96, 400) * 10 - 40 for s in bundle.config.sources}
    assert torch.equal(loaded.model(x), bundle.model.eval()(x))


def test_id_changes_with_the_weights(tmp_path):
    assert make_bundle(seed=1).id != make_bundle(seed=2).id


def _header(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["emomucs"])


def test_mismatched_config_is_rejected(tmp_path):
    path = make_bundle().save(tmp_path / "b.safetensors")
    header = _header(path)
    header["config"]["arch"] = "c1d"
    save_file(load_file(str(path)), str(path), metadata={"emomucs": json.dumps(header)})
    with pytest.raises(BundleError, match="do not match"):
        load_bundle(path)


def test_newer_format_is_rejected(tmp_path):
    path = make_bundle().save(tmp_path / "b.safetensors")
    header = _header(path)
    header["format_version"] = FORMAT_VERSION + 1
    save_file(load_file(str(path)), str(path), metadata={"emomucs": json.dumps(header)})
    with pytest.raises(BundleError, match="not supported"):
        load_bundle(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle", "foreign"])
def test_corrupt_or_foreign_files_are_rejected(tmp_path, damage):
    path = make_bundle().save(tmp_path / "b.safetensors")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "pickle":  # a torch pickle is never unpickled
        torch.save({"state": torch.zeros(1)}, path)
    else:
        save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_bundle_names_the_file(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope.safetensors")


def test_bundle_id_is_read_from_the_file_without_torch(tmp_path):
    """The plugin's torch-free id equals the loaded bundle's, for the built-in model and a saved one."""
    import subprocess
    import sys

    from emomucs_core.bundle_id import bundle_id

    saved = make_bundle().save(tmp_path / "b.safetensors")
    assert bundle_id(saved) == load_bundle(saved).id
    assert bundle_id() == load_bundle().id
    changed = make_bundle()
    with torch.no_grad():
        next(changed.model.parameters()).add_(1.0)
    assert bundle_id(changed.save(tmp_path / "c.safetensors")) != bundle_id(saved)
    code = "import sys; from emomucs_core.bundle_id import bundle_id; bundle_id(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not an emomucs bundle"):
        bundle_id(foreign)


def _rewrite_header(src, dest, **changes):
    """Copy the bundle at ``src`` to ``dest`` with header fields changed (weights as they are): a hand edit."""
    header = _header(src)
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (header[section] if section else header)[name] = value
    save_file(load_file(str(src)), str(dest), metadata={"emomucs": json.dumps(header)})
    return dest


def test_any_header_edit_gives_another_id(tmp_path):
    from emomucs_core.bundle_id import bundle_id

    saved = make_bundle().save(tmp_path / "b.safetensors")
    edited = _rewrite_header(saved, tmp_path / "e.safetensors", metrics={"quadrant_acc": 0.99})
    assert bundle_id(edited) != bundle_id(saved) and load_bundle(edited).id == bundle_id(edited)
    assert load_bundle(edited).id.startswith("test-")


@pytest.mark.parametrize("field, value, words", [
    ("window_seconds", 1e9, "window_seconds=1000000000.0 is outside 1..60"),
    ("window_seconds", float("nan"), "window_seconds=nan is outside"),
    ("window_seconds", None, "window_seconds=None is outside"),
    ("loudness_lufs", 20.0, "loudness_lufs=20.0 is outside -70..0"),
    ("mel.samplerate", 10**9, "mel.samplerate=1000000000 is outside 8000..96000"),
    ("mel.hop_length", 100.5, "mel.hop_length=100.5 is outside 16..16384 (an integer)"),
    ("mel.n_fft", "512", "mel.n_fft='512' is outside"),
    ("config.dropout", 1.0, "config.dropout=1.0 is outside 0..0.99"),
    ("config.sources", ["vocals", "banjo"], "config.sources=['vocals', 'banjo'] is not a list of distinct"),
    ("name", "x" * 500, "name 'xxxx"),
    ("separator", "demucs", "separator='demucs' is not a separator spec"),
])
def test_header_fields_out_of_bounds_are_refused_in_one_line(tmp_path, field, value, words):
    saved = make_bundle().save(tmp_path / "b.safetensors")
    edited = _rewrite_header(saved, tmp_path / "e.safetensors", **{field: value})
    with pytest.raises(BundleError) as caught:
        load_bundle(edited)
    message = str(caught.value)
    assert message.startswith(f"{edited}: header field ") and words in message and "\n" not in message


def test_a_header_within_bounds_loads(tmp_path):
    saved = make_bundle().save(tmp_path / "b.safetensors")
    for changes in ({"loudness_lufs": None}, {"loudness_lufs": -23.0}, {"window_seconds": 10}):
        assert load_bundle(_rewrite_header(saved, tmp_path / "ok.safetensors", **changes)).window_seconds > 0
