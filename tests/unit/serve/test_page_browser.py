"""The page at / in a real headless Chromium: type sentences, see labels and bars."""

from __future__ import annotations

import httpx
import pytest

from phalanx.serve import BackgroundServer, ServeConfig, create_app
from tests.browser import headless_chromium, needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def browser(tmp_path):
    yield from headless_chromium(tmp_path / "profile", window="1000,900")


def _classify_on_page(driver, url: str, lines: list[str], model: str | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    if model:
        Select(driver.find_element(By.ID, "model")).select_by_value(model)
    driver.find_element(By.ID, "texts").send_keys("\n".join(lines))
    driver.find_element(By.ID, "classify").click()
    wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results .result")))
    return driver.find_elements(By.CSS_SELECTOR, "#results .result")


def test_the_page_shows_each_sentences_label_and_a_bar_per_class(registry, browser, tmp_path):
    from selenium.webdriver.common.by import By

    lines = ["a charming journey", "it's slow -- very, very slow.", "<b>not markup</b>"]
    with BackgroundServer(create_app(registry, ServeConfig())) as srv:
        api = httpx.post(srv.url + "/v1/classify", json={"texts": lines, "model": "topic"}).json()
        rows = _classify_on_page(browser, srv.url + "/", lines, model="topic")
        assert len(rows) == 3
        for row, line, want in zip(rows, lines, api["results"], strict=True):
            assert row.find_element(By.CSS_SELECTOR, ".label").text == want["label"]
            score = row.find_element(By.CSS_SELECTOR, ".score")
            assert float(score.get_attribute("data-score")) == pytest.approx(want["score"])
            assert score.text == f"{100 * want['score']:.1f}%"
            assert line in row.find_element(By.CSS_SELECTOR, ".text").text  # shown as text
            bars = row.find_elements(By.CSS_SELECTOR, ".bar")
            assert [b.get_attribute("data-label") for b in bars] == ["x", "y", "z"]
            probs = [float(b.get_attribute("data-prob")) for b in bars]
            assert probs == pytest.approx([want["probabilities"][c] for c in "xyz"], abs=1e-6)
            widths = [b.size["width"] for b in bars]  # the bars are drawn to scale
            top = max(range(3), key=probs.__getitem__)
            assert widths[top] == max(widths) and widths[top] > 0
        assert not browser.find_elements(By.CSS_SELECTOR, "#results b")  # no injected markup
        browser.save_screenshot(str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").stat().st_size > 1000


def test_the_page_works_with_an_api_key_from_its_link(registry, browser):
    from selenium.webdriver.common.by import By

    with BackgroundServer(create_app(registry, ServeConfig(api_key="k3y"))) as srv:
        rows = _classify_on_page(browser, srv.url + "/?api_key=k3y", ["a charming journey"])
        labels = [
            b.get_attribute("data-label") for b in rows[0].find_elements(By.CSS_SELECTOR, ".bar")
        ]
        assert labels == ["LABEL_0", "LABEL_1"]
        assert browser.find_element(By.ID, "error").text == ""
