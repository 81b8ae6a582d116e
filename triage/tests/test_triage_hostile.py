"""Event data is attacker-controlled: hostile values come out inert on every triage screen."""

import base64
import re

import pytest
from django.urls import reverse

from triage import services
from triage.decoding import decode_command_line
from triage.evidence import render_guide
from triage.tests import factories
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
JS_LINK = "javascript:alert(3)"
RLO = "invoice\u202etxt.exe"
HUGE = "powershell.exe -c " + "A" * (1024 * 1024)
HOSTILE_GUIDE = f"""## Guide {SCRIPT}

<img src=x onerror=alert(4)>
[click me]({JS_LINK}) and [docs](https://example.com/x) and <a href="javascript:alert(5)">raw</a>
<iframe src="https://evil.example"></iframe>
"""
ENCODED = base64.b64encode(f"IEX '{SCRIPT}{IMG}'".encode("utf-16le")).decode()


def assert_inert(html: str) -> None:
    assert SCRIPT not in html
    assert "<img" not in html
    bad = re.search(r"""<a\s[^>]*href\s*=\s*["']?\s*javascript:""", html, re.I)
    assert not bad, html[bad.start() - 300 : bad.end() + 100]
    assert "<iframe" not in html
    # Shown as a visible marker wherever it is displayed; form fields keep the analyst's own
    # text exactly so that saving it again does not change it.
    displayed = re.sub(r'value="[^"]*"|<textarea[^>]*>[^<]*</textarea>', "", html)
    assert "\u202e" not in displayed


@pytest.fixture
def hostile(db, l1_user, t2_user):
    factories.load_playbooks()
    rule = factories.make_rule(name=f"Rule {SCRIPT}", note=HOSTILE_GUIDE)
    parent = factories.process_doc(
        name=f"wscript{IMG}.exe",
        pid=4100,
        entity="ent-parent",
        parent_name="explorer.exe",
        parent_entity="ent-root",
        command_line=f"wscript.exe {RLO} {SCRIPT}",
        host=f"HOST{IMG}",
        user=JS_LINK,
    )
    doc = factories.process_doc(
        name=RLO,
        command_line=f"powershell.exe -enc {ENCODED} {IMG}",
        parent_command_line=HUGE,
        host=f"HOST{IMG}",
        user=JS_LINK,
    )
    child = factories.process_doc(
        name=SCRIPT,
        pid=5000,
        entity="ent-grandchild",
        parent_entity="ent-child",
        parent_pid=4242,
        command_line=HUGE,
        host=f"HOST{IMG}",
    )
    factories.store_event(parent)
    factories.store_event(child)
    alert = factories.make_alert(rule, [doc], store=True)
    services.claim(alert.pk, l1_user)
    services.answer(alert.pk, l1_user, "unusual_parent", "yes", f"note {SCRIPT} {IMG} {RLO}")
    services.answer(alert.pk, l1_user, "decoded_script", f"{SCRIPT}{JS_LINK}")
    services.set_checklist_item(alert.pk, l1_user, "l1_steps", "decode_command", "done", IMG)
    services.escalate(alert.pk, l1_user, rationale=f"{SCRIPT}")
    services.t2_claim(alert.pk, t2_user)
    services.set_checklist_item(
        alert.pk, t2_user, "t2_actions", "analyse_script", "done", SCRIPT, JS_LINK
    )
    services.t2_return(alert.pk, t2_user, f"{IMG}{RLO}")
    return alert


def _pages(client, alert):
    detail = reverse("alert:detail", args=[alert.pk])
    for tab in ("events", "tree", "timeline", "history", "guide"):
        yield f"{detail}?tab={tab}"
    yield reverse("queue:l1")
    yield reverse("queue:l1") + "?group=rule_host"
    yield reverse("queue:l1") + "?status=all"
    yield reverse("queue:t2") + "?status=all"


def test_hostile_values_are_inert_on_every_screen_for_every_role(
    client, hostile, l1_user, t2_user, manager_user
):
    for user in (l1_user, manager_user):
        client.force_login(user)
        for url in _pages(client, hostile):
            response = client.get(url)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, url
            html = response.content.decode()
            assert_inert(html)
            # The 1 MB command line is clipped, not shipped whole.
            assert len(html) < 300_000, url


def test_hostile_values_are_escaped_not_dropped(client, hostile, l1_user):
    client.force_login(l1_user)
    html = client.get(reverse("alert:detail", args=[hostile.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "⟨U+202E⟩" in html  # the right-to-left override is made visible
    assert "contains hidden characters" in html
    assert "more characters" in html  # the clipped command line says so
    # The decoded -EncodedCommand is shown, escaped.
    assert "Decoded -EncodedCommand" in html
    assert "IEX &#x27;&lt;script&gt;" in html


def test_the_htmx_workflow_fragment_is_inert_too(client, hostile, l1_user):
    client.force_login(l1_user)
    response = client.post(
        reverse("alert:answer", args=[hostile.pk]),
        {"question": "follow_on", "value": "yes", "note": SCRIPT},
        headers={"HX-Request": "true"},
    )
    assert_inert(response.content.decode())


def test_the_investigation_guide_is_sanitised():
    html = render_guide(HOSTILE_GUIDE)
    assert_inert(html)
    assert '<a href="https://example.com/x" rel="noopener noreferrer">docs</a>' in html
    assert "<h2>" in html


def test_decoding_finds_hidden_payloads():
    ps = base64.b64encode("Invoke-Mimikatz".encode("utf-16le")).decode()
    for flag in ("-EncodedCommand", "-enc", "-e", "-ec", "/enc", "-ENCODEDCOMMAND"):
        decoded = decode_command_line(f"powershell.exe -nop {flag} {ps}")
        assert [d.text for d in decoded] == ["Invoke-Mimikatz"], flag
    js = base64.b64encode(b"require('child_process').exec('calc')").decode()
    assert decode_command_line(f"node -e \"eval(atob('{js}'))\"")[0].text.startswith("require")
    inner = base64.b64encode(b"whoami /all").decode()
    outer = base64.b64encode(
        f"[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{inner}'))".encode(
            "utf-16le"
        )
    ).decode()
    texts = [d.text for d in decode_command_line(f"powershell -enc {outer}")]
    assert texts[-1] == "whoami /all" and len(texts) == 2
    assert decode_command_line("powershell -ep bypass -file C:\\x.ps1") == []
    assert decode_command_line("cmd /c echo " + "A" * 2_000_000) == []


def test_hostile_filter_values_are_ignored_not_an_error(client, hostile, l1_user, manager_user):
    # A NUL byte cannot reach PostgreSQL (it refuses it in a query): the filter reads as empty.
    client.force_login(l1_user)
    for query in ("host=a%00b", "sort=%00", "status=x&severity=%00&rule=12x&since=forever"):
        assert client.get(reverse("queue:l1") + "?" + query).status_code == 200, query
    client.force_login(manager_user)
    for query in ("technique=T%00", "analyst=%C2%B2&rule=99999999999999999999", "outcome=%00"):
        assert client.get(reverse("manager:history") + "?" + query).status_code == 200, query
