"""The interactive messages, option ids and working-hours answer of the
in-chat flows, without Odoo; the client sends them to the loopback fake of
the Graph API, which keeps WhatsApp's limits."""

from datetime import datetime, timedelta

import pytest

from .conftest import load_tool
from .fake_graph import PHONE_NUMBER_ID, TOKEN, FakeGraph

interactive = load_tool("whatsapp_interactive")
wa_client = load_tool("whatsapp_client")
hours = load_tool("working_hours")


@pytest.fixture
def client():
    with FakeGraph() as server:
        yield (
            wa_client.WhatsAppCloudClient(
                PHONE_NUMBER_ID, TOKEN, base_url=server.base_url, timeout=2
            ),
            server,
        )


def test_option_ids_round_trip_and_refuse_anything_else():
    ident = interactive.option_id(7, "plan3")
    assert interactive.parse_option_id(ident) == (7, "plan3")
    for value in (
        "PAY_NOW",
        "7:Plan3",
        "7:",
        ":plan3",
        "x:plan3",
        "7:plan3;drop",
        None,
    ):
        assert interactive.parse_option_id(value) is None


def test_buttons_and_lists_keep_whatsapps_limits():
    buttons = interactive.choices(
        "Body", "Choose", [("1:a", "Confirm", ""), ("1:b", "Other options", "")]
    )
    assert buttons["type"] == "button"
    assert [b["reply"]["id"] for b in buttons["action"]["buttons"]] == ["1:a", "1:b"]
    long_titles = [
        (f"1:o{i}", "A title much longer than twenty-four", "d" * 100)
        for i in range(10)
    ]
    as_list = interactive.choices("Body", "Choose", long_titles)
    assert as_list["type"] == "list"
    rows = as_list["action"]["sections"][0]["rows"]
    assert all(
        len(row["title"]) <= 24 and len(row["description"]) <= 72 for row in rows
    )
    with pytest.raises(ValueError):
        interactive.list_message("Body", "Choose", long_titles + [("1:x", "x", "")])
    with pytest.raises(ValueError):
        interactive.reply_buttons("Body", long_titles[:4])


def test_readable_and_numbered_forms_say_the_same():
    link = interactive.cta_url("Pay 10.00 now:", "Pay now", "https://pay.example.com/x")
    assert "[Pay now] https://pay.example.com/x" in interactive.readable(link)
    text = interactive.numbered_text("How?", ["2 payments", "3 payments"])
    assert text == "How?\nReply 1: 2 payments\nReply 2: 3 payments"


def test_the_client_sends_interactive_messages(client):
    whatsapp, server = client
    menu = interactive.list_message("Hi", "Options", [("1:paid", "I already paid", "")])
    assert whatsapp.send_interactive("+34 612 34 56 78", menu).startswith("wamid")
    [request] = [r for r in server.requests if r["path"].endswith("/messages")]
    assert request["json"]["type"] == "interactive"
    assert request["json"]["to"] == "34612345678"
    assert request["json"]["interactive"] == menu


def test_the_fake_graph_refuses_what_whatsapp_refuses(client):
    whatsapp, _server = client
    too_long = interactive.reply_buttons("Hi", [("1:a", "ok", "")])
    too_long["action"]["buttons"][0]["reply"]["title"] = "x" * 21
    with pytest.raises(wa_client.WhatsAppError) as error:
        whatsapp.send_interactive("34612345678", too_long)
    assert error.value.code == 131009


MONDAY = datetime(2026, 12, 7)


def week(days=range(5)):
    """Working intervals 08:00-12:00 and 13:00-17:00, Monday to Friday."""
    spans = []
    for day in days:
        start = MONDAY + timedelta(days=day)
        spans += [
            (start.replace(hour=8), start.replace(hour=12)),
            (start.replace(hour=13), start.replace(hour=17)),
        ]
    return spans


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (MONDAY.replace(hour=10), (hours.TODAY, MONDAY.replace(hour=17))),
        (MONDAY.replace(hour=7), (hours.TODAY, MONDAY.replace(hour=17))),
        (
            MONDAY.replace(hour=18),
            (hours.TOMORROW_MORNING, MONDAY.replace(day=8, hour=8)),
        ),
        (
            MONDAY.replace(day=11, hour=18),
            (hours.ON_DAY, MONDAY.replace(day=14, hour=8)),
        ),
    ],
)
def test_when_someone_writes_back(now, expected):
    spans = week() + [(s + timedelta(days=7), e + timedelta(days=7)) for s, e in week()]
    assert hours.reply_slot(now, spans) == expected


def test_a_holiday_tomorrow_morning_moves_the_answer():
    spans = [span for span in week() if span[0] != MONDAY.replace(day=8, hour=8)]
    slot = hours.reply_slot(MONDAY.replace(hour=18), spans)
    assert slot == (hours.TOMORROW_AFTERNOON, MONDAY.replace(day=8, hour=13))
    assert hours.reply_slot(MONDAY.replace(hour=18), []) is None
