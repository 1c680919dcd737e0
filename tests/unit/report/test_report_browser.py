"""The report page opened from disk in a real headless Chromium: every section is there,
every image decodes, nothing is fetched from anywhere, and data texts stay text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import phalanx
from tests.browser import headless_chromium, needs_chromium

pytestmark = [needs_chromium, pytest.mark.usefixtures("one_thread")]

# every image on the page: (figure name, loaded, natural width, natural height)
_IMAGES = """
return Array.from(document.images).map(
    img => [img.dataset.figure, img.complete, img.naturalWidth, img.naturalHeight]);
"""
# what the page fetched (data: URIs aside)
_FETCHED = """
return performance.getEntriesByType('resource').map(e => e.name)
    .filter(name => !name.startsWith('data:'));
"""


@pytest.fixture
def browser(tmp_path):
    yield from headless_chromium(tmp_path / "profile", window="1100,900")


def _open(driver, html: Path) -> None:
    driver.get(html.resolve().as_uri())


def test_every_section_and_image_of_a_run_report(tiny_run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    rep = phalanx.report(tiny_run, output=tmp_path / "rep")
    content = json.loads(rep.json.read_text())
    _open(browser, rep.html)
    assert browser.title == content["title"]
    for sid in content["sections"]:
        section = browser.find_element(By.ID, sid)
        assert section.tag_name == "section" and section.is_displayed()
        assert section.find_element(By.TAG_NAME, "h2").text
    images = browser.execute_script(_IMAGES)
    assert sorted(name for name, *_ in images) == sorted(content["figures"])
    for name, complete, width, height in images:
        assert complete and width > 100 and height > 100, name
    assert browser.execute_script(_FETCHED) == []
    cells = browser.find_elements(By.CSS_SELECTOR, "#per-class tbody tr")
    assert len(cells) == 2 + 2  # two classes, macro and weighted averages
    assert browser.find_elements(By.CSS_SELECTOR, "#confident_mistakes + table tbody tr")


def test_texts_from_the_data_are_shown_as_text(tiny_run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    data = tmp_path / "markup.csv"
    rows = ["<b>bold</b> the movie was bad,0", "<img src=x> the movie was good,1"]
    data.write_text("text,label\n" + "\n".join(rows * 3) + "\n")
    rep = phalanx.report(tiny_run, dataset=data, examples=100, output=tmp_path / "rep")
    _open(browser, rep.html)
    examples = browser.find_element(By.ID, "examples")
    assert not examples.find_elements(By.TAG_NAME, "b")
    assert not examples.find_elements(By.TAG_NAME, "img")
    assert "<b>bold</b> the movie was bad" in examples.text
    assert "<img src=x> the movie was good" in examples.text
    assert len(browser.execute_script(_IMAGES)) == len(rep.content["figures"])
