"""An analysis run: which items need one, the loop that analyses and stores them, and ``beet emomucs`` itself.

Each result is stored as it arrives (after its file's tags are whole); Ctrl-C
marks the items not reached, so the next run analyses them even without ``-f``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beets import ui, util

from emomucs_core.printable import printable

from .albums import update_albums
from .claims import Claim
from .engine import model_description
from .errors import model_errors
from .fields import DEFAULT_FIELDS, ERROR_FIELD, MODEL_FIELD, PENDING_FIELD, value_without_album
from .output import counted, no_match, result_line, track_names
from .progress import Progress, say
from .storing import apply
from .writing import write_item_tags

if TYPE_CHECKING:
    from beets.library import Item, Library


def needs_analysis(plugin, item: Item, force: bool = False) -> bool:
    """True when forced, left by an interrupted run, or without values from the current model (not failed)."""
    if force or value_without_album(item, PENDING_FIELD):
        return True
    if value_without_album(item, ERROR_FIELD):
        return False
    return (value_without_album(item, plugin.fields["valence"]) is None
            or value_without_album(item, MODEL_FIELD) != plugin.model_id)


def command(plugin, lib: Library, opts, args: list[str]) -> None:
    """``beet emomucs [-f] [-w|-W] [-p] [-m] [-c] [QUERY]``: analyse (or list, count) the items that need it."""
    force = opts.force if opts.force is not None else plugin.config["force"].get(bool)
    live = sys.stderr.isatty()
    matched = list(lib.items(args))
    try:
        items = [i for i in matched if plugin.needs_analysis(i, force)]
    except model_errors() as exc:
        raise ui.UserError(str(exc)) from None
    if not matched:
        plugin._log.info("{}", no_match(args))
    mention_failed(plugin, matched, items)
    names = track_names(matched)
    if opts.missing or opts.count:
        if opts.missing:
            for item in items:
                ui.print_(names[item.id])
        if opts.count:
            ui.print_(f"{counted(len(items), 'item')} to analyse")
        return
    if not items:
        if matched:
            plugin._log.info("nothing to analyse (use -f to re-analyse)")
        return
    write = plugin.should_write(opts.write)
    try:
        done, failed, unwritten = analyse(plugin, items, write=write, pretend=opts.pretend, live=live,
                                          echo=opts.pretend or live, names=names, device=opts.device,
                                          threads=opts.threads, jobs=opts.jobs)
    except model_errors() as exc:
        raise ui.UserError(str(exc)) from None
    except KeyboardInterrupt:
        if not opts.pretend:
            left = sum(1 for i in lib.items(args) if value_without_album(i, PENDING_FIELD))
            flag = ["-w"] if write else ["-W"] if opts.write is False else []
            again = " ".join(["beet emomucs", *flag, *map(shlex.quote, args)])
            plugin._log.warning("interrupted: finished tracks are stored; run `{}` to analyse the {} left",
                                again, left)
        raise
    unwritten = f", {counted(unwritten, 'tag write')} failed" if unwritten else ""
    plugin._log.info("{} analysed, {} failed{}{}", done, failed, unwritten,
                     " (pretend: nothing stored)" if opts.pretend else "")
    if failed or unwritten:  # a non-zero exit status, as beets gives any error
        raise ui.UserError(f"{counted(failed, 'track')} of {len(items)} failed" if failed
                           else "some tags could not be written")


def mention_failed(plugin, matched: list[Item], chosen: list[Item]) -> None:
    """Say how many tracks of ``matched`` (the query) failed before and are not retried now (else hidden)."""
    ids = {i.id for i in chosen}
    earlier = sum(1 for i in matched if i.id not in ids and value_without_album(i, ERROR_FIELD))
    if earlier:
        plugin._log.info("{} failed earlier (see `beet ls {}::.`, `-f` retries)", counted(earlier, "track"),
                         ERROR_FIELD)


def announce(plugin, live: bool) -> None:
    """Say what is loading, once per process, just before it loads (loading takes seconds)."""
    if not plugin._announced:
        plugin._announced = True
        say(f"loading {model_description(plugin._path_option('model'))}…", live=live, log=plugin._log)


def analyse(
    plugin,
    items: list[Item],
    *,
    write: bool = False,
    pretend: bool = False,
    live: bool = False,
    echo: bool = False,
    names: dict[int, str] | None = None,
    **predictor_options: Any,
) -> tuple[int, int, int]:
    """Analyse ``items``, storing each as its result arrives. Returns (done, failed, tag writes failed).

    A file that does not exist fails at once, without the model (which loads only for files that do).

    live : draw a progress bar (a terminal); otherwise log one line per track.
    echo : print every result line (``-p``, or a terminal).
    names : each item's name by id (:func:`output.track_names` of the query), else those of ``items``.
    predictor_options : for ``plugin.predictions`` (device, threads, jobs).
    """
    if not items:
        return 0, 0, 0
    log = plugin._log
    names = names or track_names(items)
    lib = items[0]._db
    done = failed = unwritten = 0
    with Claim(None if pretend or lib is None else lib.path) as claim, \
            Progress(len(items), live=live, log=log) as progress:
        busy = claim.take(i.id for i in items)
        if busy:
            log.warning("{} of {} {} being analysed by another run: skipped", len(busy),
                        counted(len(items), "track"), "is" if len(busy) == 1 else "are")
            items = [i for i in items if i.id not in busy]
            progress.total = len(items)
        if not items:
            return 0, 0, 0
        present = [i for i in items if os.path.lexists(util.syspath(i.path))]
        if len(present) < len(items):
            missing = len(items) - len(present)
            log.warning("{} of {} {} not exist", missing, counted(len(items), "file"),
                        "does" if missing == 1 else "do")
        if present:
            announce(plugin, live)
        finished = 0
        try:
            results = _with_missing(items, present, plugin.predictions(
                [util.syspath(i.path) for i in present], **predictor_options))
            progress.begin()
            progress.working_on(names[items[0].id])
            for n, (item, prediction) in enumerate(zip(items, results)):
                old = {key: value_without_album(item, plugin.fields[key]) for key in DEFAULT_FIELDS}
                if prediction.ok:
                    done += 1
                else:
                    failed += 1
                    log.error("{}: {}", printable(util.displayable_path(item.path)), printable(prediction.error))
                if not pretend:
                    apply(plugin.fields, item, prediction)
                    if write and prediction.ok and not write_item_tags(plugin, item):
                        unwritten += 1
                    item.store()  # after the file is whole: an interrupted write stores nothing
                finished += 1
                progress.working_on(names[items[n + 1].id] if n + 1 < len(items) else None)
                line = printable(result_line(plugin.fields, names[item.id], prediction, old)) if prediction.ok else None
                progress.finished(line, echo=echo)
        except KeyboardInterrupt:
            if not pretend:
                mark_pending(items[finished:])
            raise
        finally:
            if not pretend and lib is not None:
                update_albums(plugin, lib, (i.album_id for i in items))
    return done, failed, unwritten


def mark_pending(items: list[Item]) -> None:
    """Mark items an interrupted run did not reach: the next run analyses them, even without -f.

    Marked on fresh copies from the database: the item in progress may hold
    results in memory that must not be stored.
    """
    lib = items[0]._db if items else None
    if lib is None:
        return
    with lib.transaction():
        for stale in items:
            item = lib.get_item(stale.id)
            if item is not None:
                item[PENDING_FIELD] = 1
                item.store()


def _with_missing(items: list[Item], present: list[Item], results: Iterator) -> Iterator:
    """One Prediction per item in order: "file not found" for items not in ``present``, else the next of ``results``."""
    from emomucs_core.prediction import Prediction

    present_ids = {i.id for i in present}
    for item in items:
        yield next(results) if item.id in present_ids else Prediction(Path(os.fsdecode(item.path)),
                                                                     error="file not found")
