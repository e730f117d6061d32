"""The compliance guard's rules, without Odoo: who a pack covers, contact
hours in the customer's local time, the binding frequency cap and the
content a message must carry."""

from datetime import datetime

import pytest

from .conftest import load_tool

compliance = load_tool("compliance")
messages = load_tool("messages")

US = compliance.PackRules(
    name="United States",
    covers=compliance.CONSUMERS,
    hour_start=8.0,
    hour_end=21.0,
    max_per_day=1,
    max_per_week=3,
)
MX = compliance.PackRules(
    name="Mexico", covers=compliance.EVERYONE, hour_start=7.0, hour_end=22.0
)
# 30 June 2026, 02:00 UTC: 22:00 on the 29th in New York (summer time),
# 20:00 in Mexico City (no summer time since 2022).
NIGHT_IN_NEW_YORK = datetime(2026, 6, 30, 2, 0)


def test_a_consumer_pack_leaves_businesses_alone():
    assert compliance.covers(US, is_company=False)
    assert not compliance.covers(US, is_company=True)
    assert compliance.covers(MX, is_company=True)


def test_the_customers_own_time_zone_comes_first():
    assert compliance.time_zones("America/Chicago", "US", "Europe/Madrid") == (
        "America/Chicago",
    )


def test_without_a_time_zone_every_zone_of_the_country_counts():
    zones = compliance.time_zones(False, "US", "Europe/Madrid")
    assert "America/New_York" in zones
    assert "Pacific/Honolulu" in zones


def test_without_time_zone_nor_country_the_company_zone_counts():
    assert compliance.time_zones(False, False, "Europe/Madrid") == ("Europe/Madrid",)
    assert compliance.time_zones(False, "AQ-none", None) == ("UTC",)


def test_22_00_in_new_york_is_outside_regulation_f_hours():
    zone, hour = compliance.outside_hours(
        NIGHT_IN_NEW_YORK, ("America/New_York",), 8.0, 21.0
    )
    assert (zone, hour) == ("America/New_York", 22.0)


def test_20_00_in_mexico_city_is_inside_condusef_hours():
    assert (
        compliance.outside_hours(NIGHT_IN_NEW_YORK, ("America/Mexico_City",), 7.0, 22.0)
        is None
    )


def test_the_end_hour_is_excluded_and_the_start_hour_included():
    at_21 = datetime(2026, 7, 1, 1, 0)  # 21:00 in New York
    at_8 = datetime(2026, 6, 30, 12, 0)  # 08:00 in New York
    assert compliance.outside_hours(at_21, ("America/New_York",), 8.0, 21.0)
    assert compliance.outside_hours(at_8, ("America/New_York",), 8.0, 21.0) is None


def test_several_zones_only_hours_that_suit_all_of_them():
    # 14:00 UTC: 10:00 in New York but 04:00 in Honolulu.
    morning_east = datetime(2026, 6, 30, 14, 0)
    zones = ("America/New_York", "Pacific/Honolulu")
    assert compliance.outside_hours(morning_east, zones, 8.0, 21.0) == (
        "Pacific/Honolulu",
        4.0,
    )
    # 20:00 UTC: 16:00 in New York, 10:00 in Honolulu.
    assert compliance.outside_hours(datetime(2026, 6, 30, 20, 0), zones, 8, 21) is None


@pytest.mark.parametrize(
    ("sent", "company_cap", "pack_cap", "binding"),
    [
        (0, 1, 1, None),
        (1, 5, 1, "pack"),  # the pack is stricter
        (1, 1, 3, "company"),  # the company is stricter
        (1, 1, 0, "company"),  # the pack sets none
        (2, 3, 0, None),
        (3, 3, 3, "company"),  # equal: the company's own setting holds it
    ],
)
def test_the_stricter_cap_wins(sent, company_cap, pack_cap, binding):
    assert compliance.binding_cap(sent, company_cap, pack_cap) == binding


CREDITOR = {
    "creditor_name": "Padaria Boa Ltda",
    "creditor_address": "Rua A 1, São Paulo",
    "creditor_vat": "11.222.333/0001-81",
}
BRAZIL = "Credor: {creditor_name}, {creditor_address}, CNPJ {creditor_vat}."


def test_required_content_names_the_creditor():
    assert compliance.fill_content(BRAZIL, CREDITOR) == (
        "Credor: Padaria Boa Ltda, Rua A 1, São Paulo, CNPJ 11.222.333/0001-81."
    )


def test_a_missing_creditor_detail_is_reported():
    assert compliance.missing_values(BRAZIL, CREDITOR | {"creditor_vat": ""}) == [
        "creditor_vat"
    ]
    assert compliance.missing_values(BRAZIL, CREDITOR) == []
    assert compliance.missing_values(False, {}) == []


def test_unknown_placeholders_are_refused():
    with pytest.raises(messages.TemplateError):
        compliance.check_content("Creditor: {name}")
    with pytest.raises(messages.TemplateError):
        compliance.check_content("Creditor: {creditor_name")


def test_additions_go_after_the_body_and_keep_its_link():
    body = "Please pay here: https://example.com/collections/abc\nThanks"
    changed, added = compliance.with_additions(
        body, ["Credor: X.", "Reply STOP to opt out."]
    )
    assert changed.startswith(body)
    assert changed.endswith("Credor: X.\n\nReply STOP to opt out.")
    assert added == ["Credor: X.", "Reply STOP to opt out."]


def test_additions_are_not_repeated():
    once, _added = compliance.with_additions("Hi", ["Credor: X."])
    twice, added = compliance.with_additions(once, ["Credor: X.", ""])
    assert twice == once
    assert added == []


def test_hours_are_written_as_a_clock_shows_them():
    assert compliance.format_hour(8.0) == "08:00"
    assert compliance.format_hour(21.5) == "21:30"
    assert compliance.format_hour(7 + 59.99 / 60) == "08:00"
