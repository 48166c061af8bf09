"""Size and time to first render of the ``--map FILE.html`` page for a large synthetic library.

Builds the page of N synthetic tracks (random valence, arousal, contributions; labels and paths
of ordinary length), then opens it in headless Chromium (SwiftShader WebGL, no GPU) several
times and reads back the page's own marks: milliseconds from navigation start to the plot's
first paint (``emomucs-plot``) and to the plot and the table drawn (``emomucs-rendered``). Also times one mood filter and one sort of the table.

    python benchmarks/bench_map_page.py [--tracks 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import MISSING, chromium, open_page  # noqa: E402

from beetsplug.emomucs.map_page import render_page, write_page  # noqa: E402
from beetsplug.emomucs.points import TrackPoint  # noqa: E402
from emomucs_core.constants import SOURCES  # noqa: E402


def synthetic(n: int, seed: int = 0) -> list[TrackPoint]:
    """``n`` analysed tracks spread over the plane, with four sources' contributions each."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        artist, album, title = f"Artist {i % 700}", f"Album {i % 1500}", f"Song number {i} of the library"
        points.append(TrackPoint(
            f"{artist} - {title}", path=f"/home/user/Music/{artist}/{album}/{i % 12 + 1:02d} {title}.flac",
            artist=artist, title=title, album=album, valence=rng.random(), arousal=rng.random(),
            dominant_source=rng.choice([*SOURCES, "mixed"]), length=rng.uniform(120, 400),
            contributions={s: {"valence": rng.uniform(-0.2, 0.2), "arousal": rng.uniform(-0.2, 0.2)}
                           for s in SOURCES}))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if MISSING:
        sys.exit(MISSING)
    points = synthetic(args.tracks)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "map.html"
        start = time.perf_counter()
        write_page(points, out)
        built = time.perf_counter() - start
        size = out.stat().st_size
        empty = len(render_page([]).encode())
        print(f"{args.tracks} tracks: page {size / 1e6:.2f} MB ({size} bytes; "
              f"{empty / 1e6:.2f} MB of it plotly.js and the page's script, "
              f"{(size - empty) / args.tracks:.0f} bytes per track), written in {built:.2f} s")
        plotted, rendered, filtered, sorted_ms = [], [], [], []
        for _ in range(args.runs):
            driver = chromium()
            try:
                open_page(driver, out, timeout=300)
                plotted.append(driver.execute_script("return emomucsMap.plotMs"))
                rendered.append(driver.execute_script("return emomucsMap.renderedMs"))
                filtered.append(driver.execute_script(
                    "const t = performance.now(); await emomucsMap.filter({quadrant: 'Q3'});"
                    "return performance.now() - t;"))
                sorted_ms.append(driver.execute_script(
                    "const t = performance.now(); document.querySelector('#tracks [data-key=valence]').click();"
                    "return performance.now() - t;"))
                webgl = driver.execute_script("return emomucsMap.webgl")
            finally:
                driver.quit()
        print(f"headless Chromium ({'WebGL' if webgl else 'SVG, no WebGL'}), {args.runs} runs, median (min-max):")
        for name, values in (("plot drawn (navigation start -> the plot's first paint)", plotted),
                             ("first render (navigation start -> plot and table drawn)", rendered),
                             ("filter by one mood (table + plot redrawn)", filtered),
                             ("sort the table by valence", sorted_ms)):
            print(f"  {name}: {statistics.median(values):.0f} ms ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
