"""A manager in Chromium: opens the escalation history, filters it, downloads the CSV."""

from __future__ import annotations

import csv
import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT, TEST_PASSWORD, in_ci
from triage.tests import test_metrics as constructed

# Playwright's sync API runs an event loop in this thread; the ORM calls the fixtures make
# around it are synchronous and safe here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

built = constructed.built
team = constructed.team
playbook_version = constructed.playbook_version
fast_passwords = constructed.fast_passwords


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM}"
        if in_ci():
            pytest.fail(f"CI needs Chromium: {reason}")
        print(f"\nSKIPPED browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@contextmanager
def screenshot_on_failure(page, name: str):
    """Save a full-page screenshot to test-artifacts/ when the block fails."""
    try:
        yield
    except BaseException:
        folder = ROOT / "test-artifacts"
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        raise


@pytest.mark.browser
def test_manager_filters_the_history_and_downloads_the_csv(
    transactional_db, live_server, built, make_user, browser_page
):
    make_user("carol_manager", "manager")
    page = browser_page
    with screenshot_on_failure(page, "manager_history_csv"):
        _filter_and_download(page, live_server.url)


def _filter_and_download(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", "carol_manager")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/manager/history/**")

    page.goto(f"{base_url}/manager/history/?from=2026-03-01&to=2026-03-31")
    page.get_by_text("5 decisions").wait_for()
    page.select_option("#id_outcome", "returned")
    page.click("#filters button[type=submit]")
    # htmx swaps the results in place and pushes the filtered address.
    page.get_by_text("1 decision between").wait_for()
    assert "outcome=returned" in page.url
    assert page.locator("table.history tbody tr").count() == 1
    assert page.locator("#filters").count() == 1

    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["t2_outcome"] for r in rows] == ["returned"]
    assert rows[0]["l1_analyst"] == "dave"
