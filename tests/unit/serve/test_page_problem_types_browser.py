"""The page at / in headless Chromium for multi-label and regression models: a bar per
label with its threshold marked and the decided labels; the value and its target."""

from __future__ import annotations

import httpx
import pytest

from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app
from tests.browser import needs_chromium
from tests.unit.serve.conftest import TAG_THRESHOLDS
from tests.unit.serve.test_page_browser import _classify_on_page, browser

pytestmark = needs_chromium
__all__ = ["browser"]  # the fixture, shared with the single-label page test

LINES = ["a charming journey", "<b>not markup</b>"]
_FIRST = "const r = document.querySelector('#results .result'); return r && r.dataset.problem;"


@pytest.fixture(scope="module")
def registry(adapters, problem_adapters):
    folders = {**adapters, **problem_adapters}
    return ModelRegistry.load([f"{n}={folders[n]}" for n in ("pos", "tags", "rating")])


def test_multi_label_rows_show_every_labels_bar_its_threshold_and_the_decided_labels(
    registry, browser
):
    from selenium.webdriver.common.by import By

    with BackgroundServer(create_app(registry, ServeConfig())) as srv:
        api = httpx.post(srv.url + "/v1/classify", json={"texts": LINES, "model": "tags"}).json()
        rows = _classify_on_page(browser, srv.url + "/", LINES, model="tags")
        option = browser.find_element(By.CSS_SELECTOR, "#model option[value='tags']").text
        assert option == "tags (multi-label: a / b / c)"
        assert len(rows) == 2
        for row, line, want in zip(rows, LINES, api["results"], strict=True):
            assert row.get_attribute("data-problem") == "multi_label"
            assert row.find_element(By.CSS_SELECTOR, ".labels").text == "a, b"
            assert want["labels"] == ["a", "b"]
            assert line in row.find_element(By.CSS_SELECTOR, ".text").text  # shown as text
            bars = row.find_elements(By.CSS_SELECTOR, ".bar")
            assert [b.get_attribute("data-label") for b in bars] == ["a", "b", "c"]
            probs = [float(b.get_attribute("data-prob")) for b in bars]
            assert probs == pytest.approx([want["probabilities"][k] for k in "abc"], abs=1e-6)
            marks = row.find_elements(By.CSS_SELECTOR, ".threshold")
            ts = [float(m.get_attribute("data-threshold")) for m in marks]
            assert ts == pytest.approx(list(TAG_THRESHOLDS))
            on = [b.get_attribute("data-label") for b in bars if "on" in b.get_attribute("class")]
            assert on == ["a", "b"]  # highlighted: at or above their thresholds
            rows_on = row.find_elements(By.CSS_SELECTOR, ".bar-row.on")
            assert len(rows_on) == 2
            # drawn to scale: each marker sits at its threshold along the track
            for bar, mark, t in zip(bars, marks, TAG_THRESHOLDS, strict=True):
                track = bar.find_element(By.XPATH, "..")
                x = mark.location["x"] + mark.size["width"] / 2 - track.location["x"]
                assert x == pytest.approx(t * track.size["width"], abs=3)
            assert bars[0].size["width"] > bars[2].size["width"]
            assert not row.find_elements(By.CSS_SELECTOR, ".score")  # no single score
        assert not browser.find_elements(By.CSS_SELECTOR, "#results b")  # no injected markup


def test_regression_rows_show_the_value_and_the_target(registry, browser):
    from selenium.webdriver.common.by import By

    with BackgroundServer(create_app(registry, ServeConfig())) as srv:
        api = httpx.post(srv.url + "/v1/classify", json={"texts": LINES, "model": "rating"}).json()
        rows = _classify_on_page(browser, srv.url + "/", LINES, model="rating")
        option = browser.find_element(By.CSS_SELECTOR, "#model option[value='rating']").text
        assert option == "rating (regression: score)"
        for row, want in zip(rows, api["results"], strict=True):
            assert row.get_attribute("data-problem") == "regression"
            value = row.find_element(By.CSS_SELECTOR, ".value")
            assert float(value.get_attribute("data-value")) == pytest.approx(want["value"])
            assert float(value.text) == pytest.approx(want["value"], rel=1e-3)  # 4 digits
            assert row.find_element(By.CSS_SELECTOR, ".target").text == "score"
            assert not row.find_elements(By.CSS_SELECTOR, ".bar")  # a number, no bars


def test_switching_models_redraws_in_the_new_shape(registry, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with BackgroundServer(create_app(registry, ServeConfig())) as srv:
        _classify_on_page(browser, srv.url + "/", LINES, model="tags")
        for model, problem in (("rating", "regression"), ("pos", "single_label")):
            Select(browser.find_element(By.ID, "model")).select_by_value(model)
            browser.find_element(By.ID, "classify").click()
            WebDriverWait(browser, 60).until(lambda d, p=problem: d.execute_script(_FIRST) == p)
        rows = browser.find_elements(By.CSS_SELECTOR, "#results .result")
        assert len(rows) == 2
        assert rows[0].find_element(By.CSS_SELECTOR, ".score").text.endswith("%")
        assert not browser.find_elements(By.CSS_SELECTOR, ".threshold, .value")
