"""The rules of the compliance guard, as plain values and functions: which
pack covers a customer, whether now is inside its contact hours in the
customer's local time, which frequency cap binds, and the content a message
must carry. The Odoo side (``dunning.compliance.pack``, the planner's guard)
reads the packs once and asks these functions for every message.
"""

import string
from dataclasses import dataclass

import pytz

from .messages import TemplateError

# Who a pack covers.
CONSUMERS = "consumers"
EVERYONE = "everyone"

# What the guard did to a message.
ALLOWED = "allowed"
HELD = "held"
CHANGED = "changed"

# The placeholders of a pack's required content and opt-out line.
CREDITOR_PLACEHOLDERS = ("creditor_name", "creditor_address", "creditor_vat")


@dataclass(frozen=True)
class PackRules:
    """One compliance pack, as the guard applies it. A cap of 0 means the
    pack sets none of its own (the company's applies)."""

    name: str
    covers: str = CONSUMERS
    hour_start: float = 0.0
    hour_end: float = 24.0
    max_per_day: int = 0
    max_per_week: int = 0
    optout_channels: frozenset = frozenset()
    consent_channels: frozenset = frozenset()


def covers(rules, is_company):
    """Whether the pack ``rules`` applies to a customer that is a company
    (``is_company``) or a consumer."""
    return rules.covers == EVERYONE or not is_company


def time_zones(tz_name, country_code, fallback):
    """The time zones the customer may be in: their own ``tz_name``, else
    every zone of their country (``country_code``), else ``fallback``."""
    if tz_name:
        return (tz_name,)
    zones = pytz.country_timezones.get(country_code or "", ())
    return tuple(zones) or (fallback or "UTC",)


def local_hour(now, tz_name):
    """The hour, minutes as a fraction, that it is at ``now`` (naive UTC)
    in ``tz_name``."""
    local = pytz.utc.localize(now).astimezone(pytz.timezone(tz_name))
    return local.hour + local.minute / 60


def outside_hours(now, zones, start, end, hour_of=local_hour):
    """The first zone of ``zones`` where ``now`` (naive UTC) falls outside
    ``[start, end)``, with its local hour, as ``(zone, hour)``; None when
    ``now`` suits every zone. A customer who may be in several zones is
    contacted only at hours that suit all of them."""
    for zone in zones:
        hour = hour_of(now, zone)
        if not start <= hour < end:
            return zone, hour
    return None


def binding_cap(sent, company_cap, pack_cap):
    """The cap that holds a customer who received ``sent`` messages in the
    period: the stricter of the company's and the pack's (``pack_cap`` 0:
    the pack sets none). ``"pack"`` or ``"company"`` when it is reached,
    None when it is not."""
    stricter_pack = bool(pack_cap) and pack_cap < company_cap
    if sent >= (pack_cap if stricter_pack else company_cap):
        return "pack" if stricter_pack else "company"
    return None


def check_content(template):
    """Raise ``TemplateError`` when the required content ``template`` would
    not render (unknown placeholder, broken braces)."""
    try:
        names = [
            name
            for _literal, name, _spec, _conversion in string.Formatter().parse(
                template or ""
            )
            if name is not None
        ]
    except ValueError as error:
        raise TemplateError(malformed=str(error)) from error
    unknown = sorted({name for name in names if name not in CREDITOR_PLACEHOLDERS})
    if unknown:
        raise TemplateError(unknown=unknown)
    return names


def missing_values(template, values):
    """The placeholders of ``template`` whose value in ``values`` is empty:
    required content cannot be sent with a blank where the law asks for a
    name, an address or a tax id."""
    return sorted(
        {name for name in check_content(template) if not (values.get(name) or "")}
    )


def fill_content(template, values):
    """``template`` with the creditor's name, address and tax id."""
    check_content(template)
    return (template or "").format_map(
        {name: values.get(name) or "" for name in CREDITOR_PLACEHOLDERS}
    )


def with_additions(body, additions):
    """``body`` with each text of ``additions`` appended on its own
    paragraph, unless the body carries it already. Nothing of ``body`` is
    removed (its link stays where it is). Returns ``(body, added)``."""
    body = body or ""
    added = [text for text in additions if text and text.strip() not in body]
    if not added:
        return body, []
    return "\n\n".join([body.rstrip(), *added]) if body else "\n\n".join(added), added


def format_hour(hour):
    """``hour`` (a float, 8.5 for half past eight) as ``08:30``."""
    minutes = round(hour * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
