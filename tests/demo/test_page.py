"""The page in a real browser (Debian's headless Chromium through Selenium): a typed query on a built-in
synthetic video shows exactly ``Localizer.predict``'s spans; a bad features file shows its message and the page
keeps working.  The first test takes a screenshot of the answered page; the README's, docs/demo.png, is made
with the default run's checkpoint by ``DEMO_CKPT=runs/synthetic DEMO_SCREENSHOT=docs/demo.png python -m pytest
tests/demo/test_page.py -k typed_query``."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from demo.app import DEFAULT_K, DemoApp
from demo.server import DemoServer
from engine.atomic import atomic_output
from engine.localizer import Localizer
from tests.demo.conftest import serve, stop

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
APT_INSTALL = "apt-get install chromium chromium-driver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")
WINDOW = (1100, 900)  # pixels; the screenshot grows to the page's height
WAIT_S = 60  # the longest wait for the page (a query on 2 CPU cores under load)
SCREENSHOT_ENV = "DEMO_SCREENSHOT"  # where the first test saves its screenshot (default: the test's tmp_path)
VIDEO_ID = "synth-test-00003"
BAD_CLIPS, BAD_WIDTH = 20, 7
SECONDS_SHOWN, SCORE_SHOWN = 2, 4  # decimals in the table
VIDEO_QUERY = "person opens door"  # words of the video checkpoint's vocabulary (tests/export/tiny.py)
PLAYER_TOLERANCE_S = 1e-3  # the position a player reports back for the one it is given


def browser_missing() -> str:
    """Why the browser tests cannot run here ('' when they can), with the install command."""
    reasons = []
    if importlib.util.find_spec("selenium") is None:
        reasons.append("the browser tests need selenium: pip install -e '.[dev]'")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        reasons.append(f"the browser tests need Debian's headless Chromium and its driver: {APT_INSTALL}")
    return "; ".join(reasons)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def wait(driver, condition, what: str):  # noqa: ANN001 (selenium types are optional)
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition, f"the page did not {what} within {WAIT_S} s")


def open_page(driver, server: DemoServer) -> None:  # noqa: ANN001
    driver.get(server.url)
    wait(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true", "load")


def ask(driver, query: str) -> None:  # noqa: ANN001
    """Type ``query`` and press Enter; return once an answer or a message shows."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.getElementById('result').hidden = true;")
    box = driver.find_element("id", "query")
    box.clear()
    box.send_keys(query, Keys.RETURN)
    wait(driver, lambda d: d.find_element("id", "result").is_displayed() or d.find_element("id", "message")
         .is_displayed(), "answer")


def shown_spans(driver) -> list[tuple[float, float, float]]:  # noqa: ANN001
    """The spans in the page's table (the exact values it received) after checking the text shown for each."""
    spans = []
    for rank, row in enumerate(driver.find_elements("css selector", "#spans tbody tr"), 1):
        span = tuple(float(row.get_attribute(f"data-{key}")) for key in ("start", "end", "score"))
        cells = [cell.text for cell in row.find_elements("tag name", "td")]
        assert cells[0] == str(rank)
        for text, value, decimals in zip(cells[1:], span, (SECONDS_SHOWN, SECONDS_SHOWN, SCORE_SHOWN), strict=True):
            assert abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-12, (text, value)
        spans.append(span)
    return spans


def test_a_typed_query_shows_the_spans_of_predict(browser, demo_server: DemoServer, demo_app: DemoApp,
                                                  localizer: Localizer, tmp_path: Path):
    from selenium.webdriver.support.ui import Select

    open_page(browser, demo_server)
    Select(browser.find_element("id", "builtin")).select_by_value(VIDEO_ID)
    wait(browser, lambda d: VIDEO_ID in d.find_element("id", "video-info").text, "show the chosen video")
    video = demo_app.store.builtins[VIDEO_ID]
    query = video.truth[0]
    ask(browser, query)
    assert not browser.find_element("id", "message").is_displayed(), browser.find_element("id", "message").text
    assert shown_spans(browser) == localizer.predict(video.features, query, video.duration, DEFAULT_K)
    assert re.match(r"Answered in \d+\.\d ms by the model", browser.find_element("id", "timing").text)
    timeline = browser.find_element("id", "timeline")
    assert len(timeline.find_elements("css selector", "polyline")) == 4  # start, end, inside, Pe
    assert len(timeline.find_elements("css selector", "rect.span")) == DEFAULT_K
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "demo.png")
    with atomic_output(screenshot) as tmp:
        tmp.write_bytes(full_page_png(browser))
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def full_page_png(driver) -> bytes:  # noqa: ANN001
    """A PNG of the whole page, below the window's bottom edge too (Chromium's DevTools protocol)."""
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    return base64.b64decode(shot["data"])


def test_a_bad_features_file_shows_its_message_and_queries_still_work(
        browser, demo_server: DemoServer, demo_app: DemoApp, localizer: Localizer, tmp_path: Path):
    open_page(browser, demo_server)
    first = next(iter(demo_app.store.builtins.values()))  # the page starts on the first built-in video
    bad = tmp_path / "wrong-width.npy"
    np.save(bad, np.zeros((BAD_CLIPS, BAD_WIDTH), np.float32))
    browser.find_element("id", "features-file").send_keys(str(bad))
    message = wait(browser, lambda d: d.find_element("id", "message").is_displayed()
                   and d.find_element("id", "message").text, "show a message")
    assert f"wrong-width.npy: shape ({BAD_CLIPS}, {BAD_WIDTH}); expected (T >= 1, 64) clip features" in message
    ask(browser, "   ")
    assert "type a query" in browser.find_element("id", "message").text
    ask(browser, first.truth[0])
    assert not browser.find_element("id", "message").is_displayed()
    assert shown_spans(browser) == localizer.predict(first.features, first.truth[0], first.duration, DEFAULT_K)


@pytest.fixture(scope="module")
def video_server(video_app: DemoApp) -> Iterator[DemoServer]:
    server, thread = serve(video_app)
    yield server
    stop(server, thread)


def test_a_video_file_plays_and_a_clicked_span_moves_the_player(browser, video_server: DemoServer,
                                                                 video_app: DemoApp, webm_clip: Path, tmp_path: Path):
    open_page(browser, video_server)
    assert not browser.find_element("id", "builtin").is_enabled()  # a 1024-d model: no synthetic videos
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    browser.find_element("id", "video-file").send_keys(str(broken))
    message = wait(browser, lambda d: d.find_element("id", "message").is_displayed()
                   and d.find_element("id", "message").text, "show a message")
    assert "broken.mp4: cannot be decoded" in message
    browser.find_element("id", "video-file").send_keys(str(webm_clip))
    wait(browser, lambda d: "bars.webm" in d.find_element("id", "video-info").text, "show the uploaded video")
    player = browser.find_element("id", "player")
    assert player.is_displayed()
    ask(browser, VIDEO_QUERY)
    video = video_app.store.get(browser.execute_script("return currentVideo.id"))
    expected = video_app.localizer.predict(video.features, VIDEO_QUERY, video.duration, DEFAULT_K)
    assert shown_spans(browser) == expected
    wait(browser, lambda d: d.execute_script("return arguments[0].readyState", player) >= 1,
         "load the video's metadata")  # served in byte ranges by /api/media
    rank = len(expected) - 1  # the last row: a span that does not start at 0
    row = browser.find_elements("css selector", "#spans tbody tr")[rank]
    # the click and the read in one script: the player starts playing from there right after
    position = browser.execute_script("arguments[0].click(); return arguments[1].currentTime", row, player)
    assert position == pytest.approx(expected[rank][0], abs=PLAYER_TOLERANCE_S)
