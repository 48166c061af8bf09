"""Tag music with valence, arousal and the dominant source (EmoMucs).

The plugin is thin: it picks items, hands their paths to
:class:`emomucs_core.predictor.Predictor` and stores what comes back, in the
database and (optionally) in the files' tags. Heavy imports (torch, demucs,
librosa) happen only when something is analysed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from beets import config, ui, util
from beets.plugins import BeetsPlugin

from . import commands as view_commands
from .errors import SetupError, model_errors, one_line
from .fields import (
    ERROR_FIELD,
    FLOAT3,
    MODEL_FIELD,
    SOURCES,
    STRING,
    reset_type_cache,
    source_field,
    value_without_album,
)
from .progress import Progress
from .tags import MEDIA_ATTR, TAGS, register_media_fields
from .writing import write_tags

if TYPE_CHECKING:
    from beets.library import Album, Item, Library


class EmoMucsPlugin(BeetsPlugin):
    """Valence, arousal and dominant source for every track."""

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
                "batch_size": 4,
                "threads": 2,
                "separator": None,  # None: the separator the bundle was trained with
                "fields": {"valence": "valence", "arousal": "arousal", "dominant_source": "dominant_source"},
                "tags": True,
            }
        )
        self.fields = {key: self.config["fields"][key].as_str() for key in TAGS}
        self.item_types = {
            self.fields["valence"]: FLOAT3,
            self.fields["arousal"]: FLOAT3,
            self.fields["dominant_source"]: STRING,
            MODEL_FIELD: STRING,
            ERROR_FIELD: STRING,
            **{source_field(s, d): FLOAT3 for s in SOURCES for d in ("valence", "arousal")},
        }
        self.album_types = {self.fields["valence"]: FLOAT3, self.fields["arousal"]: FLOAT3}
        register_media_fields()
        reset_type_cache()
        self.register_listener("pluginload", reset_type_cache)
        self.register_listener("write", self.on_write)
        self.register_listener("import_task_files", self.on_import_task_files)
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]
        self._bundle = None
        self._predictors: dict[tuple, Any] = {}
        self._import_error: str | None = None

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
        return self.bundle().id

    def predictor(self, device: str | None = None, threads: int | None = None):
        """A :class:`Predictor` for the configuration, built once per process and options."""
        key = (device or self.config["device"].as_str(), threads or self.config["threads"].get(int))
        if key not in self._predictors:
            from emomucs_core.predictor import Predictor

            try:
                self._predictors[key] = Predictor(
                    self.bundle(),
                    separator=self.config["separator"].get(),
                    device=key[0],
                    windows=self.config["windows"].get(int),
                    batch_size=self.config["batch_size"].get(int),
                    threads=key[1],
                    demucs_repo=self._path_option("demucs_repo"),
                )
            except model_errors():  # already one clear line (SeparatorError is a RuntimeError too)
                raise
            except (ValueError, RuntimeError) as exc:  # e.g. an unavailable or unknown device
                raise SetupError(f"cannot set up the model: {one_line(exc)}") from None
        return self._predictors[key]

    # -- selection ------------------------------------------------------------
    def needs_analysis(self, item: Item, force: bool = False) -> bool:
        """True unless the item has values from the current model or failed before."""
        if force:
            return True
        if value_without_album(item, ERROR_FIELD):
            return False
        return value_without_album(item, self.fields["valence"]) is None or value_without_album(item, MODEL_FIELD) != self.model_id

    def should_write(self, write: bool | None = None) -> bool:
        """Whether to write file tags: ``-w/-W``, else ``write``, else ``import.write``; never without ``tags``."""
        if not self.config["tags"].get(bool):
            return False
        if write is not None:
            return write
        if self.config["write"].get() is None:
            return config["import"]["write"].get(bool)
        return self.config["write"].get(bool)

    # -- storing ----------------------------------------------------------------
    def apply(self, item: Item, prediction) -> None:
        """Set the item's fields from a prediction (does not store)."""
        if not prediction.ok:
            item[ERROR_FIELD] = prediction.error
            return
        item[self.fields["valence"]] = prediction.valence
        item[self.fields["arousal"]] = prediction.arousal
        if prediction.dominant_source:
            item[self.fields["dominant_source"]] = prediction.dominant_source
        for source, values in prediction.contributions.items():
            for dim in ("valence", "arousal"):
                item[source_field(source, dim)] = values[dim]
        item[MODEL_FIELD] = prediction.model_id
        if value_without_album(item, ERROR_FIELD) is not None:
            del item[ERROR_FIELD]

    def tag_values(self, item: Item) -> dict[str, Any]:
        """MediaFile attribute -> value for the item's stored results (empty when it has none)."""
        if value_without_album(item, self.fields["valence"]) is None:
            return {}
        values = {MEDIA_ATTR[key]: value_without_album(item, self.fields[key]) for key in TAGS}
        return {k: v for k, v in values.items() if v is not None}

    def write_item_tags(self, item: Item) -> bool:
        """Write only this plugin's tags to the item's file; log and return False on failure."""
        values = self.tag_values(item)
        if not values:
            return True
        try:
            write_tags(item.path, values)
        except Exception as exc:  # mediafile wraps most errors; a permission error may come raw
            self._log.error("{}: could not write tags ({})", util.displayable_path(item.path), one_line(exc))
            return False
        item.mtime = item.current_mtime()
        return True

    def update_albums(self, lib: Library, album_ids: Iterable[int | None]) -> None:
        """Set album valence/arousal to the mean of the album's analysed tracks."""
        for album_id in {a for a in album_ids if a is not None}:
            album = lib.get_album(album_id)
            if album is not None:
                self.update_album(album)

    def update_album(self, album: Album) -> None:
        items = list(album.items())
        for key in ("valence", "arousal"):
            field = self.fields[key]
            values = [v for v in (value_without_album(i, field) for i in items) if v is not None]
            if values:
                album[field] = sum(values) / len(values)
            elif field in album:
                del album[field]
        # inherit=False: an album's flexible fields would otherwise be copied onto every track.
        album.store(inherit=False)

    # -- analysis loop ----------------------------------------------------------
    def analyse(
        self,
        items: list[Item],
        write: bool = False,
        pretend: bool = False,
        device: str | None = None,
        threads: int | None = None,
        progress: bool = False,
    ) -> tuple[int, int]:
        """Analyse ``items``, storing each as its result arrives. Returns (done, failed)."""
        if not items:
            return 0, 0
        predictor = self.predictor(device, threads)
        bar = Progress(len(items), progress)
        done = failed = 0
        try:
            for item, prediction in zip(items, self._predict(predictor, items)):
                path = util.displayable_path(item.path)
                if not prediction.ok:
                    failed += 1
                    bar.clear()
                    self._log.error("{}: {}", path, prediction.error)
                    if not pretend:
                        self.apply(item, prediction)
                        item.store()
                    bar.step(None)
                    continue
                done += 1
                line = (
                    f"{path}: {self.fields['valence']} {prediction.valence:.3f}, "
                    f"{self.fields['arousal']} {prediction.arousal:.3f}, "
                    f"{self.fields['dominant_source']} {prediction.dominant_source or '-'}"
                )
                if pretend:
                    bar.step(line, print_line=True)
                    continue
                self.apply(item, prediction)
                item.store()
                if write:
                    bar.clear()
                    if self.write_item_tags(item):
                        item.store(fields=["mtime"])
                if not bar.enabled:
                    self._log.info("{}", line)
                bar.step(line, print_line=bar.enabled)
        finally:
            bar.close()
            if not pretend and items[0]._db is not None:
                self.update_albums(items[0]._db, (i.album_id for i in items))
        return done, failed

    def _predict(self, predictor, items: list[Item]) -> Iterator:
        """Predictions for ``items``, in order (a seam for tests)."""
        return predictor.predict([util.syspath(i.path) for i in items])

    # -- command ------------------------------------------------------------------
    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("emomucs", help="analyse valence, arousal and dominant source")
        cmd.parser.usage += " [QUERY]"
        cmd.parser.add_option("-f", "--force", action="store_true", default=None, help="re-analyse items that already have values (and failed ones)")
        cmd.parser.add_option("-w", "--write", action="store_true", default=None, help="write tags to files")
        cmd.parser.add_option("-W", "--nowrite", action="store_false", dest="write", help="do not write tags to files")
        cmd.parser.add_option("-p", "--pretend", action="store_true", default=False, help="print what would be set, change nothing")
        cmd.parser.add_option("--device", default=None, help="auto, cpu, cuda or mps")
        cmd.parser.add_option("-t", "--threads", type="int", default=None, help="decoding threads")
        cmd.parser.add_option("-m", "--missing", action="store_true", default=False, help="list the items that would be analysed, analyse nothing")
        cmd.parser.add_option("-c", "--count", action="store_true", default=False, help="count the items that would be analysed, analyse nothing")
        view_commands.add_options(cmd.parser)
        cmd.func = self.command
        return [cmd]

    def command(self, lib: Library, opts, args: list[str]) -> None:
        if view_commands.wanted(opts):
            try:
                view_commands.run(self, lib, opts, args)
            except model_errors() as exc:
                raise ui.UserError(str(exc)) from None
            return
        force = opts.force if opts.force is not None else self.config["force"].get(bool)
        try:
            items = [i for i in lib.items(args) if self.needs_analysis(i, force)]
        except model_errors() as exc:
            raise ui.UserError(str(exc)) from None
        if opts.missing or opts.count:
            if opts.missing:
                for item in items:
                    ui.print_(format(item))
            if opts.count:
                ui.print_(f"{len(items)} item{'s' if len(items) != 1 else ''} to analyse")
            return
        if not items:
            self._log.info("nothing to analyse (use -f to re-analyse)")
            return
        try:
            done, failed = self.analyse(
                items,
                write=self.should_write(opts.write),
                pretend=opts.pretend,
                device=opts.device,
                threads=opts.threads,
                progress=sys.stdout.isatty(),
            )
        except model_errors() as exc:
            raise ui.UserError(str(exc)) from None
        except KeyboardInterrupt:
            self._log.warning("interrupted; finished items are stored, run again to analyse the rest")
            raise
        self._log.info("{} analysed, {} failed{}", done, failed, " (pretend: nothing stored)" if opts.pretend else "")

    # -- import ---------------------------------------------------------------------
    def imported(self, session, task) -> None:
        """Import stage: analyse the task's items and store the fields (before files move)."""
        if self._import_error:
            return
        force = self.config["force"].get(bool)
        items = [i for i in task.imported_items() if self.needs_analysis(i, force)]
        if not items:
            return
        try:
            self.analyse(items)
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
            if self.tag_values(item) and self.write_item_tags(item):
                item.store(fields=["mtime"])

    def on_write(self, item: Item, path: bytes, tags: dict[str, Any]) -> None:
        """Add the stored results to every tag write beets does (``beet write``, imports, ``modify``)."""
        if self.config["tags"].get(bool):
            tags.update(self.tag_values(item))
