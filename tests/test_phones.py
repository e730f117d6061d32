"""Phone normalisation, without Odoo."""

import pytest

from .conftest import load_tool

phones = load_tool("phones")


@pytest.mark.parametrize(
    ("number", "country", "expected"),
    [
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("+52 55 1234 5678", None, "+525512345678"),
        ("612 34 56 78", "es", "+34612345678"),
        ("+1 415-555-2671", "BR", "+14155552671"),
    ],
)
def test_valid_numbers_become_e164(number, country, expected):
    assert phones.to_e164(number, country) == (expected, None)


@pytest.mark.parametrize(
    ("number", "country", "reason"),
    [
        ("", "BR", "missing"),
        (None, "ES", "missing"),
        ("12", "ES", "invalid"),
        ("not a phone", "US", "invalid"),
        ("98765-4321", None, "invalid"),  # national number, no country to read it
    ],
)
def test_unusable_numbers_say_why(number, country, reason):
    assert phones.to_e164(number, country) == (None, reason)


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+5511987654321", "BR"),
        ("+34612345678", "ES"),
        ("+15550100199", "US"),  # fictional, but +1's market
        ("not a phone", None),
        ("", None),
    ],
)
def test_region_of_is_the_numbers_market(number, region):
    assert phones.region_of(number) == region
