import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.tools import SQL, email_normalize, format_date, formatLang

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
        """The hourly job: plan every company's reminders, then send them."""
        companies = (
            self.env["res.company"].sudo().search([("dunning_policy_id", "!=", False)])
        )
        for company in companies:
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
            # Keep the worklist current: amounts, next reminder dates.
            self.env["res.partner"]._dunning_refresh_segmentation(
                companies=company, partners=locked
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


class _Planner:
    """Set-based planning of one company's reminders at one moment."""

    def __init__(self, env, company, now):
        self.env = env
        self.company = company
        self.now = now
        company_tz = pytz.timezone(company.partner_id.tz or "UTC")
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
        partner_filter = (
            SQL("AND m.commercial_partner_id = ANY(%s)", partner_ids)
            if partner_ids is not None
            else SQL()
        )
        return SQL(
            """
            SELECT m.id, m.commercial_partner_id, step.id, step.offset_days
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
         LEFT JOIN dunning_step last ON last.id = m.dunning_step_id
             WHERE m.company_id = %(company)s
               AND m.move_type = 'out_invoice'
               AND m.state = 'posted'
               AND m.payment_state IN ('not_paid', 'partial')
               AND (m.dunning_pause_reason IS NULL
                    OR m.dunning_pause_until < %(today)s)
               AND (last.id IS NULL OR step.offset_days > last.offset_days)
               AND NOT EXISTS (
                    SELECT 1 FROM account_move_line line
                     WHERE line.move_id = m.id
                       AND line.display_type = 'payment_term'
                       AND line.no_followup)
               %(partner_filter)s
            """,
            company=self.company.id,
            company_key=str(self.company.id),
            default_policy=default_policy,
            today=self.today,
            partner_filter=partner_filter,
        )

    def _flush(self):
        self.env["account.move"].flush_model()
        self.env["account.move.line"].flush_model(["no_followup"])
        self.env["res.partner"].flush_model()

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
        for move_id, partner_id, step_id, _offset in rows:
            due_by_partner[partner_id][move_id] = step_id
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
            step = max(steps.browse(set(due.values())), key=lambda s: s.offset_days)
            decision = {
                "partner": partner,
                "contact": contacts[partner.id],
                "moves": moves.browse(list(due)).with_prefetch(moves._prefetch_ids),
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
        numbers = {
            contact.id: to_e164(contact.phone, contact.country_id.code)
            for contact in contacts
        }
        blocked_emails, blocked_phones = self._blacklists(contacts, numbers)
        return {
            "emails": blocked_emails,
            "phones": blocked_phones,
            "numbers": numbers,
            "consents": self.env["dunning.consent"].sudo()._current_states(partners),
        }

    def _blacklists(self, contacts, numbers):
        emails = {email_normalize(c.email) for c in contacts if c.email} - {None}
        blocked_emails = set(
            self.env["mail.blacklist"]
            .sudo()
            .search([("email", "in", list(emails))])
            .mapped("email")
        )
        valid = {e164 for e164, _problem in numbers.values() if e164}
        blocked_phones = set(
            self.env["phone.blacklist"]
            .sudo()
            .search([("number", "in", list(valid))])
            .mapped("number")
        )
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
        company = self.company
        if quiet_day:
            return {"hold": quiet_day}
        if not partner.active:
            return {"unreachable": self.env._("The customer is archived.")}
        tz = pytz.timezone(contact.tz or partner.tz or company.partner_id.tz or "UTC")
        local = pytz.utc.localize(self.now).astimezone(tz)
        hour = local.hour + local.minute / 60
        start, end = partner._dunning_contact_hours(
            company.dunning_quiet_hour_start, company.dunning_quiet_hour_end
        )
        if not start <= hour < end:
            return {"hold": "quiet_hours"}
        if sent_today.get(partner, 0) >= company.dunning_max_per_day:
            return {"hold": "daily_cap"}
        if sent_week.get(partner, 0) >= company.dunning_max_per_week:
            return {"hold": "weekly_cap"}
        return None

    def _route(self, step, partner, contact, reach, channels=None):
        """The first channel of the step (or of ``channels``) that reaches the
        contact, or why none does."""
        reasons = []
        labels = dict(
            self.Step._fields["channel_first"]._description_selection(self.env)
        )
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
                email = email_normalize(contact.email or "")
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
            elif not (self.sandbox or (channel == "sms" and self.sms_channel)):
                reasons.append(
                    self.env._(
                        "%(channel)s: no active channel", channel=labels[channel]
                    )
                )
            else:
                return {
                    "channel": channel,
                    "recipient": e164,
                    "channel_id": self.sandbox or self.sms_channel,
                }
        return {
            "unreachable": self.env._(
                "No channel of the step reaches this customer: %(reasons)s.",
                reasons="; ".join(reasons) or self.env._("the step has no channel"),
            )
        }

    # -- texts ----------------------------------------------------------

    def _render(self, decisions):
        self._ensure_access_tokens(decisions)
        by_lang = defaultdict(list)
        for decision in decisions:
            if "channel" in decision:
                by_lang[decision["contact"].lang or "en_US"].append(decision)
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

    def _ensure_access_tokens(self, decisions):
        """Give the invoices the messages link to a portal access token, in one
        statement rather than one write per invoice."""
        move_ids = [
            decision["moves"].sorted("invoice_date_due")[:1].id
            for decision in decisions
            if "channel" in decision
        ]
        if not move_ids:
            return
        self.env.execute_query(
            SQL(
                "UPDATE account_move SET access_token = gen_random_uuid()::text "
                "WHERE id = ANY(%s) AND access_token IS NULL",
                move_ids,
            )
        )
        Move = self.env["account.move"].sudo()
        Move.invalidate_model(["access_token"])
        Move.browse(move_ids).fetch(["access_token"])

    def _placeholder_values(self, env, decision):
        moves = decision["moves"].with_env(env).sorted("invoice_date_due")
        # After the due date, {amount} is what is overdue; invoices not yet due
        # that the same message mentions are listed, not counted as overdue.
        overdue = moves.filtered(lambda m: m.invoice_date_due < self.today)
        counted = overdue if decision["step"].offset_days > 0 and overdue else moves
        by_currency = defaultdict(float)
        for move in counted:
            by_currency[move.currency_id] += move.amount_residual
        amount = self._join(
            env,
            [
                formatLang(env, total, currency_obj=currency)
                for currency, total in by_currency.items()
            ],
        )
        invoices = "\n".join(
            env._(
                "- %(number)s, due %(due)s: %(amount)s",
                number=move.name,
                due=format_date(env, move.invoice_date_due),
                amount=formatLang(
                    env, move.amount_residual, currency_obj=move.currency_id
                ),
            )
            for move in moves
        )
        oldest = moves[:1]
        return {
            "name": decision["contact"].name,
            "company": self.company.name,
            "amount": amount,
            "invoices": invoices,
            "due_date": format_date(env, oldest.invoice_date_due),
            "days_overdue": max(0, (self.today - oldest.invoice_date_due).days),
            "link": decision["contact"]
            .commercial_partner_id.with_company(self.company)
            ._dunning_portal_url(),
            "credits": "",
        }

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
                "move_ids": [fields.Command.set(decision["moves"].ids)],
                "kind": decision.get("kind", "reminder"),
                "date": self.now,
                "step_id": step.id,
                "amount_due": sum(decision["moves"].mapped("amount_residual_signed")),
            }
            if "unreachable" in decision:
                counts["unreachable"] += 1
                values |= {"state": "failed", "error_message": decision["unreachable"]}
            else:
                counts["queued"] += 1
                values |= {
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
        messages = self.Communication.create(to_create)
        self._log_in_chatter(messages)
        self._schedule_activities(done)
        self._mark_steps_done(done)
        return counts, messages

    def _log_in_chatter(self, messages):
        note = self.env.ref("mail.mt_note")
        author = self.env.user.partner_id
        sender = self.company.email_formatted or author.email_formatted or False
        self.env["mail.message"].sudo().create(
            [
                {
                    "model": "res.partner",
                    "res_id": message.partner_id.id,
                    "message_type": "notification",
                    "subtype_id": note.id,
                    "author_id": author.id,
                    "email_from": sender,
                    "reply_to": sender,
                    "body": message._chatter_body(),
                }
                for message in messages
                if message.state != "failed"
            ]
        )

    def _schedule_activities(self, decisions):
        with_activity = [d for d in decisions if d["step"].create_activity]
        if not with_activity:
            return
        model = self.env["ir.model"]._get_id("res.partner")
        todo = self.env.ref("mail.mail_activity_data_todo")
        self.env["mail.activity"].sudo().create(
            [
                {
                    "res_model_id": model,
                    "res_id": decision["partner"].id,
                    "activity_type_id": todo.id,
                    "summary": self.env._(
                        "Follow up: %(step)s", step=decision["step"].name
                    ),
                    "user_id": (
                        decision["partner"].user_id
                        or decision["moves"][:1].invoice_user_id
                        or self.env.user
                    ).id,
                    "date_deadline": self.today,
                }
                for decision in with_activity
            ]
        )

    def _mark_steps_done(self, decisions):
        """Remember, per invoice, the step reached, today, and when the next
        step falls due.

        These are the engine's own bookkeeping columns: they are written in one
        statement per batch rather than through ``account.move.write``, which
        would re-synchronise every invoice's accounting lines for nothing.
        """
        rows = []
        for decision in decisions:
            for move in decision["moves"]:
                step_id = decision["steps"].get(move.id)
                if not step_id:
                    continue
                step = self.Step.browse(step_id)
                later = [
                    offset
                    for offset in step.policy_id.step_ids.mapped("offset_days")
                    if offset > step.offset_days
                ]
                next_date = (
                    move.invoice_date_due + timedelta(days=min(later))
                    if later
                    else None
                )
                rows.append((move.id, step_id, next_date))
        if not rows:
            return
        self.env["account.move"].flush_model(
            ["dunning_step_id", "dunning_last_date", "dunning_next_date"]
        )
        self.env.execute_query(
            SQL(
                "UPDATE account_move AS m SET dunning_step_id = v.step_id, "
                "dunning_last_date = %s, dunning_next_date = v.next_date "
                "FROM (VALUES %s) AS v(id, step_id, next_date) WHERE m.id = v.id",
                self.today,
                SQL(", ").join(
                    SQL("(%s, %s, %s::date)", move_id, step_id, next_date)
                    for move_id, step_id, next_date in rows
                ),
            )
        )
        self.env["account.move"].invalidate_model(
            ["dunning_step_id", "dunning_last_date", "dunning_next_date"]
        )

    def queue_thank_you(self):
        """Thank customers whose reminded, late invoices got paid, once nothing
        of theirs is overdue any more. Returns how many thank-yous were queued."""
        Move = self.env["account.move"].sudo()
        paid = Move.search(
            [
                ("company_id", "=", self.company.id),
                ("move_type", "=", "out_invoice"),
                ("payment_state", "in", ("paid", "in_payment")),
                ("dunning_step_id.offset_days", ">", 0),
                ("dunning_thanked", "=", False),
            ]
        ).try_lock_for_update()
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
