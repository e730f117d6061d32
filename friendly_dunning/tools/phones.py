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
