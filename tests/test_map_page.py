"""`beet emomucs --map FILE.html`: the interactive page, rendered and used in real headless Chromium.

The libraries are real beets libraries in database files; the special-character
track is a real FLAC analysed by the plugin with the test model.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from beets.library import Item
from beets.ui import UserError

from beetsplug.emomucs.albums import update_albums
from beetsplug.emomucs.fields import source_field
from beetsplug.emomucs.labels import mood
from beetsplug.emomucs.playlist import write_m3u
from beetsplug.emomucs.points import track_point
from browser import MISSING, chromium, open_page, plot_xy
from emomucs_core.constants import SOURCES
from plugin_fixtures import disk_env, make_track, plugin_bundle, plugin_config  # noqa: F401
from test_view_commands import SPREAD, add_valued

needs_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    if MISSING:
        pytest.skip(MISSING)
    driver = chromium(downloads)
    yield driver
    driver.quit()


def js(browser, script: str, *args):
    return browser.execute_script(script, *args)


def shown_titles(browser) -> list[str]:
    """Titles of the table rows the page shows, in their order."""
    return js(browser, "return [...document.querySelectorAll('#rows [role=row]')].filter(r => !r.hidden)"
                       ".map(r => r.children[1].textContent)")


def plotted(browser) -> int:
    """How many track points the plot holds (album means not counted)."""
    return js(browser, "return document.getElementById('plot').data.filter(t => t.meta !== 'albums')"
                       ".reduce((n, t) => n + t.x.length, 0)")


def real_mouse(browser, *steps):
    """Move the mouse through ``steps``: (x, y) to move, "down" / "up" for the left button."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(browser)
    for step in steps:
        if step == "down":
            actions.pointer_action.pointer_down()
        elif step == "up":
            actions.pointer_action.pointer_up()
        else:
            actions.pointer_action.move_to_location(*step)
    actions.perform()


def wait_for(condition, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@needs_chromium
def test_page_shows_every_track_filters_sorts_and_colours(disk_env, plugin_config, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    plugin = disk_env.load(**plugin_config)
    items = add_valued(disk_env.lib)
    update_albums(plugin, disk_env.lib, [items[0].album_id])
    out = tmp_path / "library.html"
    disk_env.run_command("emomucs", "--map", str(out), "--map-albums")
    open_page(browser, out)

    titles = [title for title, *_ in SPREAD]
    assert sorted(shown_titles(browser)) == sorted(titles)
    assert plotted(browser) == len(SPREAD)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "never" not in shown_titles(browser)
    assert "1 track not analysed yet — run `beet emomucs`" in body
    album = disk_env.lib.albums().get()
    means = js(browser, "return document.getElementById('plot').data.filter(t => t.meta === 'albums')"
                        ".map(t => [t.name, t.x[0], t.y[0]])")
    assert means == [["album mean (1)", pytest.approx(album["valence"], abs=1e-4),
                      pytest.approx(album["arousal"], abs=1e-4)]]
    # Self-contained: nothing was fetched, and nothing refers to anything outside the page.
    assert js(browser, "return performance.getEntriesByType('resource').length") == 0
    assert js(browser, "return document.querySelectorAll('script[src], link[href], img[src]').length") == 0

    # Filter by mood through the page's own control: the table and the plot keep the sad tracks only.
    Select(browser.find_element(By.ID, "f-quadrant")).select_by_visible_text("Q3 sad")
    sad = [t for t, v, a, _ in SPREAD if mood(v, a) == "sad"]
    assert sad and sorted(shown_titles(browser)) == sorted(sad)
    assert plotted(browser) == len(sad)
    # Free text on top of it, then no mood filter.
    browser.find_element(By.ID, "f-text").send_keys("GRI")
    assert shown_titles(browser) == ["grief"]
    Select(browser.find_element(By.ID, "f-quadrant")).select_by_index(0)
    browser.find_element(By.ID, "f-text").clear()
    js(browser, "document.getElementById('f-text').dispatchEvent(new Event('input'))")
    assert len(shown_titles(browser)) == len(SPREAD)

    # Sort by valence: descending on the second click.
    header = browser.find_element(By.CSS_SELECTOR, "#tracks [data-key=valence]")
    header.click()
    assert shown_titles(browser) == [t for t, *_ in sorted(SPREAD, key=lambda r: r[1])]
    header.click()
    assert shown_titles(browser) == [t for t, *_ in sorted(SPREAD, key=lambda r: -r[1])]

    # Colour by mood: one trace per mood word, counted in the legend.
    browser.find_element(By.CSS_SELECTOR, "input[name=colour][value=mood]").click()
    names = js(browser, "return document.getElementById('plot').data.map(t => t.name)")
    counts = {m: sum(mood(v, a) == m for _, v, a, _ in SPREAD) for m in ("happy", "tense", "sad", "calm")}
    assert names == [f"{m} ({n})" for m, n in counts.items() if n] + ["album mean (1)"]
    assert all(f"{m} ({n})" in browser.find_element(By.ID, "plot").text for m, n in counts.items() if n)
    # A click on a legend entry filters the page to that mood; a second click undoes it.
    entry = browser.find_elements(By.CSS_SELECTOR, "#plot .legend .traces")[list(counts).index("sad")]
    entry.find_element(By.CSS_SELECTOR, ".legendtoggle").click()
    assert sorted(shown_titles(browser)) == sorted(sad)
    assert Select(browser.find_element(By.ID, "f-quadrant")).first_selected_option.text == "Q3 sad"
    browser.find_elements(By.CSS_SELECTOR, "#plot .legend .traces")[0].find_element(
        By.CSS_SELECTOR, ".legendtoggle").click()
    assert len(shown_titles(browser)) == len(SPREAD)


@needs_chromium
def test_a_box_selected_region_downloads_the_m3u_of_its_tracks(disk_env, plugin_config, browser, downloads,
                                                                tmp_path):
    from selenium.webdriver.common.by import By

    plugin = disk_env.load(**plugin_config)
    add_valued(disk_env.lib)
    out = tmp_path / "library.html"
    disk_env.run_command("emomucs", "--map", str(out))
    open_page(browser, out)
    # A real mouse drag of a box over the positive-valence half (the page starts in box-select mode).
    real_mouse(browser, plot_xy(browser, 0.52, 0.98), "down", plot_xy(browser, 0.75, 0.5),
               plot_xy(browser, 0.99, 0.02), "up")
    inside = [t for t, v, a, _ in SPREAD if v >= 0.52]
    wait_for(lambda: len(shown_titles(browser)) == len(inside))
    assert sorted(shown_titles(browser)) == sorted(inside)
    assert browser.find_element(By.ID, "count").text == f"{len(inside)} selected"

    for old in downloads.iterdir():
        old.unlink()
    browser.find_element(By.ID, "save").click()
    saved = wait_for(lambda: [p for p in downloads.glob("*.m3u")])
    # The same bytes `--playlist` would write for these tracks, in the table's order.
    points = {p.title: p for p in (track_point(plugin, i) for i in disk_env.lib.items())}
    expected = tmp_path / "expected.m3u"
    write_m3u(expected, [points[t] for t in shown_titles(browser)])
    assert wait_for(lambda: saved[0].read_bytes()) == expected.read_bytes()

    # Clearing the selection shows every track again.
    browser.find_element(By.ID, "clear").click()
    assert len(shown_titles(browser)) == len(SPREAD)


#: A title, artist and album that would run script if they reached the page as markup.
NASTY = {"title": "<script>window.__pwned = 1</script> Ça & \"quotes\" 'x' </td>",
         "artist": "<img src=x onerror=\"window.__pwned = 2\"> Ünï",
         "album": "R&B <b>bold</b> &amp; </script><script>window.__pwned = 3</script>"}


@needs_chromium
def test_one_analysed_track_with_special_characters_renders_plays_and_runs_no_script(
        disk_env, plugin_config, browser, tmp_path):
    from selenium.webdriver.common.by import By

    plugin = disk_env.load(**plugin_config)
    folder = disk_env.temp_path / "my #1 folder" / "Ünï & <b>"
    folder.mkdir(parents=True)
    path = make_track(folder / "01 a#b 'c' \"d\" é.flac", **NASTY)
    disk_env.lib.add_album([Item.from_path(str(path))])
    disk_env.run_command("emomucs", "-W")
    item = disk_env.lib.items().get()
    assert item["valence"] is not None
    out = tmp_path / "one & #1 é.html"
    disk_env.run_command("emomucs", "--map", str(out), "--map-albums")
    open_page(browser, out)

    assert shown_titles(browser) == [NASTY["title"]]
    row = js(browser, "return [...document.querySelector('#rows [role=row]').children].map(c => c.textContent)")
    assert row[:3] == [NASTY["artist"], NASTY["title"], NASTY["album"]]
    assert js(browser, "return window.__pwned") is None
    assert js(browser, "return document.querySelectorAll('body img, body b, #rows script').length") == 0
    assert js(browser, "return document.querySelectorAll('script').length") == 3  # plotly, data, the page's

    # Hover with the real mouse: the label shows the strings as typed.
    xy = plot_xy(browser, item["valence"], item["arousal"])
    real_mouse(browser, xy)
    hover = wait_for(lambda: js(browser, "return [...document.querySelectorAll('.hovertext')]"
                                         ".map(e => e.textContent).join('')"))
    assert NASTY["title"] in hover and NASTY["artist"] in hover and NASTY["album"] in hover
    assert f"valence {item['valence']:.3f}"[:-1] in hover

    # Click the point: the page plays the file from its path and shows the --explain numbers.
    real_mouse(browser, xy, "down", "up")
    wait_for(lambda: browser.find_element(By.ID, "now").is_displayed())
    # Named as every line names a track (beets' format_item: artist - album - title).
    assert browser.find_element(By.ID, "now-label").text == f"{NASTY['artist']} - {NASTY['album']} - {NASTY['title']}"
    src = js(browser, "return document.getElementById('player').src")
    assert unquote(urlparse(src).path) == os.fsdecode(item.path)
    duration = wait_for(lambda: js(browser, "return document.getElementById('player').duration"))
    assert duration == pytest.approx(item.length, abs=0.1)  # the browser really opened the file
    bars = js(browser, "return [...document.querySelectorAll('#bars tbody tr')]"
                       ".map(r => [...r.querySelectorAll('td:first-child, .num')].map(e => e.textContent))")
    assert [b[0] for b in bars] == list(SOURCES)
    for source, shown_valence, shown_arousal in bars:
        for shown, dim in ((shown_valence, "valence"), (shown_arousal, "arousal")):
            assert shown[0] in "+-" and float(shown) == pytest.approx(item[source_field(source, dim)], abs=0.0051)
    assert js(browser, "return window.__pwned") is None

    # The page's playlist of its one track is what --playlist writes (the path's '#', spaces and all).
    expected = tmp_path / "expected.m3u"
    write_m3u(expected, [track_point(plugin, item)])
    assert js(browser, "return emomucsMap.m3u(emomucsMap.listed())").encode() == expected.read_bytes()


def test_empty_query_and_wrong_extension_write_nothing(disk_env, plugin_config, tmp_path, caplog):
    disk_env.load(**plugin_config)
    add_valued(disk_env.lib)
    with caplog.at_level(logging.INFO):
        disk_env.run_command("emomucs", "--map", str(tmp_path / "none.html"), "title:nothing-like-this")
    assert "no tracks match 'title:nothing-like-this'" in caplog.messages
    for name in ("map.svg", "map.jpg"):  # matplotlib would write PNG bytes under any name
        with pytest.raises(UserError, match=rf"--map writes FILE.png .* or FILE.html .*, not {name[-4:]}$"):
            disk_env.run_command("emomucs", "--map", str(tmp_path / name))
    with pytest.raises(UserError, match="cannot write the map"):
        disk_env.run_command("emomucs", "--map", str(tmp_path / "missing" / "map.html"))
    assert list(tmp_path.iterdir()) == []
    # The page says what it holds, as the PNG does.
    disk_env.run_command("emomucs", "--map", str(tmp_path / "MAP.HTM"))
    assert f"{tmp_path / 'MAP.HTM'}: 6 tracks (1 not analysed, left out)" in caplog.text
    assert (tmp_path / "MAP.HTM").read_bytes().startswith(b"<!DOCTYPE html>")
