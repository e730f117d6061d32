import ast
import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

import babel.dates
import pytz

from odoo import api, fields, models
from odoo.tools import SQL, float_round, get_lang
from odoo.tools.mail import generate_tracking_message_id
from odoo.tools.misc import NON_BREAKING_SPACE, babel_locale_parse, posix_to_ldml

from odoo.addons.base.models.res_lang import intersperse

from ..tools.messages import TemplateError, render_message
from ..tools.phones import to_e164

_logger = logging.getLogger(__name__)

# Customers decided and queued per transaction.
PLAN_BATCH = 1000


class DunningRun(models.Model):
    """One pass of the scheduled follow-up for one company: what it decided,
    kept so that an accountant can see what happened and why."""

    _name = "dunning.run"
    _description = "Collections Run"
    _order = "id desc"

    company_id = fields.Many2one("res.company", required=True, index=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now)
    end_date = fields.Datetime(readonly=True)
    state = fields.Selection(
        [("running", "Running"), ("done", "Done")], default="running", required=True
    )
    queued_count = fields.Integer(string="Messages queued", readonly=True)
    unreachable_count = fields.Integer(
        string="Customers unreachable",
        readonly=True,
        help="Customers due a reminder that no channel of the step could reach.",
    )
    held_count = fields.Integer(
        string="Customers held",
        readonly=True,
        help="Customers due a reminder but held by quiet hours, quiet days or the "
        "frequency cap; a later run reaches them.",
    )

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------

    @api.model
    def _cron_dunning(self):
        """The hourly job: bring every company's segmentation up to date (days
        overdue grow every day, and the segment picks the policy), plan its
        reminders, then send them."""
        companies = (
            self.env["res.company"].sudo().search([("dunning_policy_id", "!=", False)])
        )
        for company in companies:
            self.env["res.partner"].sudo()._dunning_refresh_segmentation(
                companies=company
            )
            self._commit_progress(0, None)
            self.sudo()._run_company(company)
        self.env["dunning.communication"].sudo()._dunning_send_queued()

    @api.model
    def _run_company(self, company, now=None):
        now = now or fields.Datetime.now()
        run = self.sudo().create({"company_id": company.id, "date": now})
        planner = _Planner(self.env, company, now)
        planner.resume_expired_pauses()
        partner_ids = planner.candidate_partner_ids()
        for start in range(0, len(partner_ids), PLAN_BATCH):
            batch = self.env["res.partner"].browse(
                partner_ids[start : start + PLAN_BATCH]
            )
            # Another worker planning the same customers holds their rows: skip
            # them, it will queue their reminders.
            locked = batch.try_lock_for_update()
            decisions = planner.decide(locked.ids)
            counts, _messages = planner.queue(decisions)
            run.write(
                {
                    "queued_count": run.queued_count + counts["queued"],
                    "unreachable_count": run.unreachable_count + counts["unreachable"],
                    "held_count": run.held_count + counts["held"],
                }
            )
            # Keep the worklist current: the next reminder of the customers
            # whose invoices moved on a step (amounts and aging did not change).
            self.env["res.partner"]._dunning_refresh_next_dates(
                company, [d["partner"].id for d in decisions if "hold" not in d]
            )
            self._commit_progress(len(batch), len(partner_ids) - start - len(batch))
        thanked = planner.queue_thank_you()
        run.write(
            {
                "state": "done",
                "end_date": fields.Datetime.now(),
                "queued_count": run.queued_count + thanked,
            }
        )
        return run

    @api.model
    def _manual_decision(self, partner, moves, step, channel):
        """A reminder an accountant sends now: routed through ``channel`` and
        rendered like the run's, but never held by quiet hours or caps."""
        planner = _Planner(
            self.env, moves.company_id[:1] or self.env.company, fields.Datetime.now()
        )
        contact = planner._collections_contacts(partner)[partner.id]
        reach = planner._reach(partner, [contact])
        decision = {
            "partner": partner,
            "contact": contact,
            "moves": moves,
            "steps": {},
            "step": step,
            "kind": "manual",
        }
        decision.update(
            planner._route(step, partner, contact, reach, channels=[channel])
        )
        planner._render([decision])
        return planner, decision

    @api.model
    def _preview(self, company, now=None):
        """What the next run would send now, without sending or changing anything."""
        planner = _Planner(self.env, company, now or fields.Datetime.now())
        return planner.decide(planner.candidate_partner_ids())

    def _commit_progress(self, done, remaining):
        """Commit a finished batch when running as the scheduled job, so that a
        crash later in the run loses nothing already decided."""
        if self.env.context.get("cron_id"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)


class _InvoiceLine(NamedTuple):
    """What a message says of one invoice, and what the run records on it."""

    id: int
    name: str
    due: date
    residual: float
    currency_id: int
    residual_signed: float
    has_access_token: bool
    user_id: int | None  # the salesperson of the invoice


def _by_due_date(line):
    return line.due, line.id


def _amount_format(env, currency):
    """A function giving what ``formatLang(env, value, currency_obj=currency)``
    gives, for many values in one language and currency."""
    lang = get_lang(env)
    data = env["res.lang"]._get_data(id=lang.id)
    grouping = ast.literal_eval(data.grouping)
    thousands_sep = data.thousands_sep or ""
    decimal_point = data.decimal_point
    digits = currency.decimal_places
    symbol = currency.symbol
    after = currency.position == "after"

    # Groups of three, the grouping of almost every language: Python's own
    # "," format groups the same way, at a fraction of intersperse's cost.
    by_thousands = grouping in ([3, 0], [3, 3, 0])

    def format_amount(value):
        rounded = float_round(
            value, precision_digits=digits, rounding_method="HALF-EVEN"
        )
        if by_thousands:
            number = (
                f"{rounded:,.{digits}f}".replace(",", "\0")
                .replace(".", decimal_point)
                .replace("\0", thousands_sep)
            )
        else:
            parts = f"{rounded:.{digits}f}".split(".")
            parts[0] = intersperse(parts[0], grouping, thousands_sep)[0]
            number = decimal_point.join(parts)
        if not symbol:
            return number
        if after:
            return f"{number}{NON_BREAKING_SPACE}{symbol}"
        return f"{symbol}{NON_BREAKING_SPACE}{number}"

    return format_amount


class _Planner:
    """Set-based planning of one company's reminders at one moment."""

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
        self.Communication = env["dunning.communication"].sudo()
        self.channels = (
            env["dunning.channel"]
            .sudo()
            .search([("company_id", "=", company.id), ("active", "=", True)])
        )
        self.sandbox = self.channels.filtered(lambda c: c.channel_type == "sandbox")[:1]
        self.email_channel = self.channels.filtered(
            lambda c: c.channel_type == "email"
        )[:1]
        self.sms_channel = self.channels.filtered(lambda c: c.channel_type == "sms")[:1]
        # Per-run caches: the same few time zones, dates, steps and languages
        # come back for thousands of customers.
        self._channel_labels = {}
        self._time_zones = {}
        self._formatted_dates = {}
        self._date_formats = {}
        self._amount_formats = {}
        self._invoice_line_patterns = {}
        self._later_offsets = {}
        self._portal_urls = {}  # commercial partner id: signed link
        # A WhatsApp channel whose token WhatsApp refused is skipped: the next
        # channel of the step carries the reminder until the token is renewed.
        self.whatsapp_channel = self.channels.filtered(
            lambda c: c.channel_type == "whatsapp" and c.wa_token_state != "expired"
        )[:1]
        self.phone_channels = {
            "sms": self.sms_channel,
            "whatsapp": self.whatsapp_channel,
        }

    # -- selection ------------------------------------------------------

    def resume_expired_pauses(self):
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

    def _due_invoices_sql(self, partner_ids=None):
        """Open invoices whose policy has a step due today that was not done."""
        default_policy = self.company.dunning_policy_id.id or None
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
        return SQL(
            """
            SELECT m.id, m.commercial_partner_id, step.id, step.offset_days,
                   m.name, m.invoice_date_due, m.amount_residual, m.currency_id,
                   m.amount_residual_signed, m.access_token IS NOT NULL,
                   m.invoice_user_id
              FROM account_move m
              JOIN res_partner p ON p.id = m.commercial_partner_id
         LEFT JOIN dunning_segment segment
                ON segment.id = (p.dunning_segment_id ->> %(company_key)s)::int
              JOIN LATERAL (
                    SELECT s.id, s.offset_days
                      FROM dunning_step s
                     WHERE s.policy_id = COALESCE(segment.policy_id, %(default_policy)s)
                       AND s.offset_days <= %(today)s - m.invoice_date_due
                  ORDER BY s.offset_days DESC
                     LIMIT 1
                   ) step ON TRUE
         LEFT JOIN dunning_invoice_progress progress ON progress.move_id = m.id
         LEFT JOIN dunning_step last ON last.id = progress.step_id
             WHERE m.company_id = %(company)s
               AND m.move_type = 'out_invoice'
               AND m.state = 'posted'
               AND m.payment_state IN ('not_paid', 'partial')
               AND (m.dunning_pause_reason IS NULL
                    OR m.dunning_pause_until < %(today)s)
               AND (last.id IS NULL OR step.offset_days > last.offset_days)
               -- Probes of the small index of lines excluded from follow-ups
               -- (see account.move's init).
               AND NOT EXISTS (
                    SELECT 1 FROM account_move_line line
                     WHERE line.move_id = m.id
                       AND line.no_followup
                       AND line.display_type = 'payment_term')
               %(partner_filter)s
            """,
            company=self.company.id,
            company_key=str(self.company.id),
            default_policy=default_policy,
            today=self.today,
            partner_filter=partner_filter,
        )

    def _flush(self):
        """Before reading what is due: pending ORM writes to the database,
        and PostgreSQL's JIT compiler off for the rest of the transaction.
        The due-invoice selection over 100,000 open invoices has a cost
        estimate far above ``jit_above_cost``; compiling it took 1.2 s of
        the query's 2.9 s, and the query itself needs no compiled code."""
        self.env["account.move"].flush_model()
        self.env["account.move.line"].flush_model(["no_followup"])
        self.env["res.partner"].flush_model()
        self.env.cr.execute(SQL("SET LOCAL jit = off"))

    def candidate_partner_ids(self):
        self._flush()
        rows = self.env.execute_query(
            SQL(
                "SELECT DISTINCT due.commercial_partner_id FROM (%s) AS due ORDER BY 1",
                self._due_invoices_sql(),
            )
        )
        return [row[0] for row in rows]

    # -- decision -------------------------------------------------------

    def decide(self, partner_ids):
        """One decision per customer: which step, channel, recipient and text,
        or why nothing is sent."""
        if not partner_ids:
            return []
        self._flush()
        rows = self.env.execute_query(self._due_invoices_sql(partner_ids))
        due_by_partner = defaultdict(dict)
        lines_by_partner = defaultdict(list)
        offsets = {}
        for move_id, partner_id, step_id, offset, *line in rows:
            due_by_partner[partner_id][move_id] = step_id
            offsets[step_id] = offset
            lines_by_partner[partner_id].append(_InvoiceLine(move_id, *line))
        partners = self.env["res.partner"].sudo().browse(list(due_by_partner))
        steps = self.Step.browse(
            {step for due in due_by_partner.values() for step in due.values()}
        )
        moves = (
            self.env["account.move"]
            .sudo()
            .browse([move for due in due_by_partner.values() for move in due])
        )
        contacts = self._collections_contacts(partners)
        sent_today, sent_week = self._recent_counts(partners)
        reach = self._reach(partners, contacts.values())
        hold_today = self._is_quiet_day()
        decisions = []
        for partner in partners:
            due = due_by_partner[partner.id]
            step = steps.browse(
                max(due.values(), key=offsets.__getitem__)
            ).with_prefetch(steps._prefetch_ids)
            decision = {
                "partner": partner,
                "contact": contacts[partner.id],
                "moves": moves.browse(list(due)).with_prefetch(moves._prefetch_ids),
                "lines": sorted(lines_by_partner[partner.id], key=_by_due_date),
                "steps": due,
                "step": step,
            }
            decision.update(
                self._hold_reason(
                    partner, contacts[partner.id], sent_today, sent_week, hold_today
                )
                or self._route(step, partner, contacts[partner.id], reach)
            )
            decisions.append(decision)
        self._render(decisions)
        return decisions

    def _collections_contacts(self, partners):
        """Whom to write to: the customer's invoicing contact, else the customer."""
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

    def _recent_counts(self, partners):
        Communication = self.Communication
        counted = [("state", "not in", ("failed", "cancelled"))]

        def counts(since):
            return dict(
                Communication._read_group(
                    [
                        ("partner_id", "in", partners.ids),
                        ("date", ">", since),
                        *counted,
                    ],
                    ["partner_id"],
                    ["__count"],
                )
            )

        return counts(self.now - timedelta(days=1)), counts(
            self.now - timedelta(days=7)
        )

    def _reach(self, partners, contacts):
        """What decides whether a channel may be used: the e-mail and phone
        blacklists, and the customers' consent ledger."""
        numbers = {contact.id: self._e164(contact) for contact in contacts}
        blocked_emails, blocked_phones = self._blacklists(contacts, numbers)
        return {
            "emails": blocked_emails,
            "phones": blocked_phones,
            "numbers": numbers,
            "consents": self.env["dunning.consent"].sudo()._current_states(partners),
        }

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
        valid = {e164 for e164, _problem in numbers.values() if e164}
        # In SQL: searching phone.blacklist by number parses every number
        # again, and these are in E.164 already, as the blacklist stores them.
        self.env["phone.blacklist"].flush_model(["number", "active"])
        blocked_phones = {
            number
            for [number] in self.env.execute_query(
                SQL(
                    "SELECT number FROM phone_blacklist "
                    "WHERE active AND number = ANY(%s)",
                    list(valid),
                )
            )
        }
        return blocked_emails, blocked_phones

    def _is_quiet_day(self):
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

    def _hold_reason(self, partner, contact, sent_today, sent_week, quiet_day):
        if quiet_day:
            return {"hold": quiet_day}
        if not partner.active:
            return {"unreachable": self.env._("The customer is archived.")}
        hour = self._local_hour(contact.tz or partner.tz or self.company_tz_name)
        start, end = partner._dunning_contact_hours(*self.quiet_hours)
        if not start <= hour < end:
            return {"hold": "quiet_hours"}
        if sent_today.get(partner, 0) >= self.max_per_day:
            return {"hold": "daily_cap"}
        if sent_week.get(partner, 0) >= self.max_per_week:
            return {"hold": "weekly_cap"}
        return None

    def _local_hour(self, tz_name):
        """The hour (with minutes as a fraction) it is now in ``tz_name``."""
        tz_name = tz_name or "UTC"
        if tz_name not in self._time_zones:
            local = pytz.utc.localize(self.now).astimezone(pytz.timezone(tz_name))
            self._time_zones[tz_name] = local.hour + local.minute / 60
        return self._time_zones[tz_name]

    def _route(self, step, partner, contact, reach, channels=None):
        """The first channel of the step (or of ``channels``) that reaches the
        contact, or why none does."""
        reasons = []
        lang = self.env.lang
        if lang not in self._channel_labels:
            self._channel_labels[lang] = dict(
                self.Step._fields["channel_first"]._description_selection(self.env)
            )
        labels = self._channel_labels[lang]
        for channel in channels or partner._dunning_channel_order(
            step._channel_preference()
        ):
            consent = reach["consents"].get((partner.id, channel))
            if consent == "opted_out":
                reasons.append(
                    self.env._(
                        "%(channel)s: the customer opted out", channel=labels[channel]
                    )
                )
                continue
            if channel == "email":
                email = contact.email_normalized
                if not email:
                    reasons.append(self.env._("e-mail: no valid address"))
                elif email in reach["emails"]:
                    reasons.append(self.env._("e-mail: the address opted out"))
                elif not (self.sandbox or self.email_channel):
                    reasons.append(self.env._("e-mail: no active e-mail channel"))
                else:
                    return {
                        "channel": channel,
                        "recipient": email,
                        "channel_id": self.sandbox or self.email_channel,
                    }
                continue
            if channel == "whatsapp" and consent != "opted_in":
                reasons.append(
                    self.env._(
                        "WhatsApp: the customer has not agreed to receive WhatsApp "
                        "messages"
                    )
                )
                continue
            e164, problem = reach["numbers"][contact.id]
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
            elif e164 in reach["phones"]:
                reasons.append(
                    self.env._(
                        "%(channel)s: the number opted out", channel=labels[channel]
                    )
                )
            elif not (self.sandbox or self.phone_channels[channel]):
                reasons.append(
                    self.env._(
                        "%(channel)s: no active channel", channel=labels[channel]
                    )
                )
            else:
                return {
                    "channel": channel,
                    "recipient": e164,
                    "channel_id": self.sandbox or self.phone_channels[channel],
                }
        return {
            "unreachable": self.env._(
                "No channel of the step reaches this customer: %(reasons)s.",
                reasons="; ".join(reasons) or self.env._("the step has no channel"),
            )
        }

    # -- texts ----------------------------------------------------------

    def _render(self, decisions):
        by_lang = defaultdict(list)
        for decision in decisions:
            if "channel" in decision:
                by_lang[decision["contact"].lang or "en_US"].append(decision)
        self._sign_links(
            self.env["res.partner"].browse(
                {
                    decision["contact"].commercial_partner_id.id
                    for group in by_lang.values()
                    for decision in group
                }
            )
        )
        for lang, group in by_lang.items():
            env = self.env(context=dict(self.env.context, lang=lang))
            for decision in group:
                source, subject_field, body_field = decision.get(
                    "texts", (decision["step"], "subject", "body")
                )
                source = source.with_env(env)
                values = self._placeholder_values(env, decision)
                try:
                    decision["subject"] = render_message(
                        source[subject_field] or "", values
                    )
                    decision["body"] = render_message(source[body_field] or "", values)
                except TemplateError as error:
                    decision.pop("channel")
                    decision["unreachable"] = source._template_error_message(error)

    @staticmethod
    def _lines(decision):
        """The invoices of ``decision`` as :class:`_InvoiceLine`, oldest due
        first: read with the due invoices by the run, else from ``moves``."""
        if "lines" not in decision:
            decision["lines"] = sorted(
                (
                    _InvoiceLine(
                        move.id,
                        move.name,
                        move.invoice_date_due,
                        move.amount_residual,
                        move.currency_id.id,
                        move.amount_residual_signed,
                        bool(move.access_token),
                        move.invoice_user_id.id or None,
                    )
                    for move in decision["moves"]
                ),
                key=_by_due_date,
            )
        return decision["lines"]

    def _placeholder_values(self, env, decision):
        lines = self._lines(decision)
        # After the due date, {amount} is what is overdue; invoices not yet due
        # that the same message mentions are listed, not counted as overdue.
        overdue = [line for line in lines if line.due < self.today]
        counted = overdue if decision["step"].offset_days > 0 and overdue else lines
        by_currency = defaultdict(float)
        for line in counted:
            by_currency[line.currency_id] += line.residual
        Currency = env["res.currency"]
        amount = self._join(
            env,
            [
                self._format_amount(env, total, Currency.browse(currency_id))
                for currency_id, total in by_currency.items()
            ],
        )
        if env.lang not in self._invoice_line_patterns:
            # Translated once per language, filled for each invoice.
            self._invoice_line_patterns[env.lang] = env._(
                "- %(number)s, due %(due)s: %(amount)s"
            )
        pattern = self._invoice_line_patterns[env.lang]
        invoices = "\n".join(
            pattern
            % {
                "number": line.name,
                "due": self._format_date(env, line.due),
                "amount": self._format_amount(
                    env, line.residual, Currency.browse(line.currency_id)
                ),
            }
            for line in lines
        )
        oldest_due = lines[0].due if lines else False
        return {
            "name": decision["contact"].name,
            "company": self.company.name,
            "amount": amount,
            "invoices": invoices,
            "due_date": self._format_date(env, oldest_due),
            "days_overdue": max(0, (self.today - oldest_due).days) if lines else 0,
            "link": self._portal_url(decision["contact"].commercial_partner_id),
            "credits": "",
        }

    def _portal_url(self, partner):
        """The signed link of the commercial partner ``partner``'s collections
        page, made once per run (``_render`` signs a batch's at once)."""
        self._sign_links(partner)
        return self._portal_urls[partner.id]

    def _sign_links(self, partners):
        """Sign together the links of the commercial partners ``partners``
        that have none yet in this run."""
        unsigned = partners.browse(set(partners.ids) - self._portal_urls.keys())
        if unsigned:
            self._portal_urls.update(unsigned._dunning_portal_urls(self.company))

    def _format_date(self, env, value):
        """``format_date(env, value)``, with the language's pattern worked out
        once per run rather than for each date."""
        if not value:
            return ""
        key = (env.lang, value)
        if key not in self._formatted_dates:
            if env.lang not in self._date_formats:
                lang = get_lang(env)
                locale = babel_locale_parse(lang.code)
                self._date_formats[env.lang] = (
                    posix_to_ldml(lang.date_format, locale=locale),
                    locale,
                )
            pattern, locale = self._date_formats[env.lang]
            self._formatted_dates[key] = babel.dates.format_date(
                value, format=pattern, locale=locale
            )
        return self._formatted_dates[key]

    def _format_amount(self, env, value, currency):
        """``formatLang(env, value, currency_obj=currency)``, with what it looks
        up for every amount (the language's separators and grouping, parsed
        anew each time, and the currency's digits and symbol) read once per
        language and currency of the run."""
        key = (env.lang, currency.id)
        if key not in self._amount_formats:
            self._amount_formats[key] = _amount_format(env, currency)
        return self._amount_formats[key](value)

    @staticmethod
    def _join(env, parts):
        if len(parts) <= 1:
            return "".join(parts)
        return env._(
            "%(first)s and %(last)s", first=", ".join(parts[:-1]), last=parts[-1]
        )

    # -- queueing -------------------------------------------------------

    def queue(self, decisions):
        """Create the outbox records of ``decisions``, log them and mark the
        invoices' steps done. Returns the counts and the messages created."""
        counts = {"queued": 0, "unreachable": 0, "held": 0}
        to_create = []
        done = []
        for decision in decisions:
            if "hold" in decision:
                counts["held"] += 1
                continue
            step = decision["step"]
            values = {
                "company_id": self.company.id,
                "partner_id": decision["partner"].id,
                "kind": decision.get("kind", "reminder"),
                "date": self.now,
                "step_id": step.id,
                # Given rather than computed after the INSERT, in one UPDATE more.
                "policy_id": step.policy_id.id,
                "amount_due": sum(
                    line.residual_signed for line in self._lines(decision)
                ),
            }
            if "unreachable" in decision:
                counts["unreachable"] += 1
                values |= {"state": "failed", "error_message": decision["unreachable"]}
            else:
                counts["queued"] += 1
                values |= {
                    "state": "queued",
                    "channel": decision["channel"],
                    "channel_id": decision["channel_id"].id,
                    "recipient": decision["recipient"],
                    "subject": decision["subject"],
                    "body": decision["body"],
                    "needs_review": step.manual_review
                    and decision.get("kind", "reminder") == "reminder",
                }
            to_create.append(values)
            done.append(decision)
        messages = self._insert_messages(to_create)
        self._link_invoices(messages, done)
        self._log_in_chatter(to_create)
        self._schedule_activities(done)
        self._mark_steps_done(done)
        return counts, messages

    # Columns of the outbox records the run writes, with their SQL types.
    _MESSAGE_COLUMNS = (
        ("company_id", "int"),
        ("partner_id", "int"),
        ("kind", "varchar"),
        ("date", "timestamp"),
        ("step_id", "int"),
        ("policy_id", "int"),
        ("amount_due", "float8"),
        ("state", "varchar"),
        ("error_message", "text"),
        ("channel", "varchar"),
        ("channel_id", "int"),
        ("recipient", "varchar"),
        ("subject", "varchar"),
        ("body", "text"),
        ("needs_review", "bool"),
    )

    def _insert_messages(self, values_list):
        """Store the outbox records, in the order given, in one INSERT that
        takes each column as one array: what ``create`` would store for these
        values (no other field of the outbox has a default), without building
        each record in memory first."""
        Communication = self.Communication
        if not values_list:
            return Communication
        Communication.flush_model()
        now = self.env.cr.now()
        columns = SQL(", ").join(
            SQL.identifier(name) for name, _type in self._MESSAGE_COLUMNS
        )
        rows = self.env.execute_query(
            SQL(
                "INSERT INTO dunning_communication (%s, create_uid, create_date, "
                "write_uid, write_date) "
                "SELECT %s, %s, %s, %s, %s FROM unnest(%s) "
                "WITH ORDINALITY AS v(%s, position) ORDER BY position "
                "RETURNING id",
                columns,
                SQL(", ").join(
                    SQL("v.%s", SQL.identifier(name))
                    for name, _type in self._MESSAGE_COLUMNS
                ),
                self.env.uid,
                now,
                self.env.uid,
                now,
                SQL(", ").join(
                    SQL(
                        "%s::%s[]",
                        [
                            # False is the ORM's "no value": NULL in SQL.
                            value if value is not False or sql_type == "bool" else None
                            for value in (values.get(name) for values in values_list)
                        ],
                        SQL(sql_type),
                    )
                    for name, sql_type in self._MESSAGE_COLUMNS
                ),
                columns,
            )
        )
        return Communication.browse([row[0] for row in rows])

    def _link_invoices(self, messages, decisions):
        """Link each message to the invoices it covers, in one INSERT: the
        ORM's many2many write reads each new message's (empty) links first."""
        rows = [
            (message.id, move_id)
            for message, decision in zip(messages, decisions, strict=True)
            for move_id in decision["moves"].ids
        ]
        if not rows:
            return
        message_ids, move_ids = zip(*rows, strict=True)
        self.env.execute_query(
            SQL(
                "INSERT INTO dunning_communication_account_move_rel "
                "(communication_id, move_id) "
                "SELECT * FROM unnest(%s::int[], %s::int[])",
                list(message_ids),
                list(move_ids),
            )
        )
        messages.invalidate_recordset(["move_ids"])
        self.env["account.move"].invalidate_model(["dunning_communication_ids"])

    def _log_in_chatter(self, values_list):
        """One note per message on the customer, as ``mail.message.create``
        would store it, in one INSERT; ``values_list`` holds what each message
        was created with (``_insert_messages``), so nothing is read back.

        The ORM would sanitize each body again (it is built from escaped text
        already) and update, for each note, the cached message list of every
        customer of the batch: time that grows with the square of the batch.
        """
        logged = [values for values in values_list if values["state"] != "failed"]
        if not logged:
            return
        sandbox_ids = set(self.sandbox.ids)
        note = self.env.ref("mail.mt_note")
        author = self.env.user.partner_id
        sender = self.company.email_formatted or author.email_formatted or None
        now = self.env.cr.now()
        titles = {}
        self.env["mail.message"].flush_model()
        partner_ids = [values["partner_id"] for values in logged]
        # Each column as one array: building one SQL fragment per note cost
        # more than the INSERT itself at 20,000 notes.
        self.env.execute_query(
            SQL(
                "INSERT INTO mail_message (model, res_id, message_type, subtype_id, "
                "author_id, email_from, reply_to, message_id, body, date, "
                "create_uid, create_date, write_uid, write_date) "
                "SELECT 'res.partner', v.res_id, 'notification', %s, %s, %s, %s, "
                "v.message_id, v.body, %s, %s, %s, %s, %s "
                "FROM unnest(%s::int[], %s::varchar[], %s::text[]) "
                "AS v(res_id, message_id, body)",
                note.id,
                author.id,
                sender,
                sender,
                now,
                self.env.uid,
                now,
                self.env.uid,
                now,
                partner_ids,
                [
                    generate_tracking_message_id(f"{partner_id}-res.partner")
                    for partner_id in partner_ids
                ],
                [
                    str(
                        self.Communication._chatter_note(
                            values["channel"],
                            values["channel_id"] in sandbox_ids,
                            bool(values["needs_review"]),
                            values["body"],
                            titles,
                        )
                    )
                    for values in logged
                ],
            )
        )
        self.env["res.partner"].browse(partner_ids).invalidate_recordset(
            ["message_ids", "message_needaction", "message_needaction_counter"]
        )

    def _schedule_activities(self, decisions):
        """A to-do for the responsible accountant of each customer whose step
        asks for one, stored as ``mail.activity.create`` would store it but in
        one INSERT: the ORM creates them one by one and re-reads each customer.

        As Odoo does, the accountant follows the customers given to them (in
        one call per accountant) and their activity counter is told once; no
        e-mail per activity, which would be a flood: the to-dos wait in the
        accountant's list and the bell.
        """
        with_activity = [d for d in decisions if d["step"].create_activity]
        if not with_activity:
            return
        todo = self.env.ref("mail.mail_activity_data_todo")
        model_id = self.env["ir.model"]._get_id("res.partner")
        now = self.env.cr.now()
        rows = []
        by_user = defaultdict(list)
        Users = self.env["res.users"]
        for decision in with_activity:
            partner = decision["partner"]
            lines = self._lines(decision)
            user = (
                partner.user_id
                or Users.browse(lines[0].user_id if lines else None)
                or self.env.user
            )
            by_user[user].append(partner.id)
            rows.append(
                SQL(
                    "(%s, 'res.partner', %s, %s, %s, %s, %s, %s, %s, TRUE, TRUE, "
                    "%s, %s, %s, %s)",
                    model_id,
                    partner.id,
                    partner.complete_name,
                    todo.id,
                    user.id,
                    user.tz,
                    self.env._("Follow up: %(step)s", step=decision["step"].name),
                    self.today,
                    self.env.uid,
                    now,
                    self.env.uid,
                    now,
                )
            )
        Activity = self.env["mail.activity"]
        Activity.flush_model()
        self.env.execute_query(
            SQL(
                "INSERT INTO mail_activity (res_model_id, res_model, res_id, "
                "res_name, activity_type_id, user_id, user_tz, summary, "
                "date_deadline, automated, active, create_uid, create_date, "
                "write_uid, write_date) VALUES %s",
                SQL(", ").join(rows),
            )
        )
        Activity.invalidate_model()
        self.env["res.partner"].invalidate_model(["activity_ids"])
        for user, partner_ids in by_user.items():
            self._follow(partner_ids, user.partner_id)
            user._bus_send(
                "mail.activity/updated",
                {"activity_created": True, "count_diff": len(partner_ids)},
            )

    def _follow(self, partner_ids, follower):
        """Make ``follower`` follow the customers ``partner_ids`` with the
        default subtypes, as ``message_subscribe`` does, keeping any existing
        subscription; in two statements rather than one ``mail.followers``
        record created at a time."""
        default, _internal, external = self.env[
            "mail.message.subtype"
        ].default_subtypes("res.partner")
        subtypes = external if follower.partner_share else default
        self.env["mail.followers"].flush_model()
        rows = self.env.execute_query(
            SQL(
                "INSERT INTO mail_followers (res_model, res_id, partner_id) "
                "SELECT 'res.partner', res_id, %s FROM unnest(%s::int[]) AS res_id "
                "ON CONFLICT (res_model, res_id, partner_id) DO NOTHING RETURNING id",
                follower.id,
                partner_ids,
            )
        )
        if rows and subtypes:
            self.env.execute_query(
                SQL(
                    "INSERT INTO mail_followers_mail_message_subtype_rel "
                    "(mail_followers_id, mail_message_subtype_id) "
                    "SELECT follower_id, subtype_id "
                    "FROM unnest(%s::int[]) AS follower_id, "
                    "unnest(%s::int[]) AS subtype_id",
                    [row[0] for row in rows],
                    subtypes.ids,
                )
            )
        self.env["mail.followers"].invalidate_model()
        self.env["res.partner"].invalidate_model(
            ["message_follower_ids", "message_partner_ids", "message_is_follower"]
        )

    def _mark_steps_done(self, decisions):
        """Remember, per invoice, the step reached, today, and when the next
        step falls due; and give the invoice each message links to (the oldest
        it covers) a portal access token, so that sending does not write one
        per message.

        The steps go to ``dunning.invoice.progress`` in one INSERT per batch
        (a narrow row per invoice, see there); only the invoices that get
        their first access token are written, in one UPDATE rather than
        through ``account.move.write``, which would re-synchronise every
        invoice's accounting lines for nothing.
        """
        steps = {}  # invoice id: (step id, next date)
        tokens = {}  # invoice id: new access token
        for decision in decisions:
            lines = self._lines(decision)
            for line in lines:
                step_id = decision["steps"].get(line.id)
                if not step_id:
                    continue
                next_offset = self._next_offset(step_id)
                steps[line.id] = (
                    step_id,
                    line.due + timedelta(days=next_offset)
                    if next_offset is not None
                    else None,
                )
            if "channel" in decision and lines and not lines[0].has_access_token:
                tokens[lines[0].id] = str(uuid.uuid4())
        if not steps and not tokens:
            return
        self.env["dunning.invoice.progress"].flush_model()
        self.env["account.move"].flush_model(["access_token"])
        # No create_uid / write_uid: it is the run's own bookkeeping, and each
        # of them would cost a foreign-key check per row (a fifth of the
        # INSERT at 100,000 invoices).
        if steps:
            now = self.env.cr.now()
            self.env.execute_query(
                SQL(
                    """
                INSERT INTO dunning_invoice_progress AS progress
                       (move_id, company_id, step_id, last_date, next_date,
                        create_date, write_date)
                SELECT v.move_id, %(company)s, v.step_id, %(today)s, v.next_date,
                       %(now)s, %(now)s
                  FROM unnest(%(move_ids)s::int[], %(step_ids)s::int[],
                              %(next_dates)s::date[]) AS v(move_id, step_id, next_date)
                    ON CONFLICT (move_id) DO UPDATE
                   SET step_id = EXCLUDED.step_id,
                       last_date = EXCLUDED.last_date,
                       next_date = EXCLUDED.next_date,
                       write_date = EXCLUDED.write_date
                    """,
                    company=self.company.id,
                    today=self.today,
                    now=now,
                    move_ids=list(steps),
                    step_ids=[step_id for step_id, _next in steps.values()],
                    next_dates=[next_date for _step, next_date in steps.values()],
                )
            )
        if tokens:
            self.env.execute_query(
                SQL(
                    """
                UPDATE account_move AS m
                   SET access_token = v.token
                  FROM unnest(%s::int[], %s::varchar[]) AS v(id, token)
                 WHERE m.id = v.id AND m.access_token IS NULL
                    """,
                    list(tokens),
                    list(tokens.values()),
                )
            )
        self.env["dunning.invoice.progress"].invalidate_model()
        Move = self.env["account.move"]
        Move.invalidate_model(
            ["dunning_step_id", "dunning_last_date", "dunning_next_date"]
        )
        Move.browse(list(tokens)).invalidate_recordset(["access_token"])

    def _next_offset(self, step_id):
        """The offset of the step that follows ``step_id`` in its policy."""
        if step_id not in self._later_offsets:
            step = self.Step.browse(step_id)
            later = [
                offset
                for offset in step.policy_id.step_ids.mapped("offset_days")
                if offset > step.offset_days
            ]
            self._later_offsets[step_id] = min(later) if later else None
        return self._later_offsets[step_id]

    def queue_thank_you(self):
        """Thank customers whose reminded, late invoices got paid, once nothing
        of theirs is overdue any more. Returns how many thank-yous were queued."""
        Move = self.env["account.move"].sudo()
        Move.flush_model(["move_type", "payment_state", "dunning_thanked"])
        self.env["dunning.invoice.progress"].flush_model()
        # From the narrow progress table to the invoices by primary key: the
        # reminded invoices are usually few beside the paid ones, which a
        # search by state scans (2 ms instead of 10 at 10,000 invoices, 1,555
        # open). When nearly nothing is paid it is the other way round (135
        # ms instead of 3 with all 100,000 open), a case a run rarely meets.
        rows = self.env.execute_query(
            SQL(
                """
            SELECT m.id FROM account_move m
             WHERE m.id = ANY(ARRAY(
                    SELECT progress.move_id
                      FROM dunning_invoice_progress progress
                      JOIN dunning_step step ON step.id = progress.step_id
                     WHERE progress.company_id = %s AND step.offset_days > 0))
               AND m.move_type = 'out_invoice'
               AND m.payment_state IN ('paid', 'in_payment')
               AND m.dunning_thanked IS NOT TRUE
          ORDER BY m.id
                """,
                self.company.id,
            )
        )
        paid = Move.browse([row[0] for row in rows]).try_lock_for_update()
        if not paid:
            return 0
        still_overdue = {
            partner.id
            for [partner] in Move._read_group(
                [
                    ("company_id", "=", self.company.id),
                    ("move_type", "=", "out_invoice"),
                    ("state", "=", "posted"),
                    ("payment_state", "in", ("not_paid", "partial")),
                    ("invoice_date_due", "<", self.today),
                    ("commercial_partner_id", "in", paid.commercial_partner_id.ids),
                ],
                ["commercial_partner_id"],
            )
        }
        partners = paid.commercial_partner_id
        contacts = self._collections_contacts(partners)
        sent_today, sent_week = self._recent_counts(partners)
        reach = self._reach(partners, contacts.values())
        quiet_day = self._is_quiet_day()
        paid_by_partner = paid.grouped("commercial_partner_id")
        decisions = []
        for partner in partners:
            moves = paid_by_partner[partner]
            step = max(moves.dunning_step_id, key=lambda s: s.offset_days)
            policy = step.policy_id
            if partner.id in still_overdue or not policy.thank_you:
                continue
            decision = {
                "partner": partner,
                "contact": contacts[partner.id],
                "moves": moves,
                "steps": {},
                "step": step,
                "kind": "thank_you",
                "texts": (policy, "thank_you_subject", "thank_you_body"),
            }
            reason = self._hold_reason(
                partner, contacts[partner.id], sent_today, sent_week, quiet_day
            )
            if reason:
                continue  # thanked in a later run
            decision.update(self._route(step, partner, contacts[partner.id], reach))
            decisions.append(decision)
        self._render(decisions)
        decisions = [d for d in decisions if "channel" in d]
        self.queue(decisions)
        thanked = [m.id for d in decisions for m in d["moves"]]
        if thanked:
            # Bookkeeping only: see _mark_steps_done.
            self.env.execute_query(
                SQL(
                    "UPDATE account_move SET dunning_thanked = TRUE WHERE id = ANY(%s)",
                    thanked,
                )
            )
            Move.invalidate_model(["dunning_thanked"])
        return len(decisions)
