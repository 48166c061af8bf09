"""Tag music with valence, arousal, mood and the dominant source (EmoMucs).

The plugin class is a table of contents: each hook or command hands its job to
the module named for it. ``analysis`` (which items, the run loop, ``beet
emomucs``), ``engine`` (bundle, predictor, predictions), ``storing`` (fields
from a prediction, the mood kept in step), ``albums`` (album means),
``writing`` (file tags, written safely), ``importing`` (the import stage),
``commands`` (the option table; ``--explain``, ``--map``, ``--playlist``,
``--from-results``), ``output`` (result lines), ``fields``, ``tags``,
``labels``, ``progress``, ``claims``, ``errors``. Heavy imports (torch,
demucs, librosa) happen only when something is analysed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.plugins import BeetsPlugin

from . import albums, analysis, commands, engine, importing, storing, writing
from .fields import DEFAULT_FIELDS, album_types, item_types, own_value_getters, reset_type_cache
from .tags import DEFAULT_TAGS, register_media_fields, tag_names

if TYPE_CHECKING:
    from beets.library import Item, Library

__all__ = ["DEFAULT_FIELDS", "EmoMucsPlugin"]


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
        self.tags = tag_names(self.config["tags"])
        self.tag_attrs = register_media_fields(self.tags)
        self.item_types = item_types(self.fields)
        self.album_types = album_types(self.fields)
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
        """Show each item's own valence/arousal, never its album's mean (:func:`fields.own_value_getters`).

        The newest instance owns them (as its types win).
        """
        previous = EmoMucsPlugin._getters_owner
        if previous is not None and previous is not self:
            previous.template_fields, previous.album_template_fields = {}, {}
        getters = own_value_getters(self.fields)
        self.template_fields, self.album_template_fields = dict(getters), dict(getters)
        EmoMucsPlugin._getters_owner = self

    # -- configuration --------------------------------------------------------
    def _path_option(self, name: str) -> str | None:
        """The path in option ``name``, or None when it is unset.

        ``model`` also takes a built-in bundle's name (``model: musicnn``): a name of
        :data:`~emomucs_core.bundle_id.BUILTIN_BUNDLES` that resolves to no existing file stays as it is.
        """
        if not self.config[name].get():
            return None
        path = self.config[name].as_filename()
        return engine.model_option(self.config[name].get(), path) if name == "model" else path

    def should_write(self, write: bool | None = None) -> bool:
        """Whether to write file tags: ``-w/-W``, else ``write``, else ``import.write``; never with ``tags: no``."""
        if not self.tags:
            return False
        return ui.should_write(write if write is not None else self.config["write"].get())

    # -- the model (engine) ------------------------------------------------------
    def bundle(self):
        """The configured model bundle, loaded once."""
        if self._bundle is None:
            self._bundle = engine.load_bundle(self._path_option("model"))
        return self._bundle

    @property
    def model_id(self) -> str:
        """The configured model's id (read from its file without torch until the model is loaded)."""
        return engine.model_id(self)

    def predictor(self, device: str | None = None, threads: int | None = None):
        """A :class:`Predictor` for the configuration, built once per process and options."""
        return engine.predictor(self, device, threads)

    def predictions(self, paths: list[str], **options: Any) -> Iterator:
        """One Prediction per path, in order: every analysis goes through here (device, threads, jobs)."""
        return engine.predictions(self, paths, **options)

    def needs_analysis(self, item: Item, force: bool = False) -> bool:
        """True when forced, left by an interrupted run, or without values from the current model (not failed)."""
        return analysis.needs_analysis(self, item, force)

    # -- command ------------------------------------------------------------------
    def commands(self) -> list[ui.Subcommand]:
        return [commands.subcommand(self)]

    # -- import ---------------------------------------------------------------------
    def imported(self, session, task) -> None:
        """Import stage: analyse the task's items and store the fields (before files move)."""
        importing.imported(self, session, task)

    def on_import_task_files(self, session, task) -> None:
        """Write tags for imports beets does not write itself (as-is), once the files are in place."""
        importing.write_imported_tags(self, session, task)

    # -- listeners ------------------------------------------------------------------
    def on_write(self, item: Item, path: bytes, tags: dict[str, Any]) -> None:
        """Add the stored results to every tag write beets does (``beet write``, imports, ``modify``)."""
        tags.update(writing.values_for_beets_write(self, item))

    def on_database_change(self, lib: Library, model) -> None:
        """Follow changes made by hand (``beet modify valence=...``): the mood at once, album means at exit."""
        from beets.library import Item

        if isinstance(model, Item):
            storing.sync_mood(self.fields, model)
            if model.album_id is not None:
                self._changed_albums.add(model.album_id)

    def on_cli_exit(self, lib: Library) -> None:
        """Album means of the albums whose tracks changed by hand."""
        if self._changed_albums:
            albums.update_albums(self, lib, set(self._changed_albums))
