"""Command line: ``emomucs predict|info|train|evaluate``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from . import __version__
from .printable import printable


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
@click.argument("files", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@_model_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--windows", type=click.IntRange(min=1), default=3, show_default=True,
              help="20-s windows analysed per track.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Windows per batch [default: 16 on a GPU; on the CPU 4, or 1 with one thread per worker].")
@click.option("--threads", default=2, show_default=True, help="Decoding threads.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes, each with its own model [default: all cores]; with --engine ray and "
                   "no --address: the CPUs of the local Ray.")
@click.option("--separator", default=None, help="Override the bundle's separator, e.g. demucs:htdemucs or offline.")
@click.option("--demucs-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local folder with demucs weights (.th/.yaml).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Append one record per file to this result file (JSON lines; Parquet when it ends in "
                   ".parquet) as results arrive; files already in it are skipped.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: Ray Data over a pool of predictor actors (needs --out and the [ray] extra).")
@click.option("--address", default=None, help="Ray cluster address [default: start a local Ray].")
@click.option("--actors", type=click.IntRange(min=1), default=None,
              help="Ray engine: predictor actors [default: one per GPU, else one per CPU].")
@click.option("--files-per-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Ray engine: files per batch (the unit of work and of output flushes).")
def predict(files, model, as_json, device, windows, batch_size, threads, jobs, separator, demucs_repo,
            out, engine, address, actors, files_per_batch) -> None:
    """Predict valence and arousal of FILES (folders in FILES are walked for audio files).

    A file that cannot be analysed gets a one-line error on stderr (and, with
    --json, a record whose "error" says why); warnings about a result go to
    stderr too. Control characters in names (a newline) are escaped (\\n) in
    the table and in those lines. Exit status: 0 when at least one file was
    analysed, 1 when every file failed, 2 for a usage error or a model,
    separator or device that cannot be used.
    """
    predictor_kwargs = dict(bundle=model, separator=separator, device=device, windows=windows,
                            batch_size=batch_size, threads=threads, demucs_repo=demucs_repo)
    try:
        if engine == "ray":
            if out is None:
                raise click.UsageError("--engine ray writes its results to a file: give --out results.jsonl")
            from .ray_engine import predict_on_ray
            from .results import collect_inputs

            summary = predict_on_ray(collect_inputs(files), out, address=address, jobs=jobs, actors=actors,
                                     files_per_batch=files_per_batch, on_batch=_echo_errors, **predictor_kwargs)
        else:
            summary = _predict_locally(files, jobs=jobs, as_json=as_json, out=out, predictor_kwargs=predictor_kwargs)
    except Exception as exc:  # model and separator errors come before any result
        if _is_user_error(exc):
            raise _SetupError(str(exc)) from None
        raise
    if out is not None:
        click.echo(f"{out}: {summary.ok} analysed, {summary.errors} errors, {summary.skipped} already there", err=True)
    if not summary.ok and not summary.skipped:
        sys.exit(1)


def _is_user_error(exc: Exception) -> bool:
    """A bad model, separator, result file or a missing Ray: a one-line message, no traceback."""
    from .ray_engine import RayUnavailable
    from .results import ResultsError

    if isinstance(exc, (ValueError, RayUnavailable, ResultsError)):
        return True
    from .checkpoint import BundleError  # imports torch: only when something went wrong
    from .separators import SeparatorError

    return isinstance(exc, (BundleError, SeparatorError))


def _echo_errors(records: list[dict]) -> None:
    for record in records:
        if record["error"] is not None:
            click.echo(f"error: {printable(record['path'])}: {printable(record['error'])}", err=True)


def _predict_locally(files, *, jobs, as_json, out, predictor_kwargs):
    """``predict_files`` over FILES: printed, or appended to the result file ``out`` (resuming) when given."""
    from contextlib import nullcontext

    from .parallel import available_cores, predict_files  # light: torch loads in the workers
    from .results import ResultWriter, RunSummary, collect_inputs, pending_paths

    summary = RunSummary()
    if out is None:
        given, files = files, collect_inputs(files, absolute=False)  # shown as typed
        if not files:
            click.echo(f"error: no audio files in {', '.join(map(printable, given))}", err=True)
    else:
        inputs = collect_inputs(files)
        files = pending_paths(inputs, out)
        summary.skipped = len(inputs) - len(files)
    if not files:
        return summary
    jobs = min(jobs or available_cores(), len(files))
    where = "" if jobs == 1 else f" in {jobs} worker processes"
    click.echo(f"emomucs: loading model{where} ...", err=True)
    with ResultWriter(out) if out is not None else nullcontext() as writer:
        for result in predict_files(files, jobs=jobs, on_ready=_echo_loaded, **predictor_kwargs):
            for warning in result.warnings:
                click.echo(f"warning: {printable(result.path)}: {printable(warning)}", err=True)
            if writer is not None:
                writer.write([result.to_dict()])
            elif as_json:  # a record for every file, failed ones included
                click.echo(json.dumps(result.to_dict()))
            if not result.ok:
                summary.errors += 1
                click.echo(f"error: {printable(result.path)}: {printable(result.error)}", err=True)
                continue
            summary.ok += 1
            if writer is not None or as_json:
                continue
            if summary.ok == 1:
                click.echo(f"{'valence':>7} {'arousal':>7}  {'dominant':<8} file")
            click.echo(f"{result.valence:7.3f} {result.arousal:7.3f}  {result.dominant_source or '-':<8} "
                           f"{printable(result.path)}")
    return summary


def _echo_loaded(model_id: str, workers: int, seconds: float) -> None:
    by = f" by {workers} workers" if workers > 1 else ""
    click.echo(f"emomucs: model {model_id} loaded{by} ({seconds:.1f} s)", err=True)


class _SetupError(click.ClickException):
    """A model or separator that cannot be loaded: exit status 2, like a usage error."""

    exit_code = 2


@main.command()
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole bundle header as JSON, values exact.")
def info(model, as_json) -> None:
    """Print the model card: id, training data, accuracy, separator, descriptor groups, extractors, loudness.

    ``--json`` prints everything the bundle records. Exit status 2 for a model that cannot be
    loaded, as for ``predict``.
    """
    from .checkpoint import BundleError, load_bundle
    from .model_card import card_lines

    try:
        bundle = load_bundle(model)
    except BundleError as exc:
        raise _SetupError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"id": bundle.id, **bundle.header()}, indent=2))
        return
    for line in card_lines(bundle):
        click.echo(line)
    click.echo("(everything the bundle records, values exact: emomucs info --json)")


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
    from .separators import make_separator
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
    options = TrainOptions(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, threads=threads)
    result = run_experiment(features, specs, out, k=folds, inner_folds=inner_folds, head=head, options=options,
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
    options = TrainOptions(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, threads=threads)
    bundle = train_final(features, spec, head=head, options=options, separator=sep_spec, name=name,
                         data_info={"dataset": dataset, "source": str(data)}, metrics=metrics,
                         log=logging.getLogger("emomucs").info)
    bundle.save(out)
    click.echo(f"saved {bundle.id} to {out}")


if __name__ == "__main__":
    main()
