"""The import stage: analyse what ``beet import`` adds, and write its tags once the files are in place."""

from __future__ import annotations

import sys

from .errors import model_errors
from .fields import value_without_album
from .analysis import analyse
from .writing import write_item_tags


def imported(plugin, session, task) -> None:
    """Analyse the task's items and store the fields (before files move); a model error stops it for the session."""
    if plugin._import_error:
        return
    force = plugin.config["force"].get(bool)
    items = [i for i in task.imported_items() if plugin.needs_analysis(i, force)]
    if not items:
        return
    live = sys.stderr.isatty()
    try:
        analyse(plugin, items, live=live, echo=live)
    except model_errors() as exc:
        plugin._import_error = str(exc)
        plugin._log.error("no analysis during this import: {}", exc)
        return
    task.emomucs_analysed = True


def write_imported_tags(plugin, session, task) -> None:
    """Write tags for imports beets does not write itself (as-is), once the files are in place."""
    if not getattr(task, "emomucs_analysed", False) or not plugin.should_write():
        return
    beets_wrote = session.config["write"].get(bool) and (task.apply or task.choice_flag.name == "RETAG")
    if beets_wrote:
        return
    for item in task.imported_items():
        if value_without_album(item, plugin.fields["valence"]) is not None and write_item_tags(plugin, item):
            item.store(fields=["mtime"])
