"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by selenium, for the map page.

WebGL runs on SwiftShader, Chromium's software renderer: no GPU or display needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: Why the browser tests cannot run here (None when they can).
MISSING = None if CHROMIUM and CHROMEDRIVER else (
    "headless Chromium is not installed (apt-get install chromium chromium-driver; `make test` does it as root)")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
         "--use-angle=swiftshader", "--disable-gpu-sandbox")


def chromium(downloads: Path | None = None, size: tuple[int, int] = (1400, 1000)):
    """A selenium driver of headless Chromium; files the page downloads land in ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def open_page(driver, path: str | Path, timeout: float = 60) -> None:
    """Load the page at ``path`` and wait until its script has drawn the plot and the table."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).absolute().as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body && document.body.dataset.rendered === 'yes'"))


def plot_xy(driver, valence: float, arousal: float) -> tuple[int, int]:
    """Viewport pixel (x, y) of a point of the valence/arousal plane in the page's plot."""
    x, y = driver.execute_script(
        "const p = document.getElementById('plot'), L = p._fullLayout, r = p.getBoundingClientRect();"
        "return [r.left + L.xaxis._offset + L.xaxis.l2p(arguments[0]),"
        "        r.top + L.yaxis._offset + L.yaxis.l2p(arguments[1])];", valence, arousal)
    return round(x), round(y)
