"""Writing, submitting and following WhatsApp templates, without Odoo: the
checks Meta applies, the request it expects, the client against the
loopback Graph API, and the review webhooks."""

import json

import pytest

from .conftest import load_tool
from .fake_graph import (
    PHONE_NUMBER_ID,
    TOKEN,
    WABA_ID,
    FakeGraph,
    signed_webhook,
    template_category_webhook,
)

authoring = load_tool("whatsapp_template_authoring")
shipped = load_tool("whatsapp_shipped_templates")
intents = load_tool("intents")
wa_client = load_tool("whatsapp_client")
wa_webhook = load_tool("whatsapp_webhook")
signatures = load_tool("signatures")

EXAMPLES = {
    "name": "Maria Silva",
    "amount": "$1,234.50",
    "due_date": "03/15/2026",
    "days_overdue": "7",
    "invoices": "INV/2026/00042",
    "company": "Acme",
}
BASE = "https://erp.example.com"


@pytest.fixture
def fake():
    with FakeGraph() as server:
        yield server


def _client(fake):
    return wa_client.WhatsAppCloudClient(
        PHONE_NUMBER_ID, TOKEN, waba_id=WABA_ID, base_url=fake.base_url, timeout=2
    )


def test_shipped_templates_pass_meta_checks_in_three_languages():
    templates = shipped.shipped_templates(BASE)
    assert {t["language"] for t in templates} == {"en", "es", "pt_BR"}
    assert len(templates) == 3 * len(shipped.SHIPPED_TEMPLATES)
    payloads = set(intents.QUICK_REPLY_PAYLOADS.values())
    for item in templates:
        assert item["category"] == "UTILITY"
        assert authoring.template_problems(item, EXAMPLES) == [], item["name"]
        titles = [b["text"] for b in item["buttons"] if b["type"] == "QUICK_REPLY"]
        assert {intents.quick_reply_payload(title) for title in titles} <= payloads
        assert item["buttons"][0]["url"] == f"{BASE}/collections/{{{{1}}}}"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "Bad-Name"}, authoring.NAME),
        ({"language": "spanish"}, authoring.LANGUAGE),
        ({"category": "PROMO"}, authoring.CATEGORY),
        ({"body": "  "}, authoring.BODY_EMPTY),
        ({"body": "Hi {{1}} " + "x" * 1024 + "."}, authoring.BODY_LENGTH),
        ({"body": "Hi {{name}}, thanks."}, authoring.VARIABLE_FORMAT),
        ({"body": "Hi {{1}}, {{3}} due."}, authoring.VARIABLE_ORDER),
        ({"body": "{{1}}, thanks."}, authoring.VARIABLE_EDGE),
        ({"body": "Hi, {{1}}"}, authoring.VARIABLE_EDGE),
        ({"variables": ["name", "amount"]}, authoring.VARIABLE_VALUE),
        ({"variables": ["iban"]}, authoring.VARIABLE_EXAMPLE),
        ({"buttons": [{"type": "QUICK_REPLY", "text": "A"}] * 4}, "quick_reply_count"),
        ({"buttons": [{"type": "QUICK_REPLY", "text": "A"}] * 11}, "button_count"),
        ({"buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]}, "button_text"),
        (
            {"buttons": [{"type": "URL", "text": "Go", "url": "/collections/{{1}}"}]},
            authoring.BUTTON_URL,
        ),
        (
            {"buttons": [{"type": "URL", "text": "Go", "url": "https://a.b/{{1}}/x"}]},
            authoring.BUTTON_URL,
        ),
        ({"header_format": "DOCUMENT"}, authoring.HEADER),
    ],
)
def test_template_problems(changes, code):
    item = {
        "name": "fd_test",
        "language": "en",
        "category": "UTILITY",
        "body": "Hi {{1}}, thanks.",
        "variables": ["name"],
        "buttons": [],
    } | changes
    assert code in [
        found for found, _details in authoring.template_problems(item, EXAMPLES)
    ]


def test_template_request_and_creation(fake):
    [item] = [
        t
        for t in shipped.shipped_templates(BASE)
        if (t["name"], t["language"]) == ("fd_reminder_due_today", "en")
    ]
    request = authoring.template_request(item, EXAMPLES, "token")
    assert request == {
        "name": "fd_reminder_due_today",
        "language": "en",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": item["body"],
                "example": {
                    "body_text": [
                        ["Maria Silva", "Acme", "$1,234.50", "INV/2026/00042"]
                    ]
                },
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "See and pay",
                        "url": f"{BASE}/collections/{{{{1}}}}",
                        "example": [f"{BASE}/collections/token"],
                    },
                    {"type": "QUICK_REPLY", "text": "I already paid"},
                    {"type": "QUICK_REPLY", "text": "I need more time"},
                ],
            },
        ],
    }
    client = _client(fake)
    created = client.create_template(request)
    assert created["status"] == "PENDING" and created["category"] == "UTILITY"
    [call] = fake.requests
    assert call["path"] == f"/v21.0/{WABA_ID}/message_templates"
    assert call["json"] == request
    with pytest.raises(wa_client.WhatsAppError) as twice:
        client.create_template(request)
    assert twice.value.kind == wa_client.INVALID_REQUEST
    assert "already exists" in twice.value.message


def test_review_webhook_is_signed_and_parsed(fake):
    created = _client(fake).create_template(
        authoring.template_request(
            shipped.shipped_templates(BASE)[0], EXAMPLES, "token"
        )
    )
    raw_body, headers = fake.review(
        created["id"], "REJECTED", "app-secret", reason="INVALID_FORMAT", timestamp=1
    )
    assert signatures.verify_meta_signature(
        "app-secret", raw_body, headers["X-Hub-Signature-256"]
    )
    [event] = wa_webhook.parse_webhook(json.loads(raw_body))["templates"]
    assert event == {
        "waba_id": WABA_ID,
        "timestamp": 1,
        "template_id": created["id"],
        "name": "fd_reminder_before_due",
        "language": "en",
        "kind": "status",
        "event": "REJECTED",
        "reason": "INVALID_FORMAT",
        "details": None,
    }
    assert fake.templates[0]["status"] == "REJECTED"


def test_category_webhooks_completed_and_announced():
    completed = template_category_webhook(
        WABA_ID, "42", "fd_x", "es", "MARKETING", "UTILITY", timestamp=5
    )
    [event] = wa_webhook.parse_webhook(completed)["templates"]
    assert (event["kind"], event["new_category"], event["upcoming_category"]) == (
        "category",
        "MARKETING",
        None,
    )
    announced = template_category_webhook(
        WABA_ID, "42", "fd_x", "es", "UTILITY", None, timestamp=5
    )
    announced["entry"][0]["changes"][0]["value"]["correct_category"] = "MARKETING"
    [event] = wa_webhook.parse_webhook(announced)["templates"]
    assert (event["new_category"], event["upcoming_category"]) == (
        "UTILITY",
        "MARKETING",
    )


def test_template_events_without_an_id_or_account_are_skipped():
    payload = template_category_webhook(
        WABA_ID, None, "x", "es", "MARKETING", "UTILITY"
    )
    assert wa_webhook.parse_webhook(payload)["templates"] == []
    payload = template_category_webhook(None, "42", "x", "es", "MARKETING", "UTILITY")
    assert wa_webhook.parse_webhook(payload)["templates"] == []


def test_signed_webhook_round_trip_for_reviews():
    payload = template_category_webhook(WABA_ID, "7", "x", "en", "MARKETING", "UTILITY")
    raw_body, headers = signed_webhook("s3cret", payload)
    assert signatures.verify_meta_signature(
        "s3cret", raw_body, headers["X-Hub-Signature-256"]
    )
    assert not signatures.verify_meta_signature(
        "other", raw_body, headers["X-Hub-Signature-256"]
    )
