"""Demucs .th weights are read with weights_only=True: real packages load, crafted and corrupt ones fail in one line."""

from __future__ import annotations

import pickle

import pytest
import torch

from emomucs_core.separators import SeparatorError, load_demucs
from emomucs_core.testing import write_demucs_repo


class _RunsCode:
    """Unpickles as a call to ``exec``: what a malicious .th file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_a_model_saved_by_demucs_loads_with_its_weights(tmp_path):
    from demucs.apply import BagOfModels
    from demucs.htdemucs import HTDemucs

    repo = write_demucs_repo(tmp_path / "repo", name="htdemucs", size="small", seed=3)
    model = load_demucs("htdemucs", repo)
    assert isinstance(model, BagOfModels) and isinstance(model.models[0], HTDemucs)
    saved = torch.load(next(repo.glob("*.th")), weights_only=False)["state"]  # our own file: safe here
    loaded = model.models[0].state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_a_crafted_th_file_does_not_run_code(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    marker = tmp_path / "marker"
    torch.save({"klass": _RunsCode(marker), "args": (), "kwargs": {}, "state": {}}, repo / "evil.th")
    (repo / "htdemucs.yaml").write_text("models: ['evil']\n")
    with pytest.raises(SeparatorError) as info:
        load_demucs("htdemucs", repo)
    assert not marker.exists()
    assert "\n" not in str(info.value) and "evil.th" in str(info.value)
    # demucs' own loader would have run it: the file is a real threat, not a dud.
    from demucs.states import load_model

    with pytest.raises(Exception):
        load_model(repo / "evil.th")
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("damage", ["random", "truncated", "plain pickle"])
def test_a_corrupt_th_file_is_a_one_line_error(tmp_path, damage):
    repo = write_demucs_repo(tmp_path / "repo", name="htdemucs", size="small")
    th = next(repo.glob("*.th"))
    data = th.read_bytes()
    if damage == "random":
        th.write_bytes(torch.randint(0, 256, (len(data),), dtype=torch.uint8).numpy().tobytes())
    elif damage == "truncated":
        th.write_bytes(data[: len(data) // 2])
    else:
        th.write_bytes(pickle.dumps(["not", "a", "model"]))
    renamed = th.with_name(th.name.split("-")[0] + ".th")  # no checksum in the name: the loader itself must object
    th.rename(renamed)
    with pytest.raises(SeparatorError) as info:
        load_demucs("htdemucs", repo)
    message = str(info.value)
    assert "\n" not in message and message.startswith("cannot load demucs model 'htdemucs'")
