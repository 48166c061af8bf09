"""Command line: ``emomucs predict|info|train|evaluate``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from . import __version__


@click.group()
@click.version_option(__version__, prog_name="emomucs")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """EmoMucs: valence, arousal and the dominant source of music files."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


_model_option = click.option(
    "--model", "model", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Model bundle (.safetensors); default: the model shipped with emomucs.",
)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_model_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--windows", default=3, show_default=True, help="20-s windows analysed per track.")
@click.option("--batch-size", default=4, show_default=True, help="Windows per batch.")
@click.option("--threads", default=2, show_default=True, help="Decoding threads.")
@click.option("--separator", default=None, help="Override the bundle's separator, e.g. demucs:htdemucs or offline.")
@click.option("--demucs-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local folder with demucs weights (.th/.yaml).")
def predict(files, model, as_json, device, windows, batch_size, threads, separator, demucs_repo) -> None:
    """Predict valence and arousal of FILES.

    Errors go to stderr, one line per file; the exit status is non-zero only
    when no file succeeded.
    """
    from .checkpoint import BundleError
    from .predictor import Predictor
    from .separation import SeparatorError

    try:
        predictor = Predictor(model, separator=separator, device=device, windows=windows,
                              batch_size=batch_size, threads=threads, demucs_repo=demucs_repo)
    except (BundleError, SeparatorError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    succeeded = 0
    if not as_json:
        click.echo(f"{'valence':>7} {'arousal':>7}  {'dominant':<8} file")
    for result in predictor.predict(files):
        if not result.ok:
            click.echo(f"error: {result.path}: {result.error}", err=True)
            continue
        succeeded += 1
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        else:
            click.echo(f"{result.valence:7.3f} {result.arousal:7.3f}  {result.dominant_source or '-':<8} {result.path}")
    if not succeeded:
        sys.exit(1)


@main.command()
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw bundle header as JSON.")
def info(model, as_json) -> None:
    """Print the model card: config, separator, training data and metrics."""
    from .checkpoint import BundleError, load_bundle
    from .nets import count_parameters

    try:
        bundle = load_bundle(model)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    header = bundle.header()
    if as_json:
        click.echo(json.dumps({"id": bundle.id, **header}, indent=2))
        return
    cfg = bundle.config
    sep = bundle.separator
    click.echo(f"model      {bundle.id}")
    click.echo(f"network    {cfg.arch.upper()} {'+'.join(cfg.sources)}"
               f"{' ' + cfg.fusion + ' fusion' if len(cfg.sources) > 1 else ''}, {cfg.head} head, "
               f"{count_parameters(bundle.model):,} parameters")
    chroma = f" + {cfg.n_chroma} chroma" if cfg.n_chroma else ""
    click.echo(f"features   log-mel {bundle.mel.n_mels} bands{chroma}, {bundle.mel.samplerate} Hz, "
               f"FFT {bundle.mel.n_fft}, hop {bundle.mel.hop_length}, {bundle.window_seconds:g}-s windows")
    if cfg.descriptors:
        click.echo(f"groups     descriptors of {', '.join(cfg.descriptor_groups)}")
    nested = bundle.metrics.get("nested_cv")
    if nested:
        click.echo("accuracy   nested CV: " + ", ".join(
            f"{label} {nested[key]['mean']:.3f} ± {nested[key]['std']:.3f}"
            for key, label in (("quadrant_acc", "quadrant"), ("valence_bacc", "valence sign (bal.)"),
                               ("arousal_bacc", "arousal sign (bal.)"), ("Q3_recall", "sad (Q3) recall"))
            if key in nested))
    click.echo(f"separator  {sep['backend'] + ':' + sep.get('model', '') if sep else 'none (mix only)'}")
    for title, section in (("data", bundle.data), ("metrics", bundle.metrics)):
        if section:
            click.echo(f"{title:<10} {json.dumps(section, indent=None)[:2000]}")
_DATASETS = ("pmemo", "4q", "deam", "csv")


def _data_options(func):
    """Options shared by ``train`` and ``evaluate``: where the data is and how it is featurised."""
    options = [
        click.option("--dataset", type=click.Choice(_DATASETS), required=True, help="Dataset layout."),
        click.option("--data", type=click.Path(exists=True, path_type=Path), required=True,
                     help="Dataset folder (for csv: the CSV file)."),
        click.option("--separator", default="offline", show_default=True, help="offline, spleeter or demucs[:model]."),
        click.option("--demucs-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Local folder with demucs weights."),
        click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Feature cache folder [default: ~/.cache/emomucs/features]."),
        click.option("--windows", default=3, show_default=True, help="20-s windows per clip."),
        click.option("--epochs", default=30, show_default=True),
        click.option("--lr", default=1e-3, show_default=True),
        click.option("--batch-size", default=16, show_default=True),
        click.option("--head", type=click.Choice(["regression", "logistic", "quadrant"]), default="regression",
                     show_default=True, help="Output head (spec suffixes override it)."),
        click.option("--seed", default=0, show_default=True),
        click.option("--threads", default=2, show_default=True, help="torch threads."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load_features(dataset, data, separator, demucs_repo, cache, windows, sources):
    """Clips of a dataset, their cached (or newly computed) features, the separator spec and the cache."""
    import os

    from .datasets import load_dataset
    from .datasets.cache import FeatureCache, build_cache
    from .separation import make_separator
    from .training import load_feature_set

    log = logging.getLogger("emomucs")
    clips = load_dataset(dataset, data)
    cache_dir = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emomucs" / "features"
    feature_cache = FeatureCache(cache_dir)
    sep = make_separator(separator, repo=demucs_repo, device="auto")
    click.echo(f"{len(clips)} clips; separator {sep.id}; features cached in {feature_cache.folder}", err=True)
    features, missing = load_feature_set(clips, feature_cache, sep.id, sources, windows)
    if missing:  # read once when everything is cached; otherwise build what is missing and read again
        build_cache(missing, feature_cache, sep, sources, windows, progress=log.info)
        features, missing = load_feature_set(clips, feature_cache, sep.id, sources, windows, log=log.info)
    if features is None:
        raise click.ClickException(f"none of the {len(clips)} clips in {data} could be analysed")
    if missing:
        click.echo(f"{len(missing)} clips could not be analysed and are left out", err=True)
    kept = set(map(id, missing))
    return [c for c in clips if id(c) not in kept], features, sep.spec, feature_cache


def _sources_of(specs, head):
    from .training import parse_spec
    from .training.spec import STEMS

    return sorted({s for spec in specs for s in parse_spec(spec, head).cfg.sources},
                  key=("mix", *STEMS).index)


@main.command()
@_data_options
@click.option("--models", default="c2d-m,c2d-late-freeze", show_default=True,
              help="Comma-separated specs <arch>-<input>[-<mode>][-<head>], e.g. c1d-mid-freeze.")
@click.option("--folds", default=5, show_default=True, help="Outer cross-validation folds.")
@click.option("--inner-folds", default=1, show_default=True,
              help="Inner splits (of 5) averaged to choose among a grid of settings (Python API only: "
                   "the CLI trains one setting, early-stopping on the first inner split).")
@click.option("--baseline/--no-baseline", default=True, help="Also the handcrafted logistic baseline.")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Train on this fraction of each training part's artists (test parts unchanged): a learning curve.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder: report.md, results.json, PNG figures (a rerun resumes).")
def evaluate(dataset, data, separator, demucs_repo, cache, windows, epochs, lr, batch_size, head, seed, threads,
             models, folds, inner_folds, baseline, train_fraction, out) -> None:
    """Cross-validate models on a dataset and write a report (paper Tables 1-2, Fig. 3-4)."""
    import numpy as np

    from .training import TrainOptions, run_experiment

    specs = [m.strip() for m in models.split(",") if m.strip()]
    clips, features, _, feature_cache = _load_features(
        dataset, data, separator, demucs_repo, cache, windows, _sources_of(specs, head))
    hand = None
    if baseline:
        from .datasets.handcrafted import cached_summary_features

        hand = np.stack([cached_summary_features(c.path, feature_cache) for c in clips])
    result = run_experiment(features, specs, out, k=folds, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                            inner_folds=inner_folds, head=head, options=TrainOptions(threads=threads),
                            baseline_features=hand, train_fraction=train_fraction,
                            title=f"EmoMucs cross-validation on {dataset} ({data.name})",
                            log=logging.getLogger("emomucs").info)
    click.echo(f"report: {result['report']}")


@main.command()
@_data_options
@click.option("--model", "spec", default="c2d-late-freeze", show_default=True, help="Model spec to train.")
@click.option("--metrics", "metrics_json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="results.json of an `emomucs evaluate` run: its metrics for this spec go on the card.")
@click.option("--name", default="emomucs", show_default=True, help="Bundle name (the id adds a hash).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Bundle to write.")
def train(dataset, data, separator, demucs_repo, cache, windows, epochs, lr, batch_size, head, seed, threads,
          spec, metrics_json, name, out) -> None:
    """Train one model on a whole dataset and save it as a bundle."""
    from .training import TrainOptions, train_final

    _, features, sep_spec, _ = _load_features(dataset, data, separator, demucs_repo, cache, windows,
                                              _sources_of([spec], head))
    metrics = {}
    if metrics_json:
        rows = json.loads(metrics_json.read_text()).get("models", [])
        metrics = next(({"cross_validation": r.get("summary", r)} for r in rows if r.get("name") == spec), {})
    bundle = train_final(features, spec, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, head=head,
                         options=TrainOptions(threads=threads), separator=sep_spec, name=name,
                         data_info={"dataset": dataset, "source": str(data)}, metrics=metrics,
                         log=logging.getLogger("emomucs").info)
    bundle.save(out)
    click.echo(f"saved {bundle.id} to {out}")


if __name__ == "__main__":
    main()
