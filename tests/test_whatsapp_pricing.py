"""Which WhatsApp messages Meta charges, and at which rate, without Odoo."""

import pytest

from .conftest import load_tool

pricing = load_tool("whatsapp_pricing")


@pytest.mark.parametrize(
    ("category", "pricing_type", "window_open", "expected"),
    [
        ("utility", None, False, "charged"),
        ("utility", None, True, "free_window"),
        ("marketing", None, True, "charged"),
        ("authentication", None, True, "charged"),
        ("service", None, True, "free_service"),
        (None, None, False, "free_service"),
        # Meta's word wins over the window we saw.
        ("utility", "regular", True, "charged"),
        ("utility", "not_billable", False, "free_provider"),
        ("utility", "free_customer_service", False, "free_window"),
        ("service", "free_customer_service", False, "free_service"),
        ("marketing", "free_entry_point", False, "free_entry_point"),
    ],
)
def test_charge_of(category, pricing_type, window_open, expected):
    assert pricing.charge_of(category, pricing_type, window_open) == expected


@pytest.mark.parametrize(
    ("object_", "expected"),
    [
        (None, ("utility", None)),
        ("not a dict", ("utility", None)),
        ({"billable": False, "category": "utility"}, ("utility", "not_billable")),
        ({"billable": True, "category": "MARKETING"}, ("marketing", "regular")),
        (
            {"pricing_model": "PMP", "category": "utility", "type": "free_entry_point"},
            ("utility", "free_entry_point"),
        ),
        ({"billable": False, "type": "regular"}, ("utility", "not_billable")),
        ({"pricing_model": "PMP", "category": ""}, ("utility", None)),
    ],
)
def test_fold_pricing(object_, expected):
    assert pricing.fold_pricing(object_, "utility", None) == expected


def test_template_category():
    assert pricing.template_category("UTILITY") == "utility"
    assert pricing.template_category(None) == "service"


def _rate(price, company=None, channel=None, country=None, category="utility"):
    return {
        "company_id": company,
        "channel_id": channel,
        "country": country,
        "category": category,
        "price": price,
    }


def test_pick_rate_prefers_the_market_then_the_channel_then_the_company():
    rates = [
        _rate(1),
        _rate(2, company=7),
        _rate(3, company=7, channel=5),
        _rate(4, country="BR"),
        _rate(5, company=8, country="MX"),
        _rate(6, category="marketing"),
    ]

    def price(company, channel, country, category="utility"):
        rate = pricing.pick_rate(rates, company, channel, country, category)
        return rate and rate["price"]

    assert price(7, 5, "BR") == 4
    assert price(7, 5, "US") == 3
    assert price(7, 9, "US") == 2
    assert price(9, 9, "US") == 1
    assert price(7, 5, "MX") == 3, "another company's market rate never applies"
    assert price(7, 5, "US", "marketing") == 6
    assert price(7, 5, "US", "marketing_lite") == 6, "priced as marketing"
    assert price(7, 5, "US", "service") is None
