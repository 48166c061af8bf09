"""Training and evaluation: in-memory data, trainer (full/freeze/finetune: options, epoch loop,
pre-training, fusion head), nested cross-validation, metrics, reports, the handcrafted
baseline and the CLI entry points."""

from .baseline import BaselineResult, baseline_cv
from .crossval import (
    CVResult, ModelSpec, cross_validate, grouped_folds, inner_splits, outer_folds, parse_spec,
    subsample_training,
)
from .data import Augment, FeatureSet, WindowDataset, load_feature_set
from .experiment import run_experiment, train_final, write_report
from .metrics import evaluate, quadrants_of, r2, rmse, summarise
from .inference import evaluate_model, predict, predict_proba
from .options import TrainOptions
from .trainer import train_model

__all__ = [
    "Augment", "BaselineResult", "load_feature_set", "CVResult", "FeatureSet", "ModelSpec", "TrainOptions", "WindowDataset",
    "baseline_cv", "cross_validate", "evaluate", "grouped_folds", "inner_splits", "outer_folds", "parse_spec",
    "evaluate_model", "predict", "predict_proba", "quadrants_of", "r2", "rmse", "run_experiment", "subsample_training",
    "summarise", "train_final", "train_model", "write_report",
]
