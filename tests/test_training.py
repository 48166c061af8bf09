"""Tests of emomucs_core.training on small synthetic feature sets with a learnable signal.

Valence is encoded in the energy of mel bands 20-40 of "vocals" (and the mix), arousal
in bands 60-80 of "drums" (and the mix); bass and other are noise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emomucs_core.checkpoint import Bundle, load_bundle
from emomucs_core.nets import EmoMucs, NetConfig
from emomucs_core.training import (
    Augment, FeatureSet, TrainOptions, WindowDataset, baseline_cv, cross_validate, evaluate, evaluate_model,
    inner_splits, outer_folds, parse_spec, predict, quadrants_of, r2, rmse, run_experiment, subsample_training,
    train_final, train_model,
)
from emomucs_core.training import crossval as crossval_module
from emomucs_core.training.metrics import balanced_accuracy, summarise

STEMS = ("vocals", "drums", "bass", "other")
QUIET = dict(log=lambda msg: None)


def synthetic(n: int = 40, k: int = 3, t: int = 64, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    v, a = rng.random(n), rng.random(n)
    feats = {}
    for s in ("mix",) + STEMS:
        x = rng.normal(-40, 3, (n, k, 96, t))
        if s in ("vocals", "mix"):
            x[:, :, 20:40] += 20 * (v[:, None, None, None] - 0.5)
        if s in ("drums", "mix"):
            x[:, :, 60:80] += 20 * (a[:, None, None, None] - 0.5)
        feats[s] = x.astype(np.float16)
    targets = np.stack([v, a], axis=1)
    return FeatureSet(feats, targets, [f"artist{i // 2}" for i in range(n)], quadrants_of(targets))


@pytest.fixture(scope="module")
def data() -> FeatureSet:
    return synthetic()


@pytest.fixture(scope="module")
def small() -> FeatureSet:
    """Fewer clips for the plumbing tests (speed)."""
    return synthetic(n=24, seed=1)


def fast(**kw) -> TrainOptions:
    """Short schedules; one thread (tiny tensors gain nothing from two, and lose under load)."""
    return TrainOptions(**{"head_epochs": 15, "ignore_first": 1, "patience": 4, "threads": 1, **kw})


# -- metrics ---------------------------------------------------------------------
def test_rmse_and_r2_by_hand():
    y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    p = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 0.5]])
    assert rmse(y, p) == pytest.approx([0.25, 0.0])  # sqrt(0.25 / 4)
    assert r2(y, p) == pytest.approx([1 - 0.25 / 0.5, 1.0])  # SS_tot = 0.25 + 0.25
    assert np.isnan(r2(np.ones((3, 1)), np.zeros((3, 1))))[0]


def test_quadrants_and_balanced_accuracy_by_hand():
    unit = np.array([[0.9, 0.9], [0.1, 0.9], [0.1, 0.1], [0.9, 0.1]])
    assert quadrants_of(unit) == ["Q1", "Q2", "Q3", "Q4"]
    assert balanced_accuracy([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx((2 / 3 + 1) / 2)
    # True Q1 Q1 Q3 Q4; predicted Q1 Q2 Q3 Q3.
    preds = np.array([[0.8, 0.8], [0.2, 0.8], [0.2, 0.2], [0.2, 0.2]])
    targets = np.array([[1, 1], [1, 1], [0, 0], [1, 0]], float)
    m = evaluate(targets, preds, ["Q1", "Q1", "Q3", "Q4"])
    assert m["quadrant_acc"] == pytest.approx(0.5)
    assert m["valence_bacc"] == pytest.approx((1 / 3 + 1) / 2)  # V+: 1 of 3 right; V-: 1 of 1
    assert m["arousal_bacc"] == pytest.approx(1.0)  # A+: 2/2, A-: 2/2
    # Quadrants from a classifier override the signs of the predictions.
    assert evaluate(targets, preds, None, ["Q1", "Q1", "Q3", "Q4"])["quadrant_acc"] == 1.0
    s = summarise([{"x": 1.0}, {"x": 3.0}])
    assert s["x"] == {"mean": 2.0, "std": 1.0}


# -- data ------------------------------------------------------------------------
def test_band_stats_use_training_clips_only(data):
    idx = np.array([3, 1, 7])
    mean, std = data.band_stats(idx, ("vocals",))["vocals"]
    x = data.feats["vocals"][np.sort(idx)].astype(np.float64)
    assert mean.shape == (96,)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 3)), rtol=1e-4)


def test_window_dataset_training_and_evaluation_items(data):
    train = WindowDataset(data, np.arange(5), ("vocals", "drums"), train=True,
                          augment=Augment(shift=4, p=1.0), seed=1)
    x, y, i = train[2]
    assert x["vocals"].shape == (96, 64) and x["vocals"].dtype == torch.float32
    assert torch.equal(y, torch.from_numpy(data.targets[2])) and i == 2
    evaluation = WindowDataset(data, np.arange(5), ("vocals",), train=False)
    assert evaluation[0][0]["vocals"].shape == (3, 96, 64)


def test_augment_applies_the_same_shift_to_every_source():
    rng = np.random.default_rng(0)
    base = np.arange(10 * 20, dtype=np.float32).reshape(10, 20)
    out = Augment(shift=5, freq_masks=0, time_masks=0, p=0.0).apply({"a": base, "b": base.copy()}, rng)
    assert np.array_equal(out["a"], out["b"])
    assert sorted(out["a"].ravel()) == sorted(base.ravel())


# -- training --------------------------------------------------------------------
def test_training_beats_a_constant_predictor(data):
    tr, va, te = np.arange(24), np.arange(24, 32), np.arange(32, 40)
    model, history = train_model(NetConfig(arch="c1d", sources=("mix",)), data, tr, va,
                                 options=fast(epochs=12, lr=3e-3, batch_size=8), **QUIET)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    pred = predict(model, data, te)
    constant = np.broadcast_to(data.targets[tr].mean(axis=0), pred.shape)
    assert (rmse(data.targets[te], pred) < 0.8 * rmse(data.targets[te], constant)).all()


def test_c2d_accepts_short_inputs_thanks_to_ceil_mode_pooling(data):
    model = EmoMucs(NetConfig(sources=("mix",)))
    assert model({"mix": torch.zeros(2, 96, 64)}).shape == (2, 2)
    model, history = train_model(NetConfig(sources=("mix",)), data, np.arange(30), np.arange(30, 40),
                                 options=fast(epochs=2, batch_size=8), **QUIET)
    assert np.isfinite(history[-1]["train_loss"]) and np.isfinite(history[-1]["val_loss"])


def _init_head(cfg: NetConfig, seed: int) -> dict:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in EmoMucs(cfg).fusion_head.state_dict().items()}


def _pretrained_states(folder) -> dict[str, dict]:
    out = {}
    for path in folder.glob("*.pt"):
        source = path.name.split("-")[2]
        out[source] = {k.split(".", 2)[2]: v for k, v in torch.load(path, weights_only=True)["state"].items()}
    return out


@pytest.mark.parametrize("mode", ["freeze", "finetune"])
def test_freeze_keeps_source_nets_and_finetune_changes_them(small, tmp_path, mode):
    cfg = NetConfig(arch="c1d", sources=STEMS, fusion="late")
    opts = fast(epochs=2, lr=3e-3, batch_size=8, seed=3, pretrain_dir=str(tmp_path), finetune_epochs=2,
                finetune_lr_factor=0.5)
    model, history = train_model(cfg, small, np.arange(18), np.arange(18, 24), mode=mode, options=opts, **QUIET)
    pretrained = _pretrained_states(tmp_path)
    assert sorted(pretrained) == sorted(STEMS)
    same = [all(torch.equal(model.source_nets[s].state_dict()[k], v) for k, v in pretrained[s].items())
            for s in STEMS]
    assert all(same) if mode == "freeze" else not any(same)
    head = model.fusion_head.state_dict()
    assert any(not torch.equal(head[k], v) for k, v in _init_head(cfg, 3).items())
    stages = {h["stage"] for h in history}
    assert {"pretrain:vocals", "head"} <= stages and (("finetune" in stages) == (mode == "finetune"))


def test_linear_head_refits_the_penalty_with_the_best_validation_loss(small, tmp_path):
    cfg = NetConfig(arch="c1d", sources=STEMS, fusion="early", head="quadrant", descriptors=True, fusion_hidden=0)
    train, val = np.arange(18), np.arange(18, 24)
    penalties = (0.001, 0.1, 10.0)
    model, history = train_model(cfg, small, train, val, mode="freeze", options=fast(
        epochs=2, lr=3e-3, batch_size=8, pretrain_dir=str(tmp_path), head_l2=penalties), **QUIET)
    rows = [h for h in history if h["stage"] == "head"]
    assert [r["l2"] for r in rows] == list(penalties)
    assert rows[0]["train_loss"] < rows[-1]["train_loss"]  # a weaker penalty fits the training windows closer
    refit = history[-1]
    assert refit["stage"] == "head-refit" and refit["l2"] == min(rows, key=lambda r: r["val_loss"])["l2"]
    # the refit saw the validation clips too: it fits them better than the chosen fit on training clips alone
    assert evaluate_model(model, small, val)["loss"] < min(r["val_loss"] for r in rows)
    norm, _ = model.fusion_head
    assert not torch.equal(norm.std, torch.ones_like(norm.std))  # standardised on the training windows


def test_desc_models_fit_only_a_linear_head(small):
    cfg = NetConfig(arch="desc", sources=STEMS, fusion="early", head="quadrant", fusion_hidden=0)
    model, history = train_model(cfg, small, np.arange(18), np.arange(18, 24), mode="freeze",
                                 options=fast(head_l2=(0.1, 1.0)), **QUIET)
    assert cfg.descriptors and {h["stage"] for h in history} == {"head", "head-refit"}
    assert sum(p.numel() for p in model.parameters()) == 4 * 260 * 4 + 4
    with pytest.raises(ValueError, match="freeze"):
        train_model(cfg, small, np.arange(18), np.arange(18, 24), mode="full", options=fast(), **QUIET)
    with pytest.raises(ValueError, match="several sources"):
        NetConfig(arch="desc", sources=("mix",), fusion="early", fusion_hidden=0)


def test_descriptor_statistics_come_from_the_training_clips(small):
    cfg = NetConfig(arch="c1d", sources=("vocals",), head="quadrant", descriptors=True)
    model, _ = train_model(cfg, small, np.arange(12), np.arange(12, 24), options=fast(epochs=1), **QUIET)
    mean, std = small.descriptor_stats(np.arange(12), ("vocals",), cfg.frame_rate)["vocals"]
    norm = model.source_nets["vocals"].glob.desc_norm
    assert np.allclose(norm.mean.numpy(), mean) and not np.allclose(norm.mean.numpy(), 0)
    other, _ = small.descriptor_stats(np.arange(12, 24), ("vocals",), cfg.frame_rate)["vocals"]
    assert not np.allclose(other, mean)


# -- cross-validation ----------------------------------------------------------------
def test_folds_never_share_a_group(data):
    folds = outer_folds(data, k=4, seed=0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(data)))
    groups = np.asarray(data.groups)
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        for itr, iva in inner_splits(data, tr, k=3, n=3):
            assert not set(groups[itr]) & set(groups[iva])
            assert set(itr) | set(iva) == set(tr)


def test_subsampled_training_parts_keep_whole_artists_and_nest(data):
    folds = outer_folds(data, k=4, seed=0)
    groups = np.asarray(data.groups)
    half, quarter = (subsample_training(folds, data.groups, f, seed=3) for f in (0.5, 0.25))
    for (tr, te), (h_tr, h_te), (q_tr, _) in zip(folds, half, quarter):
        assert np.array_equal(te, h_te) and set(q_tr) <= set(h_tr) < set(tr)
        n_artists = len(set(groups[tr]))
        assert len(set(groups[h_tr])) == round(n_artists / 2)
        assert set(h_tr) == set(np.flatnonzero(np.isin(groups, groups[h_tr]))) - set(te)  # whole artists only
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(subsample_training(folds, data.groups, 1.0), folds))
    with pytest.raises(ValueError, match="fraction"):
        subsample_training(folds, data.groups, 0.0)


def test_parse_spec():
    s = parse_spec("c2d-m")
    assert s.cfg.sources == ("mix",) and s.mode == "full"
    s = parse_spec("c1d-mid-finetune-logistic")
    assert s.cfg.fusion == "mid" and s.cfg.sources == STEMS and s.mode == "finetune" and s.cfg.head == "logistic"
    assert parse_spec("c2d-vocals").cfg.sources == ("vocals",)
    s = parse_spec("c1d-early-freeze-quadrant-desc-linear")
    assert s.cfg.descriptors and s.cfg.fusion_hidden == 0 and not s.cfg.summary and s.mode == "freeze"
    for bad in ("c3d-m", "c2d-mid", "c2d-m-freeze", "c2d-late-sometimes", "desc-early-linear", "desc-m-freeze-linear"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_result_keys_hold_only_settings_that_differ_from_their_defaults():
    from emomucs_core.training.options import settings_key

    assert settings_key(NetConfig(), TrainOptions(threads=1)) == [{}, {}]  # threads never change results
    assert settings_key(NetConfig(arch="c1d", descriptors=True), TrainOptions(head_l2=(1.0,))) == [
        {"arch": "c1d", "descriptors": True}, {"head_l2": (1.0,)}]


def test_resume_skips_finished_folds(small, tmp_path, monkeypatch):
    data = small
    calls = []
    real = crossval_module.train_model

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crossval_module, "train_model", counting)
    kw = dict(k=3, options=fast(epochs=2, batch_size=8), **QUIET)
    first = cross_validate(data, "c1d-m", tmp_path, **kw)
    assert len(calls) == 3 and first.trained == [0, 1, 2]
    again = cross_validate(data, "c1d-m", tmp_path, **kw)
    assert len(calls) == 3 and again.resumed == [0, 1, 2]
    np.testing.assert_allclose(again.preds, first.preds, atol=1e-6)
    (tmp_path / "c1d-m" / "fold1.json").unlink()
    third = cross_validate(data, "c1d-m", tmp_path, **kw)
    assert len(calls) == 4 and third.trained == [1] and third.resumed == [0, 2]
    changed = cross_validate(data, "c1d-m", tmp_path, **{**kw, "options": fast(epochs=3, batch_size=8)})  # no reuse
    assert len(calls) == 7 and changed.resumed == []


def test_grid_selection_uses_inner_folds(small):
    grid = [{"lr": 1e-6}, {"lr": 1e-2}]
    res = cross_validate(small, "c1d-m", None, k=2, inner_k=3, inner_folds=2, grid=grid,
                         options=fast(epochs=3, batch_size=4), **QUIET)
    assert all(len(f["grid_scores"]) == 2 for f in res.folds)
    assert all(f["params"] == grid[int(np.argmin(f["grid_scores"]))] for f in res.folds)
    assert all(np.isfinite(f["grid_scores"]).all() for f in res.folds)


def test_fused_cv_gives_subset_values_and_contributions(small):
    data = small
    res = cross_validate(data, "c1d-late-freeze", None, k=2, options=fast(epochs=2, batch_size=8), **QUIET)
    assert res.values.shape == (16, len(data), 2) and res.contributions.shape == (len(data), 4, 2)
    np.testing.assert_allclose(res.values[-1], res.preds, atol=1e-5)  # all sources present = prediction
    empty = res.values[0]
    np.testing.assert_allclose(res.contributions.sum(axis=1), res.preds - empty, atol=1e-4)  # efficiency
    assert len(res.subset_metrics(data)) == 15
    assert set(res.dominant()) <= set(STEMS)


# -- baseline, report, final model ------------------------------------------------------
def test_baseline_on_informative_features(data):
    X = np.stack([data.feats["vocals"][:, :, 20:40].astype(float).mean(axis=(1, 2, 3)),
                  data.feats["drums"][:, :, 60:80].astype(float).mean(axis=(1, 2, 3)),
                  np.random.default_rng(0).normal(size=len(data))], axis=1)
    folds = outer_folds(data, k=4)
    quad = baseline_cv(X, data.targets, data.groups, data.quadrants, folds=folds, C=1.0)
    binary = baseline_cv(X, data.targets, data.groups, data.quadrants, folds=folds, C=1.0, kind="binary")
    assert quad.summary["quadrant_acc"]["mean"] > 0.7
    assert binary.summary["valence_bacc"]["mean"] > 0.8 and binary.summary["arousal_bacc"]["mean"] > 0.8
    assert not np.isnan(quad.preds).any()


def test_run_experiment_writes_report_tables_and_figures(small, tmp_path):
    data = small
    X = data.targets + np.random.default_rng(1).normal(0, 0.1, data.targets.shape)
    out = run_experiment(data, ["c1d-m", "c1d-late-freeze"], tmp_path, k=2,
                         options=fast(epochs=2, batch_size=8), baseline_features=X, **QUIET)
    report = (tmp_path / "report.md").read_text()
    assert "| handcrafted-logreg |" in report and "| c1d-m | 31,058 |" in report
    assert "| c1d-late-freeze |" in report and "| C1D | late | freeze |" in report
    assert "vocals + drums + bass + other" in report
    for name in ("c1d-late-freeze-va.png", "c1d-late-freeze-ablation.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert [Path.name for Path in out["figures"]] == ["c1d-late-freeze-va.png", "c1d-late-freeze-ablation.png"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == ["handcrafted-logreg", "c1d-m", "c1d-late-freeze"]


def test_run_experiment_learning_curve_trains_on_fewer_clips(small, tmp_path):
    X = small.targets + np.random.default_rng(1).normal(0, 0.1, small.targets.shape)
    out = run_experiment(small, ["c1d-m"], tmp_path, k=2, options=fast(epochs=1, batch_size=8),
                         baseline_features=X, train_fraction=0.5, **QUIET)
    full = [len(tr) for tr, _ in outer_folds(small, 2)]
    cnn = out["results"]["c1d-m"]
    assert all(f["n_train"] + f["n_val"] < n for f, n in zip(cnn.folds, full))
    assert json.loads((tmp_path / "results.json").read_text())["settings"]["train_fraction"] == 0.5


def test_train_final_bundle_round_trip(small, tmp_path):
    data = small
    bundle = train_final(data, "c1d-early-full", options=fast(epochs=2, batch_size=8),
                         separator={"backend": "offline"}, name="test-model", metrics={"cv": {"x": 1}}, **QUIET)
    assert isinstance(bundle, Bundle) and bundle.data["clips"] == len(data)
    path = bundle.save(tmp_path / "m.safetensors")
    loaded = load_bundle(path)
    assert loaded.id == bundle.id and loaded.separator == {"backend": "offline"}
    assert loaded.metrics["cv"] == {"x": 1} and "final_val" in loaded.metrics
    idx = np.arange(len(data))
    np.testing.assert_array_equal(predict(loaded.model, data, idx), predict(bundle.model, data, idx))


def test_train_final_keeps_held_out_figures_of_a_refitted_linear_head(small):
    bundle = train_final(small, "desc-early-freeze-quadrant-linear", options=fast(head_l2=(0.1, 1.0)), **QUIET)
    assert bundle.data["train_clips"] < len(small) == bundle.data["refit_clips"]
    val = bundle.metrics["final_val"]
    # the refitted head saw the validation clips: its in-sample loss there is lower than the reported one
    _, va = inner_splits(small, np.arange(len(small)), 5, 1, 0)[0]
    assert evaluate_model(bundle.model, small, va)["loss"] < val["loss"]


def test_quadrant_and_logistic_heads_train_and_report_quadrants(small):
    tr, va = np.arange(18), np.arange(18, 24)
    for head in ("quadrant", "logistic"):
        cfg = NetConfig(arch="c1d", sources=("mix",), head=head)
        model, history = train_model(cfg, small, tr, va, options=fast(epochs=3, batch_size=6), **QUIET)
        assert np.isfinite(history[-1]["val_loss"])
        p = predict(model, small, va)
        assert p.shape == (6, 2) and ((p >= 0) & (p <= 1)).all()
    res = cross_validate(small, "c1d-late-freeze-quadrant", None, k=2, options=fast(epochs=2, batch_size=8),
                         **QUIET)
    assert res.cfg.head == "quadrant" and res.values.shape == (16, len(small), 2)
    assert all(len(f["pred_quadrants"]) == len(f["test_idx"]) for f in res.folds)


class Interrupt(Exception):
    pass


def reference_then_interrupt(args: tuple, kw: dict, at: str, mode: str = "full", **folders):
    """A whole training of ``args`` with ``fast(**kw)``, then one with ``folders`` too, interrupted at the
    first log message containing ``at``; returns the first model and the second one's options."""
    reference, _ = train_model(*args, mode=mode, options=fast(**kw), **QUIET)
    opts = fast(**kw, **folders)

    def log(msg: str) -> None:
        if at in msg:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_model(*args, mode=mode, options=opts, log=log)
    return reference, opts


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_an_interrupted_training_resumes_at_the_last_epoch(small, tmp_path):
    args = (NetConfig(arch="c1d", sources=("mix",)), small, np.arange(18), np.arange(18, 24))
    reference, opts = reference_then_interrupt(args, dict(epochs=5, batch_size=6, seed=2), "epoch 3/5",
                                               checkpoint_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.ckpt"))) == 1
    messages = []
    resumed, history = train_model(*args, options=opts, log=messages.append)
    assert any("resumed" in m and "after epoch 2" in m for m in messages)
    assert sum("epoch" in m and "/5" in m for m in messages) == 3
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4]
    assert not list(tmp_path.glob("*.ckpt"))  # removed when the stage ends
    assert_same_weights(reference, resumed)


def test_an_interrupted_finetune_stage_resumes_with_the_same_weights(small, tmp_path):
    cfg = NetConfig(arch="c1d", sources=STEMS, fusion="early")
    args = (cfg, small, np.arange(18), np.arange(18, 24))
    kw = dict(epochs=2, batch_size=8, seed=1, finetune_epochs=3, head_epochs=4)
    reference, opts = reference_then_interrupt(args, kw, "[finetune] epoch 3/3", mode="finetune",
                                               pretrain_dir=str(tmp_path / "pre"), checkpoint_dir=str(tmp_path / "ckpt"))
    assert [p.name.split("-")[0] for p in (tmp_path / "ckpt").glob("*.ckpt")] == ["finetune"]
    messages = []
    resumed, history = train_model(*args, mode="finetune", options=opts, log=messages.append)
    assert sum("reused" in m for m in messages) == len(STEMS) and any("resumed finetune-" in m for m in messages)
    assert [h["epoch"] for h in history if h["stage"] == "finetune"] == [0, 1, 2]
    assert_same_weights(reference, resumed)


def test_a_checkpoint_that_cannot_be_applied_restarts_the_stage_from_scratch(small, tmp_path):
    from emomucs_core.training.loop import ResumeState

    args = (NetConfig(arch="c1d", sources=("mix",)), small, np.arange(18), np.arange(18, 24))
    reference, opts = reference_then_interrupt(args, dict(epochs=3, batch_size=6, seed=2), "epoch 2/3",
                                               checkpoint_dir=str(tmp_path))
    path = next(tmp_path.glob("*.ckpt"))
    state = ResumeState.load(path)
    assert state.epoch == 0 and len(state.history) == 1 and state.model is not None
    # weights that load, then an optimiser state that does not: nothing of the file may stay
    state.model = {k: v + 1 if v.is_floating_point() else v for k, v in state.model.items()}
    state.optimiser = {"state": {}, "param_groups": []}
    state.save(path)
    messages = []
    restarted, history = train_model(*args, options=opts, log=messages.append)
    assert any("cannot resume" in m and "starting over" in m for m in messages)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert_same_weights(reference, restarted)


def test_load_feature_set_reads_the_feature_cache(tmp_path):
    from emomucs_core.datasets.cache import FeatureCache, _mel_params
    from emomucs_core.datasets.clip import Clip
    from emomucs_core.features import MelParams
    from emomucs_core.training.data import load_feature_set

    cache = FeatureCache(tmp_path / "cache")
    clips = []
    for i in range(3):
        audio = tmp_path / f"{i}.mp3"
        audio.write_bytes(bytes([i]) * 100)  # only the content digest matters for the key
        clips.append(Clip(path=audio, valence=0.0, arousal=1.0, artist="x", id=str(i), quadrant="Q2"))
    for i, clip in enumerate(clips[:2]):
        key = cache.key(clip.path, "offline:v1", _mel_params(MelParams(), 3, 20.0))
        k = 3 if i == 0 else 2
        windows = np.arange(k, dtype=np.float16)[:, None, None] + 10 * i
        cache.save(key, {s: np.broadcast_to(windows, (k, 96, 16)) for s in ("mix", "vocals")})
    data, missing = load_feature_set(clips, cache, "offline:v1", ("mix", "vocals"))
    assert len(data) == 2 and missing == [clips[2]]
    assert data.feats["vocals"].shape == (2, 3, 96, 16) and data.ids == ["0", "1"]
    assert data.feats["mix"][:, :, 0, 0].tolist() == [[0, 1, 2], [10, 11, 10]]  # 2 windows repeat cyclically
    assert data.quadrants == ["Q2", "Q2"] and data.groups == ["artist:x", "artist:x"]
    assert load_feature_set(clips[2:], cache, "offline:v1", ("mix",)) == (None, [clips[2]])


def test_pretrained_source_models_are_shared_across_fusions_and_modes(small, tmp_path):
    kw = dict(k=2, options=fast(epochs=2, batch_size=8))
    cross_validate(small, "c1d-late-freeze", tmp_path, **kw, **QUIET)
    messages = []
    cross_validate(small, "c1d-early-finetune", tmp_path, **kw, log=messages.append)
    assert sum("reused" in m for m in messages) == 2 * len(STEMS)
    assert not any(m.startswith("pretrain") and "clips" in m for m in messages)


def test_table2_tells_variants_of_the_same_fusion_apart():
    from emomucs_core.training.report import table2

    summary = {"quadrant_acc": {"mean": 0.5, "std": 0.1}}
    rows = [{"config": parse_spec(spec, "quadrant").cfg.to_dict(), "mode": "freeze", "summary": summary}
            for spec in ("c1d-early-freeze", "c1d-early-freeze-summary", "c1d-early-freeze-desc-linear",
                         "desc-early-freeze-linear", "c1d-m")]
    lines = table2(rows).splitlines()[2:]
    assert len(lines) == 4  # the mix model is not fused
    assert [line.split("|")[4].strip() for line in lines] == ["-", "descriptors, linear head", "summary", "linear head"]
