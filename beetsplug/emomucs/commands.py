"""``beet emomucs``: its options, and which job each runs.

:func:`subcommand` is the option table; :func:`dispatch` runs the analysis
(:mod:`.analysis`) or, when one of ``--explain``, ``--map``, ``--playlist`` and
``--from-results`` is given (:func:`add_options`), shows or imports results
instead (:func:`run`).
"""

from __future__ import annotations

import os
import sys
from functools import partial
from optparse import OptionParser
from typing import TYPE_CHECKING

from beets import ui

from . import analysis
from .errors import model_errors
from .output import counted, no_match
from .points import track_points

if TYPE_CHECKING:
    from beets.library import Library

#: How many unmatched paths and error records are listed without ``-v``.
LIST_LIMIT = 10
#: The names ``--map`` writes: a PNG picture, or the interactive page.
MAP_EXTENSIONS = (".png", ".html", ".htm")


def subcommand(plugin) -> ui.Subcommand:
    """The ``emomucs`` subcommand with every option; its function is :func:`dispatch` for ``plugin``."""
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
    add_options(cmd.parser)
    cmd.func = partial(dispatch, plugin)
    return cmd


def dispatch(plugin, lib: Library, opts, args: list[str]) -> None:
    """Run what the options ask for: a view or ingest option, else the analysis."""
    check_combinations(opts)
    if not wanted(opts):
        analysis.command(plugin, lib, opts, args)
        return
    try:
        run(plugin, lib, opts, args)
    except model_errors() as exc:
        raise ui.UserError(str(exc)) from None


def add_options(parser: OptionParser) -> None:
    """Register the view and ingest options on ``beet emomucs``'s parser."""
    parser.add_option("--explain", action="store_true", default=False,
                      help="show each source's contribution to valence and arousal; analyse nothing")
    parser.add_option("--map", metavar="FILE.png|FILE.html", default=None,
                      help="draw the matching tracks on the valence/arousal plane (.html: an interactive page); "
                           "analyse nothing")
    parser.add_option("--map-albums", action="store_true", default=False,
                      help="with --map: also draw album means")
    parser.add_option("--playlist", metavar="FILE.m3u", default=None,
                      help="write a playlist moving from one mood to another (--from, --to, -n); analyse nothing")
    parser.add_option("--from", dest="from_mood", metavar="MOOD", default=None,
                      help="playlist start: happy, tense, sad or calm")
    parser.add_option("--to", dest="to_mood", metavar="MOOD", default=None,
                      help="playlist end: happy, tense, sad or calm")
    parser.add_option("-n", "--length", type="int", default=20, help="tracks in the playlist (default 20)")
    parser.add_option("--from-results", metavar="FILE", default=None,
                      help="store results of `emomucs predict --json` or the Ray engine (.jsonl, .parquet)")


def check_combinations(opts) -> None:
    """Refuse options that only mean something beside another one (raises ui.UserError, one line)."""
    if (opts.from_mood or opts.to_mood) and not opts.playlist:
        raise ui.UserError("--from and --to choose a playlist's moods: give --playlist FILE.m3u too")
    if opts.map_albums and not opts.map:
        raise ui.UserError("--map-albums draws album means on a map: give --map FILE.png or FILE.html too")


def wanted(opts) -> bool:
    """True when one of these options was given (then the command analyses nothing)."""
    return bool(opts.explain or opts.map or opts.playlist or opts.from_results)


def check_view_options(opts) -> None:
    """Refuse a ``--map`` name or ``--playlist`` moods it cannot honour, before anything is read or written."""
    if opts.map and not opts.map.lower().endswith(MAP_EXTENSIONS):
        ext = os.path.splitext(opts.map)[1]
        raise ui.UserError(f"{opts.map}: --map writes FILE.png (a picture) or FILE.html (an interactive page), "
                           f"{f'not {ext}' if ext else 'give one of these extensions'}")
    if opts.playlist:
        from .points import mood_centre

        if not (opts.from_mood and opts.to_mood):
            raise ui.UserError("--playlist needs --from MOOD and --to MOOD (happy, tense, sad, calm)")
        if opts.length < 1:
            raise ui.UserError(f"-n must be at least 1, not {opts.length}")
        try:
            mood_centre(opts.from_mood), mood_centre(opts.to_mood)
        except ValueError as exc:
            raise ui.UserError(str(exc)) from None


def run(plugin, lib: Library, opts, args: list[str]) -> None:
    """Run every view/ingest option given; raises ui.UserError with a one-line reason."""
    check_view_options(opts)
    if opts.from_results:
        from_results(plugin, lib, opts, args)
    if not (opts.explain or opts.map or opts.playlist):
        return
    points = track_points(plugin, lib.items(args))
    if not points:  # nothing to explain, draw or list: one line, no file written
        plugin._log.info("{}", no_match(args))
        return
    if opts.explain:
        from .explain import explain

        unicode = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
        for point in points:
            for line in explain(point, unicode=unicode):
                ui.print_(line)
    if opts.map:
        draw(plugin, lib, points, opts, args)
    if opts.playlist:
        playlist(points, opts)


def draw(plugin, lib: Library, points, opts, args: list[str]) -> None:
    """``--map``: a PNG picture, or with ``.html``/``.htm`` the interactive page (:mod:`.map_page`)."""
    from .moodmap import AlbumPoint

    page = opts.map.lower().endswith((".html", ".htm"))
    albums = None
    if opts.map_albums:
        fields = plugin.fields
        albums = [AlbumPoint(a.album or "?", a[fields["valence"]], a[fields["arousal"]])
                  for a in lib.albums(args) if a.get(fields["valence"]) is not None
                  and a.get(fields["arousal"]) is not None]
    if page:
        from .map_page import write_page as write
    else:
        from .moodmap import draw_map as write
    try:
        drawn = write(points, opts.map, albums=albums)
    except ImportError:
        raise ui.UserError(f"--map needs {'plotly' if page else 'matplotlib'} "
                           "(pip install 'beets-emomucs[map]')") from None
    except OSError as exc:
        raise ui.UserError(f"{opts.map}: cannot write the map ({exc.strerror or exc})") from None
    skipped = len(points) - drawn
    plugin._log.info("{}: {}{}{}", opts.map, counted(drawn, "track"),
                     f", {counted(len(albums), 'album mean')}" if albums else "",
                     f" ({skipped} not analysed, left out)" if skipped else "")


def playlist(points, opts) -> None:
    from .playlist import mood_path, write_m3u

    tracks = mood_path(points, opts.from_mood, opts.to_mood, opts.length)  # options checked by check_view_options
    if not tracks:
        raise ui.UserError("no analysed track matches the query: nothing to put in the playlist")
    try:
        write_m3u(opts.playlist, tracks)
    except OSError as exc:
        raise ui.UserError(f"{opts.playlist}: cannot write the playlist ({exc.strerror or exc})") from None
    for t in tracks:
        ui.print_(f"{t.valence:.3f} {t.arousal:.3f}  {t.label}")
    ui.print_(f"{opts.playlist}: {counted(len(tracks), 'track')} from {opts.from_mood} to {opts.to_mood}"
              + (f" (only {len(tracks)} analysed {'track matches' if len(tracks) == 1 else 'tracks match'})"
                 if len(tracks) < opts.length else ""))


def from_results(plugin, lib: Library, opts, args: list[str]) -> None:
    from emomucs_core.results import ResultsError, iter_results

    from .ingest import ingest

    try:
        report = ingest(plugin, lib, lib.items(args), iter_results(opts.from_results),
                        force=bool(opts.force), write=plugin.should_write(opts.write), pretend=opts.pretend)
    except ResultsError as exc:
        raise ui.UserError(str(exc)) from None
    except ImportError:
        raise ui.UserError(f"{opts.from_results}: reading Parquet needs pyarrow "
                           "(pip install 'beets-emomucs[ray]')") from None
    log = plugin._log
    for number, problem in report.invalid:
        log.error("{}: record {}: unusable ({})", opts.from_results, number, problem)
    _listed(log, ("error record (nothing stored)", "error records (nothing stored)"),
            [f"{path}: {error}" for path, error in report.errors])
    where = "item of the query" if args else "library item"
    _listed(log, (f"result matches no {where} (by path)", f"results match no {where} (by path)"), report.unmatched)
    for model, count in report.refused.items():
        log.warning("{} from model {} refused: the configured model is {} (-f stores them)",
                    counted(count, "result"), model, plugin.model_id)
    log.info("{}: {} {}, {}, {} unmatched, {} refused, {} unusable{}{}", opts.from_results,
             report.stored, "would be stored (pretend)" if opts.pretend else "stored",
             counted(len(report.errors), "error record"), len(report.unmatched), sum(report.refused.values()),
             len(report.invalid),
             f", {counted(report.repeated, 'repeated path')} (the later record wins)" if report.repeated else "",
             f", {counted(report.write_failures, 'tag write')} failed" if report.write_failures else "")


def _listed(log, what: tuple[str, str], lines: list[str]) -> None:
    """Log a count (``what``: singular and plural wording) and the first ``LIST_LIMIT`` lines (all with -v)."""
    if not lines:
        return
    log.warning("{} {}:", len(lines), what[len(lines) != 1])
    for n, line in enumerate(lines):
        (log.warning if n < LIST_LIMIT else log.debug)("  {}", line)
    if len(lines) > LIST_LIMIT:
        log.warning("  ... and {} more (beet -v lists them all)", len(lines) - LIST_LIMIT)
