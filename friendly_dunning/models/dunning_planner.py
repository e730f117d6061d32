"""The collections engine: which customers are due a reminder, what each one
gets (step, invoices, channel, recipient, text) or why nothing is sent.

``DunningPlanner(env, company, now)`` plans one company's reminders at one
moment, set-based: a batch of customers costs the same few queries whatever
its size. The run (``dunning.run``), the send wizard, the run preview, the
outbox's fallback and the payment plans' reminders all plan through it; what
it decides is a :class:`~.dunning_decision.Decision`, worded by
:class:`~.dunning_renderer.DunningRenderer` and written to the outbox by
:class:`~.dunning_outbox.DunningOutbox`.
"""

import json
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytz

from odoo.tools import SQL

from ..tools.compliance import HELD
from ..tools.phones import to_e164
from .account_move import open_instalment_sql, open_invoice_sql
from .dunning_compliance_guard import ComplianceGuard
from .dunning_decision import (
    Decision,
    InvoiceLine,
    Reach,
    Route,
    SendingLimits,
    _by_due_date,
)
from .dunning_outbox import DunningOutbox
from .dunning_renderer import DunningRenderer
from .dunning_segment import partner_segment_sql
from .raw_sql import run_sql, sql_settings

# What the selection of due invoices reads, flushed before it runs.
SELECTION_READS = {
    "account.move": None,
    "account.move.line": None,
    "res.partner": None,
    "dunning.invoice.progress": None,
    "dunning.step": None,
    "dunning.segment": None,
    "dunning.policy": ["escalation_gap_days"],
    "dunning.payment.forecast": ["move_line_id", "p7"],
}
# An instalment is likely to be paid late when the forecast gives it less than
# this probability of payment within 7 days of its due date.
LIKELY_LATE = 0.5


class DunningPlanner:
    """Set-based planning of one company's reminders at one moment ``now``
    (naive UTC)."""

    def __init__(self, env, company, now):
        self.env = env
        self.company = company
        self.now = now
        self.company_tz_name = company.partner_id.tz or "UTC"
        company_tz = pytz.timezone(self.company_tz_name)
        # Read once rather than for each of thousands of customers.
        self.quiet_hours = (
            company.dunning_quiet_hour_start,
            company.dunning_quiet_hour_end,
        )
        self.max_per_day = company.dunning_max_per_day
        self.max_per_week = company.dunning_max_per_week
        self.today = pytz.utc.localize(now).astimezone(company_tz).date()
        self.Step = env["dunning.step"].sudo()
        self.channels = (
            env["dunning.channel"]
            .sudo()
            .search([("company_id", "=", company.id), ("active", "=", True)])
        )
        # The sandbox carries only the channel types that no real active
        # channel carries (see ``route``): a configured channel always sends.
        self.sandbox = self.channels.filtered(lambda c: c.channel_type == "sandbox")[:1]
        self.email_channel = self.channels.filtered(
            lambda c: c.channel_type == "email"
        )[:1]
        # A WhatsApp channel whose token WhatsApp refused is skipped: the next
        # channel of the step carries the reminder until the token is renewed.
        self.phone_channels = {
            "sms": self.channels.filtered(lambda c: c.channel_type == "sms")[:1],
            "whatsapp": self.channels.filtered(
                lambda c: c.channel_type == "whatsapp" and c.wa_token_state != "expired"
            )[:1],
        }
        # Per-run caches: the same few time zones and languages come back for
        # thousands of customers.
        self._channel_labels = {}
        self._time_zones = {}
        self.guard = ComplianceGuard(self)
        self.renderer = DunningRenderer(self)
        self.outbox = DunningOutbox(self)

    # -- selection ------------------------------------------------------

    def resume_expired_pauses(self):
        """End the pauses of the company's invoices whose date has passed."""
        expired = (
            self.env["account.move"]
            .sudo()
            .search(
                [
                    ("company_id", "=", self.company.id),
                    ("dunning_pause_reason", "!=", False),
                    ("dunning_pause_until", "<", self.today),
                ]
            )
        )
        expired.write({"dunning_pause_reason": False, "dunning_pause_until": False})

    def due_partner_ids(self):
        """The ids of the customers with an instalment whose policy has a
        step due today that was not done yet, in id order."""
        rows = self._select(
            SQL(
                "SELECT DISTINCT due.commercial_partner_id FROM (%s) AS due ORDER BY 1",
                self._due_invoices_sql(),
            )
        )
        return [row[0] for row in rows]

    def _select(self, query):
        # The selection's cost estimate is far above PostgreSQL's
        # jit_above_cost, yet it needs no compiled code: compiling it would
        # take longer than running it.
        with sql_settings(self.env, jit="off"):
            return run_sql(self.env, query, reads=SELECTION_READS)

    def _due_invoices_sql(self, partner_ids=None):
        """The instalments of open invoices (receivable lines, see
        ``open_instalment_sql``) whose policy has a step due today that was
        not done, with that step.

        Each instalment goes through the policy on its own, counted from its
        own due date, and escalates one step at a time: the steps up to the
        due date follow the calendar, but past it an instalment reaches at
        most the first overdue step after the last one done (a backlog never
        reminded starts at the policy's first overdue step, however late),
        and a firmer step only once the policy's gap has passed since the
        last overdue step."""
        default_policy = self.company.dunning_policy_id.id or None
        caps, gaps = self._escalation_bounds()
        # The customers' ids on both sides of the join: PostgreSQL then reads
        # the batch's customers by primary key instead of hashing the whole
        # res_partner table for every batch.
        partner_filter = (
            SQL(
                "AND m.commercial_partner_id = ANY(%(ids)s) AND p.id = ANY(%(ids)s)",
                ids=partner_ids,
            )
            if partner_ids is not None
            else SQL()
        )
        # The instalments still owed of each open invoice, not excluded from
        # follow-ups. For the whole company, PostgreSQL joins them from their
        # index at once. For a batch of customers they are read invoice by
        # invoice from that index (OFFSET 0 keeps PostgreSQL from flattening
        # the subquery): a join would read every instalment of the company
        # again for each batch.
        instalment_condition = SQL(
            "line.move_id = m.id AND %s AND line.no_followup IS NOT TRUE",
            open_instalment_sql("line", "m"),
        )
        instalments = (
            SQL(
                """
            JOIN LATERAL (
                    SELECT line.id, line.date_maturity, line.amount_residual,
                           line.amount_residual_currency, line.balance
                      FROM account_move_line line
                     WHERE %s
                    OFFSET 0
                   ) line ON TRUE
                """,
                instalment_condition,
            )
            if partner_ids is not None
            else SQL("JOIN account_move_line line ON %s", instalment_condition)
        )
        return SQL(
            """
            SELECT line.id AS line_id, m.id, m.commercial_partner_id,
                   step.id, step.offset_days,
                   m.name, line.date_maturity, line.amount_residual_currency,
                   m.currency_id, line.amount_residual,
                   m.access_token IS NOT NULL,
                   -- less than the invoice: one of several instalments
                   line.balance <> m.amount_total_signed
              FROM account_move m
              %(instalments)s
              JOIN res_partner p ON p.id = m.commercial_partner_id
         LEFT JOIN dunning_segment segment ON segment.id = %(segment)s
         LEFT JOIN dunning_invoice_progress progress
                ON progress.move_id = m.id AND progress.line_id = line.id
         LEFT JOIN dunning_step last ON last.id = progress.step_id
         LEFT JOIN dunning_payment_forecast forecast ON forecast.move_line_id = line.id
              JOIN LATERAL (
                    SELECT s.id, s.offset_days
                      FROM dunning_step s
                     WHERE s.policy_id = COALESCE(segment.policy_id, %(default_policy)s)
                       -- earlier for an instalment likely to be paid late
                       AND CASE WHEN s.likely_late_days_before > 0
                                 AND forecast.p7 < %(likely_late)s
                                THEN -s.likely_late_days_before
                                ELSE s.offset_days
                           END <= %(today)s - line.date_maturity
                       AND (last.id IS NULL OR s.offset_days > last.offset_days)
                       AND s.offset_days <= COALESCE(
                            (%(caps)s::jsonb ->> (s.policy_id || ':'
                                 || COALESCE(last.offset_days::text, 'never')))::int,
                            s.offset_days)
                  ORDER BY s.offset_days DESC
                     LIMIT 1
                   ) step ON TRUE
             WHERE m.company_id = %(company)s
               AND %(open_invoice)s
               AND (m.dunning_pause_reason IS NULL
                    OR m.dunning_pause_until < %(today)s)
               AND (last.offset_days IS NULL
                    OR last.offset_days <= 0
                    OR progress.last_date <= %(today)s
                       - (%(gaps)s::jsonb ->> COALESCE(segment.policy_id,
                                                      %(default_policy)s)::text)::int)
               %(partner_filter)s
            """,
            caps=json.dumps(caps),
            gaps=json.dumps(gaps),
            likely_late=LIKELY_LATE,
            company=self.company.id,
            segment=partner_segment_sql(SQL("p"), SQL("%s", self.company.id)),
            default_policy=default_policy,
            today=self.today,
            partner_filter=partner_filter,
            open_invoice=open_invoice_sql("m"),
            instalments=instalments,
        )

    def _escalation_bounds(self):
        """What bounds the next step of an instalment, as two small JSON
        objects the selection looks up per instalment: ``caps`` maps
        ``"<policy id>:<offset of the last step done, or never>"`` to the
        offset of the first overdue step after it (absent when none is
        left); ``gaps`` maps a policy id to its days between overdue steps.
        Worked out here from the few steps rather than in SQL for each of
        thousands of instalments."""
        steps = self.Step.with_context(active_test=False).search_fetch(
            [], ["policy_id", "offset_days"]
        )
        offsets = sorted(set(steps.mapped("offset_days")))
        caps, gaps = {}, {}
        for policy in steps.policy_id:
            gaps[str(policy.id)] = policy.escalation_gap_days
            overdue = sorted(
                step.offset_days
                for step in steps
                if step.policy_id == policy and step.offset_days > 0
            )
            for last in ("never", *offsets):
                floor = 0 if last == "never" else max(last, 0)
                cap = next((offset for offset in overdue if offset > floor), None)
                if cap is not None:
                    caps[f"{policy.id}:{last}"] = cap
        return caps, gaps

    # -- decision -------------------------------------------------------

    def decide(self, partner_ids):
        """One :class:`Decision` per customer of ``partner_ids`` that is due a
        reminder: which step, channel, recipient and text, or why nothing is
        sent. Changes nothing."""
        if not partner_ids:
            return []
        rows = self._select(self._due_invoices_sql(partner_ids))
        due_by_partner = defaultdict(dict)  # instalment id: step id
        lines_by_partner = defaultdict(list)
        offsets = {}
        several = set()  # the invoices with more than one instalment
        for line_id, move_id, partner_id, step_id, offset, *line, partial in rows:
            due_by_partner[partner_id][line_id] = step_id
            offsets[step_id] = offset
            lines_by_partner[partner_id].append((line_id, move_id, line))
            if partial:
                several.add(move_id)
        numbering = self._instalment_numbers(several)
        partners = self.env["res.partner"].sudo().browse(list(due_by_partner))
        steps = self.Step.browse(
            {step for due in due_by_partner.values() for step in due.values()}
        )
        moves = (
            self.env["account.move"]
            .sudo()
            .browse(
                list(
                    dict.fromkeys(
                        move_id
                        for lines in lines_by_partner.values()
                        for _line, move_id, _values in lines
                    )
                )
            )
        )
        reach = self.reach(partners)
        limits = self.sending_limits(partners)
        decisions = []
        for partner in partners:
            due = due_by_partner[partner.id]
            step = steps.browse(
                max(due.values(), key=offsets.__getitem__)
            ).with_prefetch(steps._prefetch_ids)
            contact = reach.contacts[partner.id]
            screening = self.guard.screen(partner, contact, limits)
            hold_reason, unreachable_reason = self.hold_reasons(
                partner, contact, limits, screening
            )
            held_by_pack = bool(hold_reason) and hold_reason == screening.hold_reason
            route = (
                Route()
                if hold_reason or unreachable_reason
                else self.route(step, partner, reach)
            )
            lines = tuple(
                sorted(
                    (
                        InvoiceLine(
                            move_id, *values, line_id, *numbering.get(line_id, (1, 1))
                        )
                        for line_id, move_id, values in lines_by_partner[partner.id]
                    ),
                    key=_by_due_date,
                )
            )
            decisions.append(
                Decision(
                    partner=partner,
                    contact=contact,
                    step=step,
                    invoices=moves.browse(
                        list(dict.fromkeys(line.id for line in lines))
                    ).with_prefetch(moves._prefetch_ids),
                    lines=lines,
                    step_by_instalment=due,
                    channel=route.channel,
                    channel_record=route.channel_record,
                    recipient=route.recipient,
                    hold_reason=hold_reason,
                    unreachable_reason=unreachable_reason or route.unreachable_reason,
                    compliance_pack=screening.pack if held_by_pack else None,
                    compliance_outcome=HELD if held_by_pack else None,
                    compliance_note=screening.note if held_by_pack else None,
                )
            )
        return self.render(decisions)

    def _instalment_numbers(self, move_ids):
        """``{line id: (number, count)}``: the place of each receivable line
        of the invoices ``move_ids`` (with more than one), in order of due date
        (paid instalments count), and how many the invoice has."""
        if not move_ids:
            return {}
        rows = run_sql(
            self.env,
            SQL(
                """
            SELECT id, number, count
              FROM (SELECT line.id,
                           ROW_NUMBER() OVER (PARTITION BY line.move_id
                                 ORDER BY line.date_maturity, line.id) AS number,
                           COUNT(*) OVER (PARTITION BY line.move_id) AS count
                      FROM account_move_line line
                     WHERE line.move_id = ANY(%s)
                       AND line.display_type = 'payment_term') AS numbered
             WHERE count > 1
                """,
                list(move_ids),
            ),
            reads={"account.move.line": ["move_id", "display_type", "date_maturity"]},
        )
        return {line_id: (number, count) for line_id, number, count in rows}

    def manual_decision(self, partner, invoices, step, channel):
        """The reminder an accountant sends now to ``partner`` about
        ``invoices``: in the wording of ``step``, through ``channel``, rendered
        like the run's but never held by quiet hours or caps."""
        reach = self.reach(partner)
        decision = Decision(
            partner=partner,
            contact=reach.contacts[partner.id],
            step=step,
            invoices=invoices,
            kind="manual",
        )
        [decision] = self.render(
            [decision.routed(self.route(step, partner, reach, channels=[channel]))]
        )
        return decision

    def reach(self, partners):
        """The :class:`Reach` of the customers ``partners``."""
        contacts = self.collections_contacts(partners)
        numbers = {contact.id: self._e164(contact) for contact in contacts.values()}
        blocked_emails, blocked_phones = self._blacklists(contacts.values(), numbers)
        return Reach(
            contacts=contacts,
            numbers=numbers,
            blocked_emails=blocked_emails,
            blocked_phones=blocked_phones,
            consents=self.env["dunning.consent"].sudo()._current_states(partners),
        )

    def collections_contacts(self, partners):
        """Whom to write to, by customer id: the customer's invoicing contact,
        else the customer."""
        invoice_contacts = (
            self.env["res.partner"]
            .sudo()
            .search(
                [("parent_id", "in", partners.ids), ("type", "=", "invoice")],
                order="id",
            )
        )
        contacts = {partner.id: partner for partner in partners}
        for contact in invoice_contacts[::-1]:
            contacts[contact.parent_id.id] = contact
        return contacts

    def sending_limits(self, partners):
        """The :class:`SendingLimits` of the customers ``partners`` now."""
        Communication = self.env["dunning.communication"].sudo()

        def counts(since):
            return dict(
                Communication._read_group(
                    [
                        ("partner_id", "in", partners.ids),
                        ("date", ">", since),
                        ("state", "not in", ("failed", "cancelled")),
                    ],
                    ["partner_id"],
                    ["__count"],
                )
            )

        return SendingLimits(
            quiet_day=self._quiet_day(),
            sent_today=counts(self.now - timedelta(days=1)),
            sent_week=counts(self.now - timedelta(days=7)),
        )

    def hold_reasons(self, partner, contact, limits, screening=None):
        """``(hold_reason, unreachable_reason)`` for a message to ``partner``
        written to ``contact`` now: at most one of them is set. After the
        company's quiet days, sending window and caps, the compliance pack of
        the customer's country may hold it too (``screening``, the guard's
        :class:`~.dunning_compliance_guard.Screening` when already made)."""
        if limits.quiet_day:
            return limits.quiet_day, None
        if not partner.active:
            return None, self.env._("The customer is archived.")
        hour = self._local_hour(contact.tz or partner.tz or self.company_tz_name)
        start, end = partner._dunning_contact_hours(*self.quiet_hours)
        if not start <= hour < end:
            return "quiet_hours", None
        if limits.sent_today.get(partner, 0) >= self.max_per_day:
            return "daily_cap", None
        if limits.sent_week.get(partner, 0) >= self.max_per_week:
            return "weekly_cap", None
        if screening is None:
            screening = self.guard.screen(partner, contact, limits)
        return screening.hold_reason, None

    def route(self, step, partner, reach, channels=None):
        """The :class:`Route` through the first channel of ``step`` (in the
        customer's order of preference), or of ``channels``, that reaches the
        customer's contact, or why none does."""
        contact = reach.contacts[partner.id]
        pack, rules = self.guard.pack_for(partner, contact)
        reasons = []
        labels = self._channel_labels_of(self.env.lang)
        for channel in channels or partner._dunning_channel_order(
            step._channel_preference()
        ):
            consent = reach.consents.get((partner.id, channel))
            if consent == "opted_out":
                reasons.append(
                    self.env._(
                        "%(channel)s: the customer opted out", channel=labels[channel]
                    )
                )
                continue
            if self.guard.consent_needed(rules, channel, consent):
                reasons.append(
                    self.env._(
                        "%(channel)s: %(pack)s asks for the customer's prior "
                        "consent, not given",
                        channel=labels[channel],
                        pack=pack.name,
                    )
                )
                continue
            if channel == "email":
                email = contact.email_normalized
                if not email:
                    reasons.append(self.env._("e-mail: no valid address"))
                elif email in reach.blocked_emails:
                    reasons.append(self.env._("e-mail: the address opted out"))
                elif not (self.email_channel or self.sandbox):
                    reasons.append(self.env._("e-mail: no active e-mail channel"))
                else:
                    return Route(channel, self.email_channel or self.sandbox, email)
                continue
            if channel == "whatsapp" and consent != "opted_in":
                reasons.append(
                    self.env._(
                        "WhatsApp: the customer has not agreed to receive WhatsApp "
                        "messages"
                    )
                )
                continue
            e164, problem = reach.numbers[contact.id]
            if problem:
                reasons.append(
                    self.env._("%(channel)s: no phone number", channel=labels[channel])
                    if problem == "missing"
                    else self.env._(
                        "%(channel)s: the phone number %(number)s is not valid "
                        "for %(country)s",
                        channel=labels[channel],
                        number=contact.phone,
                        country=contact.country_id.name or self.env._("no country"),
                    )
                )
            elif e164 in reach.blocked_phones:
                reasons.append(
                    self.env._(
                        "%(channel)s: the number opted out", channel=labels[channel]
                    )
                )
            elif not (self.phone_channels[channel] or self.sandbox):
                reasons.append(
                    self.env._(
                        "%(channel)s: no active channel", channel=labels[channel]
                    )
                )
            else:
                channel_record = self.phone_channels[channel] or self.sandbox
                return Route(channel, channel_record, e164)
        return Route(
            unreachable_reason=self.env._(
                "No channel of the step reaches this customer: %(reasons)s.",
                reasons="; ".join(reasons) or self.env._("the step has no channel"),
            )
        )

    def fallback_route(self, message, reach):
        """The :class:`Route` of the same reminder as the outbox record
        ``message`` through the channels of its step after its own; None when
        its step has no later channel."""
        preference = message.step_id._channel_preference()
        if message.channel not in preference:
            return None
        remaining = preference[preference.index(message.channel) + 1 :]
        if not remaining:
            return None
        return self.route(message.step_id, message.partner_id, reach, remaining)

    def _channel_labels_of(self, lang):
        if lang not in self._channel_labels:
            self._channel_labels[lang] = dict(
                self.Step._fields["channel_first"]._description_selection(self.env)
            )
        return self._channel_labels[lang]

    @staticmethod
    def _e164(contact):
        """The contact's number in E.164, or why there is none. Odoo keeps the
        number of a contact with a country, or written in international form,
        checked and in E.164 already (``phone_sanitized``); the others are
        read here."""
        if contact.phone_sanitized and (
            contact.country_id or (contact.phone or "").lstrip().startswith("+")
        ):
            return contact.phone_sanitized, None
        return to_e164(contact.phone, contact.country_id.code)

    def _blacklists(self, contacts, numbers):
        # email_normalized is stored on the contact: no address parsed again.
        emails = {c.email_normalized for c in contacts} - {False}
        blocked_emails = set(
            self.env["mail.blacklist"]
            .sudo()
            .search([("email", "in", list(emails))])
            .mapped("email")
        )
        valid = [e164 for e164, _problem in numbers.values() if e164]
        # In SQL: searching phone.blacklist by number parses every number
        # again, and these are in E.164 already, as the blacklist stores them.
        blocked_phones = {
            number
            for [number] in run_sql(
                self.env,
                SQL(
                    "SELECT number FROM phone_blacklist "
                    "WHERE active AND number = ANY(%s)",
                    valid,
                ),
                reads={"phone.blacklist": ["number", "active"]},
            )
        }
        return blocked_emails, blocked_phones

    def _quiet_day(self):
        """Why nothing is sent today ("weekend", "holiday"), or None."""
        company = self.company
        if company.dunning_hold_weekends and self.today.weekday() >= 5:
            return "weekend"
        calendar = company.resource_calendar_id
        if company.dunning_hold_holidays and calendar:
            start = datetime.combine(self.today, time.min)
            holiday = (
                self.env["resource.calendar.leaves"]
                .sudo()
                .search_count(
                    [
                        ("calendar_id", "in", [calendar.id, False]),
                        ("resource_id", "=", False),
                        ("company_id", "in", [company.id, False]),
                        ("date_from", "<", start + timedelta(days=1)),
                        ("date_to", ">", start),
                    ],
                    limit=1,
                )
            )
            if holiday:
                return "holiday"
        return None

    def _local_hour(self, tz_name):
        """The hour (with minutes as a fraction) it is now in ``tz_name``."""
        tz_name = tz_name or "UTC"
        if tz_name not in self._time_zones:
            local = pytz.utc.localize(self.now).astimezone(pytz.timezone(tz_name))
            self._time_zones[tz_name] = local.hour + local.minute / 60
        return self._time_zones[tz_name]

    # -- texts ----------------------------------------------------------

    def render(self, decisions):
        """``decisions`` with the subject and body of each sendable one (see
        :meth:`~.dunning_renderer.DunningRenderer.render`), as the compliance
        guard completes them."""
        return [
            self.guard.finish(decision) if decision.is_sendable else decision
            for decision in self.renderer.render(decisions)
        ]

    def placeholder_values(self, env, decision):
        """The values of the message placeholders for ``decision``, in the
        language of ``env``."""
        return self.renderer.placeholder_values(env, decision)

    def format_date(self, env, value):
        """``format_date(env, value)``, the language's pattern read once per run."""
        return self.renderer.format_date(env, value)

    def format_amount(self, env, value, currency):
        """``formatLang(env, value, currency_obj=currency)``, what it looks up
        read once per language and currency of the run."""
        return self.renderer.format_amount(env, value, currency)

    # -- queueing -------------------------------------------------------

    def queue(self, decisions):
        """Write ``decisions`` to the outbox (see :class:`DunningOutbox`).
        Returns the counts ``{"queued", "unreachable", "held"}`` and the
        outbox records created."""
        return self.outbox.queue(decisions)
