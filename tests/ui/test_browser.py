"""The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven
by Selenium) against a live stack: progress rises without a reload, the pause button pauses the
workflow, the report downloads whole, and a unique name with HTML in it reads as text.

`SIMOPS_UI_SCREENSHOT=docs/ui-campaign.png` keeps the screenshot the test takes.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestServer

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction
from simops.core.sim import SimUpdate
from simops.devstack.in_process import LocalStack
from simops.ui.app import build_app
from simops.workflows.campaign import CampaignWorkflow
from tests.ui.conftest import new_sids, start_file_campaign

pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from tools.chromium import headless_chromium

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium or chromedriver on PATH: `make test` installs Debian's chromium and "
    "chromium-driver when it runs as root with apt-get",
)
SCREENSHOT_VARIABLE = "SIMOPS_UI_SCREENSHOT"
HTML_NAME = '<img src=x onerror="window.injected=1"><b>bold</b>'
WAIT_SECONDS = 60.0
T = TypeVar("T")


class Browser:
    """One headless Chromium with a fresh profile, downloading into `downloads`.

    Selenium blocks: the test calls it on a thread, so that the event loop serving the
    dashboard and running the worker goes on meanwhile.
    """

    def __init__(self, profile: Path, downloads: Path) -> None:
        assert CHROMIUM is not None and CHROMEDRIVER is not None
        self.driver = headless_chromium(
            CHROMIUM,
            CHROMEDRIVER,
            profile,
            "--window-size=1280,1500",
            prefs={
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
            },
        )
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )

    def text(self, selector: str) -> str:
        """The rendered text of the first element `selector` finds."""
        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)

    def click(self, selector: str) -> None:
        """Click the first element `selector` finds."""
        self.driver.find_element(By.CSS_SELECTOR, selector).click()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = Browser(tmp_path / "profile", tmp_path / "downloads")
    yield chromium
    chromium.driver.quit()


async def in_browser(call: Callable[..., T], *arguments: Any) -> T:
    """Run a blocking Selenium call on a thread."""
    return await asyncio.to_thread(call, *arguments)


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except WebDriverException:
        # The page is loading, or live.js just swapped the element out: look again.
        return False


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait until `check()` (run on a thread) holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await in_browser(_holds, check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def ended_rows(chromium: Browser) -> int:
    return int(chromium.text("#ended-rows").replace(",", ""))


async def test_a_campaign_in_chromium(
    ui_stack: LocalStack, browser: Browser, tmp_path: Path
) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 25)
    await stack.api.update_sim(sids[0], SimUpdate(unique_name=HTML_NAME))
    # The named SIM's second row is a duplicate: invalid, so its name is on the page.
    references = [HTML_NAME, *sids[1:], HTML_NAME]
    handle = await start_file_campaign(
        stack,
        tmp_path,
        "in-chromium",
        CampaignAction.ACTIVATE,
        references,
        fleet=stack.emulator.parent.fleets[0],
        rate=5.0,
        concurrency=5,
    )
    server = TestServer(build_app(stack.settings, stack.client), host="127.0.0.1")
    await server.start_server()
    try:
        page = str(server.make_url("/campaigns/in-chromium"))
        await in_browser(browser.driver.get, page)
        # A mark that a reload would wipe: progress must rise on this very page.
        await in_browser(browser.driver.execute_script, "window.notReloaded = true;")
        first = await in_browser(ended_rows, browser)
        await eventually(lambda: ended_rows(browser) >= first + 3, "progress to rise")
        assert await in_browser(browser.driver.execute_script, "return window.notReloaded;")
        assert await in_browser(browser.text, ".phase") == "running"

        await in_browser(browser.click, 'form[action$="/pause"] button')
        await eventually(lambda: browser.text("#phase") == "paused", "the paused phase")
        assert (await handle.query(CampaignWorkflow.progress)).phase == CampaignPhase.PAUSED
        assert "pause sent" in await in_browser(browser.text, ".notice")

        await in_browser(browser.click, 'form[action$="/resume"] button')
        await eventually(lambda: browser.text("#phase") == "running", "the running phase")
        await eventually(lambda: ended_rows(browser) >= 12, "more progress")
        screenshot = tmp_path / "ui-campaign.png"
        await in_browser(browser.driver.save_screenshot, str(screenshot))
        if os.environ.get(SCREENSHOT_VARIABLE):
            shutil.copyfile(screenshot, os.environ[SCREENSHOT_VARIABLE])

        await eventually(lambda: browser.text("#phase") == "completed", "the campaign's end")
        names = await in_browser(
            browser.driver.find_elements, By.CSS_SELECTOR, "ul.examples .reference"
        )
        shown = [await in_browser(lambda element=element: element.text) for element in names]
        assert HTML_NAME in shown
        injected = await in_browser(
            browser.driver.execute_script,
            "return [window.injected, document.querySelectorAll('main img, main b').length];",
        )
        assert injected == [None, 0]

        await in_browser(browser.click, 'a[href$="/report.csv"]')
        report = tmp_path / "downloads" / "in-chromium-report.csv"
        await eventually(report.exists, "the report's download")
        with report.open(encoding="utf-8", newline="") as downloaded:
            rows = list(csv.DictReader(downloaded))
    finally:
        await server.close()

    assert [row["reference"] for row in rows] == references
    assert [row["outcome"] for row in rows] == ["converged"] * 25 + ["invalid"]
