"""Phone numbers to E.164 with the customer's country, or a reason why not."""

import phonenumbers

INVALID = "invalid"
MISSING = "missing"


def to_e164(number, country_code=None):
    """``(e164, None)`` for a number that can receive messages, or
    ``(None, MISSING | INVALID)``. National numbers are read in the customer's
    country (ISO code such as ``"BR"``)."""
    if not number or not number.strip():
        return None, MISSING
    try:
        parsed = phonenumbers.parse(number, (country_code or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None, INVALID
    if not phonenumbers.is_valid_number(parsed):
        return None, INVALID
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def region_of(e164):
    """The ISO country code of the market an E.164 number belongs to (by its
    country calling code: ``"+5511987654321"`` is ``"BR"``), or ``None``."""
    if not e164:
        return None
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    # A number no region claims (a fictional one, say) still has the market
    # of its calling code.
    region = phonenumbers.region_code_for_number(
        parsed
    ) or phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if region and region != "ZZ" else None
