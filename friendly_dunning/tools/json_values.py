"""Defensive readers of JSON sent by a provider: a value of the wrong type
reads as empty (or None) instead of raising."""


def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


def as_str(value):
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None
