"""Tag music with valence, arousal, mood and the dominant source (EmoMucs).

The plugin is thin: it picks items, hands their paths to the engine
(:meth:`EmoMucsPlugin.predictions`) and stores what comes back, in the
database and (optionally) in the files' tags. Heavy imports (torch, demucs,
librosa) happen only when something is analysed.

Modules: ``fields`` (database fields, types, queries), ``labels`` (mood,
confidence, dominant source), ``tags`` (file tag definitions), ``writing``
(safe tag writes), ``progress`` (live progress), ``claims`` (concurrent runs),
``errors``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beets import config, ui, util
from beets.plugins import BeetsPlugin

from emomucs_core.constants import SOURCES
from emomucs_core.printable import printable

from . import commands as view_commands
from . import labels
from .claims import Claim
from .errors import SetupError, model_errors, one_line
from .fields import (
    ANALYSED_FIELD,
    CONFIDENCE_FIELD,
    COUNT,
    DIMENSIONS,
    ERROR_FIELD,
    MARGIN_FIELD,
    MODEL_FIELD,
    PENDING_FIELD,
    STRING,
    ChoiceString,
    DerivedString,
    clear,
    emotion_float,
    reset_type_cache,
    source_field,
    value_without_album,
)
from .progress import Progress, say
from .tags import DEFAULT_TAGS, MOOD_ATTR, register_media_fields
from .writing import write_tags

if TYPE_CHECKING:
    from beets.library import Album, Item, Library

#: Database field names by default; keys are the keys of the ``fields:`` option.
DEFAULT_FIELDS = {"valence": "valence", "arousal": "arousal", "dominant_source": "dominant_source", "mood": "mood",
                  "warnings": "emomucs_warnings"}


class EmoMucsPlugin(BeetsPlugin):
    """Valence, arousal, mood and dominant source for every track."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.config.add(
            {
                "auto": True,
                "write": None,  # None: follow import.write
                "force": False,
                "model": None,  # None: the packaged default bundle
                "device": "auto",
                "demucs_repo": None,
                "windows": 3,
                "batch_size": 0,  # windows per batch; 0: the predictor's rule
                "threads": 2,
                "jobs": 0,  # worker processes; 0: one per core
                "separator": None,  # None: the separator the bundle was trained with
                "fields": DEFAULT_FIELDS,
                "tags": DEFAULT_TAGS,  # `no`: never write file tags
                "mood_tag": False,  # also write the standard mood tag (TMOO, MOOD, ...)
            }
        )
        self.fields = {key: self.config["fields"][key].as_str() for key in DEFAULT_FIELDS}
        self.tags = self._tag_names()
        self.tag_attrs = register_media_fields(self.tags)
        valence, arousal = (emotion_float(self.fields[d], 0.0, 1.0) for d in DIMENSIONS)
        self.item_types = {
            self.fields["valence"]: valence,
            self.fields["arousal"]: arousal,
            self.fields["dominant_source"]: ChoiceString(self.fields["dominant_source"], (*SOURCES, labels.MIXED)),
            self.fields["mood"]: DerivedString(self.fields["mood"], self.fields["valence"], self.fields["arousal"]),
            self.fields["warnings"]: STRING,
            MARGIN_FIELD: emotion_float(MARGIN_FIELD, 0.0, 2.0),
            CONFIDENCE_FIELD: emotion_float(CONFIDENCE_FIELD, 0.0, 1.0),
            MODEL_FIELD: STRING,
            ERROR_FIELD: STRING,
            PENDING_FIELD: COUNT,
            **{source_field(s, d): emotion_float(source_field(s, d), -1.0, 1.0) for s in SOURCES for d in DIMENSIONS},
        }
        self.album_types = {self.fields["valence"]: valence, self.fields["arousal"]: arousal, ANALYSED_FIELD: COUNT}
        self._take_display_getters()
        reset_type_cache()
        self.register_listener("pluginload", reset_type_cache)
        self.register_listener("write", self.on_write)
        self.register_listener("import_task_files", self.on_import_task_files)
        # beets wraps listeners to set this plugin's log level and refuses to nest them; this
        # one runs inside our own stores (import stage, cli_exit), so it is added unwrapped
        # (it does not log).
        BeetsPlugin.listeners["database_change"].append(self.on_database_change)
        self.register_listener("cli_exit", self.on_cli_exit)
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]
        self._bundle = None
        self._predictors: dict[tuple, Any] = {}
        self._import_error: str | None = None
        self._changed_albums: set[int] = set()
        self._announced = False

    #: The instance whose display getters are registered (beets refuses two plugins defining one).
    _getters_owner: EmoMucsPlugin | None = None

    def _take_display_getters(self) -> None:
        """Show each item's own valence/arousal, never its album's mean.

        Without these computed fields, beets shows an unanalysed track its
        album's mean (flexible-field fallback), and ``$valence`` unexpanded for
        an album without a mean. The newest instance owns them (as its types win).
        """
        previous = EmoMucsPlugin._getters_owner
        if previous is not None and previous is not self:
            previous.template_fields, previous.album_template_fields = {}, {}
        getters = {self.fields[d]: _own_value_getter(self.fields[d]) for d in DIMENSIONS}
        self.template_fields, self.album_template_fields = dict(getters), dict(getters)
        EmoMucsPlugin._getters_owner = self

    def _tag_names(self) -> dict[str, str]:
        """``{key: tag name}`` from ``tags:``; empty when tags are off (``tags: no``)."""
        raw = self.config["tags"].get()
        if not raw:
            return {}
        if raw is True:
            return dict(DEFAULT_TAGS)
        # Key by key, so that naming one tag keeps the defaults of the others.
        names = {key: self.config["tags"][key].get() for key in DEFAULT_TAGS}
        return {key: str(name) for key, name in names.items() if name}

    # -- model --------------------------------------------------------------
    def bundle(self):
        """The configured model bundle, loaded once."""
        if self._bundle is None:
            from emomucs_core.checkpoint import load_bundle

            self._bundle = load_bundle(self._path_option("model"))
        return self._bundle

    def _path_option(self, name: str) -> str | None:
        """The path in option ``name``, or None when it is unset."""
        return self.config[name].as_filename() if self.config[name].get() else None

    @property
    def model_id(self) -> str:
        """The configured model's id, read from its file without torch until the model is loaded."""
        if self._bundle is None:
            from emomucs_core.bundle_id import bundle_id

            try:
                return bundle_id(self._path_option("model"))
            except (OSError, ValueError, KeyError):
                pass  # loading it gives the one-line reason
        return self.bundle().id

    def model_description(self) -> str:
        """What will be loaded, said before loading it (the bundle path, or the built-in model)."""
        path = self._path_option("model")
        return f"model {util.displayable_path(path)}" if path else "the built-in model"

    def announce(self, live: bool) -> None:
        """Say what is loading, once per process, just before it loads (loading takes seconds)."""
        if not self._announced:
            self._announced = True
            say(f"loading {self.model_description()}…", live=live, log=self._log)

    def predictor_options(self, device: str | None = None, threads: int | None = None) -> dict[str, Any]:
        """:class:`Predictor` arguments from the configuration, ``device``/``threads`` overriding it (no bundle)."""
        return {
            "separator": self.config["separator"].get(),
            "device": device or self.config["device"].as_str(),
            "windows": self.config["windows"].get(int),
            "batch_size": self.config["batch_size"].get(int),
            "threads": threads or self.config["threads"].get(int),
            "demucs_repo": self._path_option("demucs_repo"),
        }

    def predictor(self, device: str | None = None, threads: int | None = None):
        """A :class:`Predictor` for the configuration, built once per process and options."""
        options = self.predictor_options(device, threads)
        key = (options["device"], options["threads"])
        if key not in self._predictors:
            from emomucs_core.predictor import Predictor

            try:
                self._predictors[key] = Predictor(self.bundle(), **options)
            except model_errors():  # already one clear line (SeparatorError is a RuntimeError too)
                raise
            except (ValueError, RuntimeError) as exc:  # e.g. an unavailable or unknown device
                raise SetupError(f"cannot set up the model: {one_line(exc)}") from None
        return self._predictors[key]

    def predictions(
        self, paths: list[str], *, device: str | None = None, threads: int | None = None, jobs: int | None = None
    ) -> Iterator:
        """One Prediction per path, in order: every analysis goes through here.

        The model loads at the first ``next()``. With ``jobs`` (else the ``jobs``
        option; 0 = one per core) above 1 and more than ``4 * jobs`` files, the
        files go to that many worker processes (:func:`emomucs_core.parallel.predict_files`),
        each loading the model once; fewer files are not worth the workers' start-up
        and run in this process. Results are stored by this process only.
        """
        from emomucs_core.parallel import available_cores, predict_files

        jobs = jobs if jobs is not None else self.config["jobs"].get(int)
        jobs = jobs or available_cores()
        if jobs <= 1 or len(paths) <= 4 * jobs:
            yield from self.predictor(device, threads).predict(paths)
            return
        yield from predict_files(paths, jobs=jobs, bundle=self._path_option("model"),
                                 **self.predictor_options(device, threads))

    # -- selection ------------------------------------------------------------
    def needs_analysis(self, item: Item, force: bool = False) -> bool:
        """True when forced, left by an interrupted run, or without values from the current model (not failed)."""
        if force or value_without_album(item, PENDING_FIELD):
            return True
        if value_without_album(item, ERROR_FIELD):
            return False
        return (value_without_album(item, self.fields["valence"]) is None
                or value_without_album(item, MODEL_FIELD) != self.model_id)

    def should_write(self, write: bool | None = None) -> bool:
        """Whether to write file tags: ``-w/-W``, else ``write``, else ``import.write``; never with ``tags: no``."""
        if not self.tags:
            return False
        return ui.should_write(write if write is not None else self.config["write"].get())

    # -- storing ----------------------------------------------------------------
    def apply(self, item: Item, prediction) -> None:
        """Set the item's fields from a prediction (does not store)."""
        if not prediction.ok:
            # Old values would outlive the file they describe: a failure clears them all.
            clear(item, [*(self.fields[d] for d in DIMENSIONS), *self.derived_fields(), PENDING_FIELD])
            item[ERROR_FIELD] = prediction.error  # failed is an answer too: retried only with -f
            return
        v, a = prediction.valence, prediction.arousal
        item[self.fields["valence"]] = v
        item[self.fields["arousal"]] = a
        item[self.fields["mood"]] = labels.mood(v, a)
        probabilities = getattr(prediction, "quadrant_probabilities", None)
        item[CONFIDENCE_FIELD] = labels.mood_confidence(v, a, probabilities)
        lead = labels.dominance(prediction.contributions)
        if lead is not None:
            item[self.fields["dominant_source"]] = lead.label
            item[MARGIN_FIELD] = lead.margin
        for source, values in prediction.contributions.items():
            for dim in DIMENSIONS:
                item[source_field(source, dim)] = values[dim]
        item[MODEL_FIELD] = prediction.model_id
        clear(item, (ERROR_FIELD, PENDING_FIELD))
        if prediction.warnings:
            item[self.fields["warnings"]] = "; ".join(prediction.warnings)
        else:
            clear(item, [self.fields["warnings"]])

    def derived_fields(self) -> list[str]:
        """Fields that follow valence and arousal: removed with either of them."""
        return [self.fields["mood"], self.fields["dominant_source"], self.fields["warnings"], CONFIDENCE_FIELD,
                MARGIN_FIELD, MODEL_FIELD, *(source_field(s, d) for s in SOURCES for d in DIMENSIONS)]

    def tag_values(self, item: Item) -> dict[str, Any]:
        """MediaFile attribute -> value for the item's stored results; None (delete the tag) for a value it lacks."""
        v, a = (value_without_album(item, self.fields[d]) for d in DIMENSIONS)
        whole = v is not None and a is not None  # what derives from them goes with either (`beet modify 'valence!'`)
        values = {attr: value_without_album(item, self.fields[key] if key != "model" else MODEL_FIELD)
                  if whole or key in DIMENSIONS else None for key, attr in self.tag_attrs.items()}
        if self.config["mood_tag"].get(bool):
            values[MOOD_ATTR] = labels.mood(v, a) if whole else None  # from the values beside it, even before a store
        return values

    def write_item_tags(self, item: Item) -> bool:
        """Write only this plugin's tags to the item's file, safely; log and return False on failure."""
        values = self.tag_values(item)
        if all(v is None for v in values.values()):
            return True
        try:
            write_tags(util.syspath(item.path), values, id3v23=config["id3v23"].get(bool))
        except Exception as exc:  # mediafile wraps most errors; a permission error may come raw
            self._log.error("{}: could not write tags ({})", printable(util.displayable_path(item.path)),
                            one_line(exc))
            return False
        item.mtime = item.current_mtime()
        return True

    def update_albums(self, lib: Library, album_ids: Iterable[int | None]) -> None:
        """Set album valence/arousal to the mean of the album's analysed tracks."""
        for album_id in {a for a in album_ids if a is not None}:
            self._changed_albums.discard(album_id)
            album = lib.get_album(album_id)
            if album is not None:
                self.update_album(album)

    def update_album(self, album: Album) -> None:
        """Album means of its tracks' own values, and how many tracks they cover; stored when changed."""
        items = list(album.items())
        before = {k: album.get(k) for k in (*(self.fields[d] for d in DIMENSIONS), ANALYSED_FIELD)}
        counts = []
        for dim in DIMENSIONS:
            field = self.fields[dim]
            values = [v for v in (value_without_album(i, field) for i in items) if v is not None]
            counts.append(len(values))
            if values:
                album[field] = sum(values) / len(values)
            elif album.get(field) is not None:
                del album[field]
        if max(counts):
            album[ANALYSED_FIELD] = max(counts)
        elif album.get(ANALYSED_FIELD) is not None:
            del album[ANALYSED_FIELD]
        if {k: album.get(k) for k in before} != before:
            # inherit=False: an album's flexible fields would otherwise be copied onto every track.
            album.store(inherit=False)

    def on_database_change(self, lib: Library, model) -> None:
        """Follow changes made by hand (``beet modify valence=...``): the mood at once, album means at exit."""
        from beets.library import Item

        if isinstance(model, Item):
            self.sync_mood(model)
            if model.album_id is not None:
                self._changed_albums.add(model.album_id)

    def sync_mood(self, item: Item) -> None:
        """Keep the mood in step with valence and arousal changed by hand (``beet modify valence=0.2``).

        Removing either (``beet modify 'valence!'``) removes what derives from them.
        """
        v, a = (value_without_album(item, self.fields[d]) for d in DIMENSIONS)
        if v is None or a is None:
            if clear(item, self.derived_fields()):
                item.store()
            return
        if value_without_album(item, self.fields["mood"]) == labels.mood(v, a):
            return
        item[self.fields["mood"]] = labels.mood(v, a)
        item[CONFIDENCE_FIELD] = labels.mood_confidence(v, a)
        item.store()

    def on_cli_exit(self, lib: Library) -> None:
        if self._changed_albums:
            self.update_albums(lib, set(self._changed_albums))

    def mark_pending(self, items: list[Item]) -> None:
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

    # -- analysis loop ----------------------------------------------------------
    def analyse(
        self,
        items: list[Item],
        *,
        write: bool = False,
        pretend: bool = False,
        live: bool = False,
        echo: bool = False,
        **predictor_options: Any,
    ) -> tuple[int, int, int]:
        """Analyse ``items``, storing each as its result arrives. Returns (done, failed, tag writes failed).

        A file that does not exist fails at once, without the model (which loads only for files that do).

        live : draw a progress bar (a terminal); otherwise log one line per track.
        echo : print every result line (``-p``, or a terminal).
        predictor_options : for :meth:`predictions` (device, threads, jobs).
        """
        if not items:
            return 0, 0, 0
        lib = items[0]._db
        done = failed = unwritten = 0
        with Claim(None if pretend or lib is None else lib.path) as claim, \
                Progress(len(items), live=live, log=self._log) as progress:
            busy = claim.take(i.id for i in items)
            if busy:
                self._log.warning("{} of {} tracks are being analysed by another run: skipped",
                                  len(busy), len(items))
                items = [i for i in items if i.id not in busy]
                progress.total = len(items)
            if not items:
                return 0, 0, 0
            present = [i for i in items if os.path.lexists(util.syspath(i.path))]
            if len(present) < len(items):
                self._log.warning("{} of {} files do not exist", len(items) - len(present), len(items))
            if present:
                self.announce(live)
            finished = 0
            try:
                results = _with_missing(items, present, self.predictions(
                    [util.syspath(i.path) for i in present], **predictor_options))
                progress.begin()
                progress.working_on(format(items[0]))
                for n, (item, prediction) in enumerate(zip(items, results)):
                    old = {key: value_without_album(item, self.fields[key]) for key in DEFAULT_FIELDS}
                    if prediction.ok:
                        done += 1
                    else:
                        failed += 1
                        self._log.error("{}: {}", printable(util.displayable_path(item.path)),
                                        printable(prediction.error))
                    if not pretend:
                        self.apply(item, prediction)
                        if write and prediction.ok and not self.write_item_tags(item):
                            unwritten += 1
                        item.store()  # after the file is whole: an interrupted write stores nothing
                    finished += 1
                    progress.working_on(format(items[n + 1]) if n + 1 < len(items) else None)
                    line = printable(self.result_line(item, prediction, old)) if prediction.ok else None
                    progress.finished(line, echo=echo)
            except KeyboardInterrupt:
                if not pretend:
                    self.mark_pending(items[finished:])
                raise
            finally:
                if not pretend and lib is not None:
                    self.update_albums(lib, (i.album_id for i in items))
        return done, failed, unwritten

    def result_line(self, item: Item, prediction, old: dict[str, Any]) -> str:
        """``Artist - Album - Title: valence 0.612, ..., mood calm (0.54), dominant_source drums (drums 0.081 ahead of bass)``.

        A value that changes shows ``old -> new`` (``-f``, and ``-p -f``).
        """
        v, a = prediction.valence, prediction.arousal
        mood = labels.mood(v, a)
        parts = [
            f"{self.fields['valence']} {_change(old['valence'], v)}",
            f"{self.fields['arousal']} {_change(old['arousal'], a)}",
            f"{self.fields['mood']} {_change(old['mood'], mood)} "
            f"({labels.mood_confidence(v, a, getattr(prediction, 'quadrant_probabilities', None)):.2f})",
        ]
        lead = labels.dominance(prediction.contributions)
        if lead is not None:
            ahead = f" ({lead.leader} {lead.margin:.3f} ahead of {lead.runner_up})" if lead.runner_up else ""
            parts.append(f"{self.fields['dominant_source']} {_change(old['dominant_source'], lead.label)}{ahead}")
        parts += [f"warning: {w}" for w in prediction.warnings]
        return f"{format(item)}: {', '.join(parts)}"

    # -- command ------------------------------------------------------------------
    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("emomucs", help="analyse valence, arousal, mood and dominant source")
        cmd.parser.usage += " [QUERY]"
        cmd.parser.add_option("-f", "--force", action="store_true", default=None, help="re-analyse items that already have values (and failed ones)")
        cmd.parser.add_option("-w", "--write", action="store_true", default=None, help="write tags to files")
        cmd.parser.add_option("-W", "--nowrite", action="store_false", dest="write", help="do not write tags to files")
        cmd.parser.add_option("-p", "--pretend", action="store_true", default=False, help="print what would be set (old -> new), change nothing")
        cmd.parser.add_option("--device", default=None, help="auto, cpu, cuda or mps")
        cmd.parser.add_option("-t", "--threads", type="int", default=None, help="decoding threads")
        cmd.parser.add_option("-j", "--jobs", type="int", default=None, help="worker processes (default: the jobs option; 0: one per core)")
        cmd.parser.add_option("-m", "--missing", action="store_true", default=False, help="list the items that would be analysed, analyse nothing")
        cmd.parser.add_option("-c", "--count", action="store_true", default=False, help="count the items that would be analysed, analyse nothing")
        view_commands.add_options(cmd.parser)
        cmd.func = self.command
        return [cmd]

    def command(self, lib: Library, opts, args: list[str]) -> None:
        view_commands.check_combinations(opts)
        if view_commands.wanted(opts):
            try:
                view_commands.run(self, lib, opts, args)
            except model_errors() as exc:
                raise ui.UserError(str(exc)) from None
            return
        force = opts.force if opts.force is not None else self.config["force"].get(bool)
        live = sys.stderr.isatty()
        try:
            items = [i for i in lib.items(args) if self.needs_analysis(i, force)]
        except model_errors() as exc:
            raise ui.UserError(str(exc)) from None
        self.mention_failed(lib, args, items)
        if opts.missing or opts.count:
            if opts.missing:
                for item in items:
                    ui.print_(format(item))
            if opts.count:
                ui.print_(f"{view_commands.counted(len(items), 'item')} to analyse")
            return
        if not items:
            self._log.info("nothing to analyse (use -f to re-analyse)")
            return
        write = self.should_write(opts.write)
        try:
            done, failed, unwritten = self.analyse(items, write=write, pretend=opts.pretend, live=live,
                                        echo=opts.pretend or live, device=opts.device, threads=opts.threads,
                                        jobs=opts.jobs)
        except model_errors() as exc:
            raise ui.UserError(str(exc)) from None
        except KeyboardInterrupt:
            if not opts.pretend:
                left = sum(1 for i in lib.items(args) if value_without_album(i, PENDING_FIELD))
                flag = ["-w"] if write else ["-W"] if opts.write is False else []
                again = " ".join(["beet emomucs", *flag, *map(shlex.quote, args)])
                self._log.warning("interrupted: finished tracks are stored; run `{}` to analyse the {} left",
                                  again, left)
            raise
        unwritten = f", {unwritten} tag writes failed" if unwritten else ""
        self._log.info("{} analysed, {} failed{}{}", done, failed, unwritten,
                       " (pretend: nothing stored)" if opts.pretend else "")
        if failed or unwritten:  # a non-zero exit status, as beets gives any error
            raise ui.UserError(f"{view_commands.counted(failed, 'track')} of {len(items)} failed" if failed
                               else "some tags could not be written")

    def mention_failed(self, lib: Library, args: list[str], chosen: list[Item]) -> None:
        """Say how many tracks of the query failed before and are not retried now (they are hidden otherwise)."""
        ids = {i.id for i in chosen}
        earlier = sum(1 for i in lib.items(args) if i.id not in ids and value_without_album(i, ERROR_FIELD))
        if earlier:
            self._log.info("{} failed earlier (see `beet ls {}::.`, `-f` retries)",
                           view_commands.counted(earlier, "track"), ERROR_FIELD)

    # -- import ---------------------------------------------------------------------
    def imported(self, session, task) -> None:
        """Import stage: analyse the task's items and store the fields (before files move)."""
        if self._import_error:
            return
        force = self.config["force"].get(bool)
        items = [i for i in task.imported_items() if self.needs_analysis(i, force)]
        if not items:
            return
        live = sys.stderr.isatty()
        try:
            self.analyse(items, live=live, echo=live)
        except model_errors() as exc:
            self._import_error = str(exc)
            self._log.error("no analysis during this import: {}", exc)
            return
        task.emomucs_analysed = True

    def on_import_task_files(self, session, task) -> None:
        """Write tags for imports beets does not write itself (as-is), once the files are in place."""
        if not getattr(task, "emomucs_analysed", False) or not self.should_write():
            return
        beets_wrote = session.config["write"].get(bool) and (task.apply or task.choice_flag.name == "RETAG")
        if beets_wrote:
            return
        for item in task.imported_items():
            if value_without_album(item, self.fields["valence"]) is not None and self.write_item_tags(item):
                item.store(fields=["mtime"])

    def on_write(self, item: Item, path: bytes, tags: dict[str, Any]) -> None:
        """Add the stored results to every tag write beets does (``beet write``, imports, ``modify``).

        Our tags that lack a value are deleted, unless the item holds nothing of ours (never
        analysed: its file may carry another tool's VALENCE). After ``beet modify 'valence!'``
        beets writes before it stores, so the model id still marks the item as ours.
        """
        ours = (*(self.fields[d] for d in DIMENSIONS), MODEL_FIELD, ERROR_FIELD)
        if self.tags and any(value_without_album(item, f) is not None for f in ours):
            tags.update(self.tag_values(item))


def _with_missing(items: list[Item], present: list[Item], results: Iterator) -> Iterator:
    """One Prediction per item in order: "file not found" for items not in ``present``, else the next of ``results``."""
    from emomucs_core.prediction import Prediction

    present_ids = {i.id for i in present}
    for item in items:
        yield next(results) if item.id in present_ids else Prediction(Path(os.fsdecode(item.path)),
                                                                     error="file not found")


def _own_value_getter(field: str):
    """A computed field returning an object's own flexible value of ``field`` (None without one)."""

    def getter(obj: Item | Album) -> Any:
        return obj._values_flex.get(field)

    return getter


def _change(old: Any, new: Any) -> str:
    """``new``, or ``old -> new`` when there was a different old value (floats with 3 decimals)."""
    def show(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    if old is None or show(old) == show(new):
        return show(new)
    return f"{show(old)} -> {show(new)}"
