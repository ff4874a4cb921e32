"""The HTML report in a real browser (headless Chromium over the DevTools protocol, tests/report/browser.py):
no sideways scrolling from phone to desktop widths, every image decoded, every in-page link resolving,
every data link naming a file in the folder, and full-page screenshots for a person to look at
(kept under pytest's tmp path, and copied to $RNNVIZ_SCREENSHOTS when set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from PIL import Image, ImageStat

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (chromium, chromium-browser or google-chrome) on PATH"
)


@pytest.fixture(scope="module")
def browser():
    chromium = Browser(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def report(rendered_fixture) -> Path:
    return rendered_fixture[0] / "report.html"


@pytest.mark.parametrize("width", [360, 400, 800, 1400])
def test_the_page_never_scrolls_sideways(browser, report, width):
    browser.open(report, width)
    seen = browser.overflow()
    assert seen["innerWidth"] == width
    assert seen["scrollWidth"] <= width, f"{seen['scrollWidth']} px wide at {width} px: {seen['culprits']}"


def test_images_decode_and_links_resolve(browser, report):
    browser.open(report, 400)
    assert browser.evaluate("document.images.length") > 20
    assert browser.broken_images() == []
    links = browser.links()
    assert links["missing"] == [], "in-page links without a target"
    assert len(links["files"]) >= 6
    for href in links["files"]:
        assert ":" not in href and not href.startswith("/"), href  # relative: the folder can move
        assert (report.parent / href).is_file(), href


@pytest.mark.slow  # pictures to look at, three page loads: make test-all (the widths are checked above)
def test_full_page_screenshots(browser, report, tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    copy = os.environ.get("RNNVIZ_SCREENSHOTS")
    for width in (400, 800, 1400):
        browser.open(report, width)
        shot = browser.screenshot(folder / f"report-{width}px.jpg")
        with Image.open(shot) as image:
            assert image.width == width and image.height > 3000
            assert max(ImageStat.Stat(image.convert("L")).stddev) > 10, "blank screenshot"
        if copy:
            Path(copy).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, copy)


def test_the_checks_catch_a_wide_page_a_broken_image_and_a_dangling_link(browser, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><meta charset="utf-8"><body style="margin:0">'
        '<div style="overflow-x:auto"><div style="width:3000px">scrolls inside its box: fine</div></div>'
        '<div id="wide" style="width:2000px">too wide</div>'
        '<img src="missing.png" alt="gone"><a href="#nowhere">dangling</a><a href="#wide">fine</a>'
    )
    browser.open(page, 400)
    seen = browser.overflow()
    assert seen["scrollWidth"] == 2000 and seen["culprits"] == ["div#wide right=2000"]
    assert browser.broken_images() == ["gone"]
    assert browser.links()["missing"] == ["#nowhere"]
