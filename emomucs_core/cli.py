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
    click.echo(f"features   log-mel {bundle.mel.n_mels} bands, {bundle.mel.samplerate} Hz, "
               f"FFT {bundle.mel.n_fft}, hop {bundle.mel.hop_length}, {bundle.window_seconds:g}-s windows")
    click.echo(f"separator  {sep['backend'] + ':' + sep.get('model', '') if sep else 'none (mix only)'}")
    for title, section in (("data", bundle.data), ("metrics", bundle.metrics)):
        if section:
            click.echo(f"{title:<10} {json.dumps(section, indent=None)[:2000]}")
if __name__ == "__main__":
    main()
