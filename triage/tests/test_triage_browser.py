"""The main journeys in a real headless Chromium: L1 claims, answers, sees the recommendation
and escalates; T2 claims, accepts, completes containment and closes. A screenshot of the page
is saved to ``test-artifacts/`` when a step fails."""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import TEST_PASSWORD, in_ci
from triage.models import Alert, Status
from triage.tests import factories
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself between browser steps are synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The flush after an earlier transactional test removes the groups a data migration made."""
    factories.ensure_role_groups()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if in_ci():
            pytest.fail(f"CI needs Chromium: {reason}")
        print(f"\nSKIPPED browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def step(page, name: str):
    """Run one journey step; on failure keep a screenshot named after it."""
    try:
        yield
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"browser-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}", file=sys.stderr)
        raise


def login(browser, live_server, user):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_l1_escalates_and_t2_contains_and_closes(browser, live_server, l1_user, t2_user):
    factories.load_playbooks()
    alert = factories.make_alert(
        docs=[factories.process_doc(command_line="powershell.exe -enc SQBFAFgA")], store=True
    )

    page = login(browser, live_server, l1_user)
    with step(page, "l1-queue"):
        assert page.url.endswith("/queue/l1/")
        page.click(f"a[href='/alerts/{alert.pk}/'] >> nth=0")
        page.wait_for_selector("[data-testid=claim]")
    with step(page, "l1-claim"):
        page.click("[data-testid=claim]")
        page.wait_for_selector("[data-testid=answer-unusual_parent-yes]")
        assert page.inner_text("[data-testid=status]") == "In triage (L1)"
    with step(page, "l1-answer"):
        # Each answer is saved as it is clicked and swaps only its own row.
        for qid, value in (
            ("expected_user", "no"),
            ("unusual_parent", "yes"),
            ("obfuscated", "unknown"),
        ):
            page.check(f"[data-testid=answer-{qid}-{value}]")
            page.wait_for_selector(f"#q-{qid}.answered")
        page.wait_for_selector("[data-testid=recommendation]:has-text('unusual parent')")
        page.wait_for_selector("#answered-count:has-text('3/10')")
        assert "Escalate to T2" in page.inner_text("[data-testid=rec-decision]")
        assert "not expected" in page.inner_text("[data-testid=recommendation]")
    with step(page, "l1-tabs"):
        page.click("a[role=tab]:has-text('History')")
        page.wait_for_selector("table.history >> text=answered")
    with step(page, "l1-escalate"):
        page.click("[data-testid=escalate]")
        page.wait_for_function(
            "document.querySelector('[data-testid=status]').innerText === 'Escalated'"
        )
    assert Alert.objects.get(pk=alert.pk).status == Status.ESCALATED
    page.context.close()

    page = login(browser, live_server, t2_user)
    with step(page, "t2-queue"):
        assert page.url.endswith("/queue/t2/")
        page.click(f"a[href='/alerts/{alert.pk}/'] >> nth=0")
        page.click("[data-testid=t2-claim]")
        page.wait_for_selector("[data-testid=t2-accept]")
    with step(page, "t2-accept"):
        page.click("[data-testid=t2-accept]")
        page.wait_for_function(
            "document.querySelector('[data-testid=status]').innerText === 'Containment'"
        )
    with step(page, "t2-containment"):
        version = Alert.objects.get(pk=alert.pk).playbook_run.playbook_version.parsed()
        for item in version.containment:
            page.click(f"[data-testid=done-{item.id}]")
            # Each row changes height when it is marked done; wait so the next click lands.
            page.wait_for_selector(f"#item-containment-{item.id}.check-done")
        page.wait_for_function(
            "document.querySelectorAll('section[data-section=containment] li.check-done').length"
            f" === {len(version.containment)}"
        )
    with step(page, "t2-close"):
        page.select_option("#t2-disposition", "true_positive")
        page.fill("#t2-reason", "Host isolated, persistence removed, credentials reset.")
        page.click("[data-testid=t2-close]")
        page.wait_for_function(
            "document.querySelector('[data-testid=status]').innerText === 'Closed'"
        )
    alert = Alert.objects.get(pk=alert.pk)
    assert alert.status == Status.CLOSED and alert.disposition == "true_positive"
    kinds = list(alert.history.values_list("kind", flat=True))
    assert kinds.count("containment_item") == len(version.containment)
    page.context.close()


def test_pages_work_without_javascript(browser, live_server, l1_user):
    factories.load_playbooks()
    alert = factories.make_alert()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", l1_user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    with step(page, "nojs-claim"):
        page.goto(f"{live_server.url}/alerts/{alert.pk}/")
        page.click("[data-testid=claim]")
        page.wait_for_selector("[data-testid=answer-unusual_parent-yes]")
    with step(page, "nojs-answer"):
        page.check("[data-testid=answer-unusual_parent-yes]")
        page.click("#q-unusual_parent button[type=submit]")
        page.wait_for_selector("[data-testid=rec-decision]:has-text('Escalate')")
    with step(page, "nojs-tab"):
        page.click("a[role=tab]:has-text('Process tree')")
        assert "tab=tree" in page.url
    context.close()
