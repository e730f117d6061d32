"""The compliance guard: what the enabled ``dunning.compliance.pack`` of a
customer's country asks of every message before it leaves.

A :class:`ComplianceGuard` serves one planning (see
:class:`~.dunning_planner.DunningPlanner`): it reads the enabled packs once,
then for each message says whether it may go now (contact hours in the
customer's local time, the pack's frequency caps, the company's details the
required content needs), which channels need the customer's prior consent,
and what the text must carry (required content, opt-out line). The rules
themselves are plain Python, in ``tools/compliance.py``.
"""

from dataclasses import dataclass

from ..tools import compliance

# The channels whose sending adds an opt-out line of its own (see
# ``dunning.communication._sms_body``).
CHANNELS_WITH_OPTOUT = frozenset({"sms"})


@dataclass(frozen=True)
class Screening:
    """What the pack of one customer says of a message to them now: the pack
    (None when none applies), why it holds the message (None: it may go) and
    the note kept with the decision."""

    pack: object = None
    hold_reason: str | None = None
    note: str | None = None


class ComplianceGuard:
    """Applies the enabled compliance packs to the messages of one planner."""

    def __init__(self, planner):
        self.planner = planner
        self.env = planner.env
        self.company = planner.company
        packs = (
            self.env["dunning.compliance.pack"]
            .sudo()
            .search_fetch(
                [("enabled", "=", True)],
                [
                    "name",
                    "country_id",
                    "covers",
                    "hour_start",
                    "hour_end",
                    "max_per_day",
                    "max_per_week",
                    "required_content",
                    "optout_line",
                    "optout_email",
                    "optout_sms",
                    "optout_whatsapp",
                    "consent_email",
                    "consent_sms",
                ],
            )
        )
        # Country id: (pack, rules), read once for thousands of customers.
        self.packs = {pack.country_id.id: (pack, pack._rules()) for pack in packs}
        self._texts = {}  # (pack id, lang): (required content, opt-out line)
        self._creditor = None
        self._missing = {}  # pack id: the company's details its texts lack

    # -- which pack ------------------------------------------------------

    def pack_for(self, partner, contact):
        """``(pack, rules)`` of the enabled pack that covers a message to the
        customer ``partner`` written to ``contact`` (the contact's country,
        else the customer's); ``(None, None)`` when none does."""
        if not self.packs:
            return None, None
        country = contact.country_id or partner.country_id
        pack, rules = self.packs.get(country.id, (None, None))
        if pack is None or not compliance.covers(
            rules, partner.commercial_partner_id.is_company
        ):
            return None, None
        return pack, rules

    def _zones(self, partner, contact):
        country = contact.country_id or partner.country_id
        return compliance.time_zones(
            contact.tz or partner.tz, country.code, self.planner.company_tz_name
        )

    def _outside_hours(self, partner, contact, rules):
        return compliance.outside_hours(
            self.planner.now,
            self._zones(partner, contact),
            rules.hour_start,
            rules.hour_end,
            hour_of=lambda _now, zone: self.planner._local_hour(zone),
        )

    # -- may it go now ---------------------------------------------------

    def screen(self, partner, contact, limits=None):
        """The :class:`Screening` of a message to ``partner`` written to
        ``contact`` now: held outside the pack's contact hours, over its
        frequency caps (given the :class:`SendingLimits` ``limits``; not
        checked without) or while the company lacks a detail its required
        content names."""
        pack, rules = self.pack_for(partner, contact)
        if pack is None:
            return Screening()
        outside = self._outside_hours(partner, contact, rules)
        if outside:
            zone, hour = outside
            return Screening(
                pack,
                "compliance_hours",
                self.env._(
                    "Held by %(pack)s: it is %(time)s in %(zone)s, outside the "
                    "contact hours %(start)s-%(end)s.",
                    pack=pack.name,
                    time=compliance.format_hour(hour),
                    zone=zone,
                    start=compliance.format_hour(rules.hour_start),
                    end=compliance.format_hour(rules.hour_end),
                ),
            )
        if limits is not None:
            for reason, sent, company_cap, pack_cap in (
                (
                    "compliance_daily_cap",
                    limits.sent_today.get(partner, 0),
                    self.planner.max_per_day,
                    rules.max_per_day,
                ),
                (
                    "compliance_weekly_cap",
                    limits.sent_week.get(partner, 0),
                    self.planner.max_per_week,
                    rules.max_per_week,
                ),
            ):
                if compliance.binding_cap(sent, company_cap, pack_cap) == "pack":
                    return Screening(
                        pack,
                        reason,
                        self.env._(
                            "Held by %(pack)s: its limit of %(cap)s per %(period)s "
                            "is reached (%(sent)s sent).",
                            pack=pack.name,
                            sent=sent,
                            cap=pack_cap,
                            period=self.env._("day")
                            if reason == "compliance_daily_cap"
                            else self.env._("7 days"),
                        ),
                    )
        missing = self._missing_details(pack)
        if missing:
            return Screening(
                pack,
                "compliance_content",
                self.env._(
                    "Held by %(pack)s: every message must show the company's "
                    "%(details)s; fill it in on the company.",
                    pack=pack.name,
                    details=", ".join(missing),
                ),
            )
        return Screening(pack)

    def _missing_details(self, pack):
        """The company's details the texts of ``pack`` name but it lacks,
        worked out once per pack and run."""
        if pack.id not in self._missing:
            self._missing[pack.id] = self._find_missing_details(pack)
        return self._missing[pack.id]

    def _find_missing_details(self, pack):
        labels = {
            "creditor_name": self.env._("name"),
            "creditor_address": self.env._("address"),
            "creditor_vat": self.env._("tax id"),
        }
        missing = set()
        for text in (pack.required_content, pack.optout_line):
            missing.update(compliance.missing_values(text, self._creditor_values()))
        return [
            labels[name] for name in compliance.CREDITOR_PLACEHOLDERS if name in missing
        ]

    def _creditor_values(self):
        if self._creditor is None:
            company = self.company
            address = company.partner_id._display_address(without_company=True)
            self._creditor = {
                "creditor_name": company.name,
                "creditor_address": ", ".join(
                    " ".join(line.split())
                    for line in address.splitlines()
                    if line.strip()
                ),
                "creditor_vat": company.vat or "",
            }
        return self._creditor

    def consent_needed(self, rules, channel, consent):
        """Whether the pack ``rules`` forbids ``channel`` to a customer whose
        latest consent for it is ``consent``."""
        return (
            bool(rules)
            and channel in rules.consent_channels
            and (consent != "opted_in")
        )

    # -- what it must say ------------------------------------------------

    def _texts_of(self, pack, lang):
        key = (pack.id, lang)
        if key not in self._texts:
            translated = pack.with_context(lang=lang)
            values = self._creditor_values()
            self._texts[key] = (
                compliance.fill_content(translated.required_content, values),
                compliance.fill_content(translated.optout_line, values),
            )
        return self._texts[key]

    def complete(self, partner, contact, channel, body):
        """``(body, pack, outcome, note)`` for a message to ``partner``
        through ``channel`` saying ``body``: the body with the pack's
        required content and, on the channels that need one, its opt-out
        line added (nothing removed); the pack applied (an empty recordset
        when none); ``compliance.CHANGED`` or ``ALLOWED``; and why."""
        Pack = self.env["dunning.compliance.pack"]
        pack, rules = self.pack_for(partner, contact)
        if pack is None:
            return body, Pack, compliance.ALLOWED, self._no_pack_note(partner, contact)
        required, optout = self._texts_of(pack, contact.lang or "en_US")
        additions = [required]
        if channel in rules.optout_channels and channel not in CHANNELS_WITH_OPTOUT:
            additions.append(optout)
        body, _added = compliance.with_additions(body, additions)
        with_optout = len(additions) > 1 and bool(optout)
        hours = self.env._(
            "contact hours %(start)s-%(end)s local time",
            start=compliance.format_hour(rules.hour_start),
            end=compliance.format_hour(rules.hour_end),
        )
        if self._outside_hours(partner, contact, rules):
            hours = self.env._(
                "sent at an accountant's request outside the %(hours)s", hours=hours
            )
        if required and with_optout:
            what = self.env._("the creditor's identification and the opt-out line")
        elif required:
            what = self.env._("the creditor's identification")
        elif with_optout:
            what = self.env._("the opt-out line")
        else:
            note = self.env._(
                "Allowed by %(pack)s: %(hours)s.", pack=pack.name, hours=hours
            )
            return body, pack, compliance.ALLOWED, note
        note = self.env._(
            "Changed by %(pack)s: the message carries %(what)s; %(hours)s.",
            pack=pack.name,
            what=what,
            hours=hours,
        )
        return body, pack, compliance.CHANGED, note

    def _no_pack_note(self, partner, contact):
        country = contact.country_id or partner.country_id
        pack, _rules = self.packs.get(country.id, (None, None))
        if pack is not None:
            return self.env._(
                "Allowed: %(pack)s covers consumers only, and %(customer)s is a "
                "business.",
                pack=pack.name,
                customer=partner.commercial_partner_id.name,
            )
        return self.env._(
            "Allowed: no compliance pack is enabled for %(country)s.",
            country=country.name or self.env._("the customer's country (none set)"),
        )

    def finish(self, decision):
        """``decision`` (sendable) with its text completed and the guard's
        pack, outcome and note (see :meth:`complete`)."""
        body, pack, outcome, note = self.complete(
            decision.partner, decision.contact, decision.channel, decision.body
        )
        return decision.with_compliance(pack, outcome, note, body=body)
