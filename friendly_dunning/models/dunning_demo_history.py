"""The collections history of the demo: months of reminders and what the
customers did after them, dated relative to the day the demo is installed.

A trial database opens on a company that has used friendly_dunning for about
five months: each demo invoice got the steps of the default policy that fell
before it was paid (through the customer's channel: WhatsApp, SMS or e-mail,
with the delivery, reads and costs a provider reports), some customers replied,
promised to pay and kept or broke their word, one paid a payment plan to the
end, and the customers who settled rated how they were followed up. The
payments themselves are the real, reconciled payments of ``dunning_demo.py``.

The messages go through the demo's WhatsApp, SMS and e-mail channels
(``demo/dunning_channel_demo.xml``), which are archived: nothing is sent from
a trial database. ``demo/dunning_history_demo.xml`` calls
``_load_demo_history``.
"""

import random
from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import NamedTuple

from odoo import Command, api, fields, models
from odoo.tools import SQL, format_date, formatLang

from ..tools.messages import render_message
from .raw_sql import run_sql

# Customers reminded by SMS (no WhatsApp consent, or opted out of it) and by
# e-mail (their preferred channel, see demo/res_partner_demo.xml); everyone
# else by WhatsApp.
SMS_CUSTOMERS = ("cedar_lane_dental", "montana_azul", "fiesta_brava", "casa_do_azulejo")
EMAIL_CUSTOMERS = (
    "atelier_mirabelle",
    "harbor_light_books",
    "brisa_marina",
    "petit_four",
    "prairie_wind_events",
)
# What the provider charged per message, in the company currency, by the
# customer's country: WhatsApp's utility template rates (per delivered
# message) and SMS rates to mobiles. E-mail costs nothing.
MESSAGE_COSTS = {
    "whatsapp": {"US": 0.004, "BR": 0.008, "MX": 0.0085, "CO": 0.0008, "AR": 0.026},
    "sms": {"US": 0.0083, "BR": 0.0419, "MX": 0.0353, "ES": 0.0783, "PT": 0.0451},
}
DEFAULT_COSTS = {"whatsapp": 0.0214, "sms": 0.0650}
# How often a message gets further, by channel: (delivered, read once
# delivered). Providers report no reads of SMS; e-mails are not tracked.
REACH = {"whatsapp": (0.96, 0.82), "sms": (0.97, 0.0), "email": (1.0, 0.0)}
# Seed of the pseudo-random outcomes: every demo database tells the same story.
SEED = 15


class DemoPromise(NamedTuple):
    """A promise to pay one demo invoice, judged long ago or lately."""

    slug: str  # the customer (friendly_dunning.demo_partner_<slug>)
    number: int  # the invoice (friendly_dunning.demo_invoice_<slug>_<number>)
    promised: int  # the promised date, in days from today (negative: past)
    state: str  # kept or broken
    source: str  # portal, reply or accountant
    amount: float | None = None  # part of the residual; default: all of it


# Made the day after a reminder (by reply) or a week before the promised
# date (elsewhere); the kept ones are paid by then (see
# the payment dates of DEMO_INVOICES), the broken ones are still open.
DEMO_PROMISES = (
    DemoPromise("rusty_anchor_diner", 1, -104, "kept", "reply"),
    DemoPromise("prairie_wind_events", 2, -64, "kept", "portal", 2000.0),
    DemoPromise("sabor_caribe", 2, -64, "kept", "reply", 800.0),
    DemoPromise("fiesta_brava", 3, -40, "broken", "reply"),
    DemoPromise("ipe_moveis", 4, -46, "kept", "reply"),
    DemoPromise("rusty_anchor_diner", 3, -33, "broken", "accountant"),
    DemoPromise("thistle_tweed", 4, -22, "kept", "reply"),
    DemoPromise("libreria_tango", 4, -21, "kept", "portal"),
)
PROMISE_MADE_BEFORE = 7
PROMISE_GRACE_DAYS = 3

# The completed payment plan: the invoice it covered, when it was agreed and
# the due dates of its instalments (days from today), each paid a day early.
DEMO_PLAN = ("prairie_wind_events", 4, -95, (-80, -50, -20))

# Replies, by language, to the message just before a promise made by reply,
# and to a reminder paid within three days.
REPLY_TEXTS = {
    "promise": {
        "en": "Sorry for the delay, things are tight this month. We will pay "
        "on %(date)s.",
        "es": "Disculpen la demora, este mes estamos justos. Pagaremos el %(date)s.",
        "pt": "Desculpem o atraso, este mês está apertado. Pagamos dia %(date)s.",
        "fr": "Désolés pour le retard, nous réglerons le %(date)s.",
    },
    "paid": {
        "en": "Thanks for the reminder, paying it today.",
        "es": "Gracias por el aviso, lo pago hoy mismo.",
        "pt": "Obrigado pelo lembrete, pago hoje.",
        "fr": "Merci du rappel, nous payons aujourd'hui.",
    },
}
# Ratings given after a case was settled: customer, rating, comment, source.
DEMO_RATINGS = (
    ("harbor_light_books", 5, "Friendly and clear, thank you.", "portal"),
    ("thistle_tweed", 4, "", "reply"),
    ("brisa_marina", 5, "Muy cómodo pagar desde el enlace.", "portal"),
    ("libreria_tango", 4, "", "portal"),
    ("ipe_moveis", 3, "Lembretes um pouco frequentes.", "portal"),
    ("petit_four", 5, "", "reply"),
    ("prairie_wind_events", 5, "The payment plan saved our season.", "portal"),
    ("montana_azul", 4, "", "reply"),
)


class DunningDemo(models.AbstractModel):
    _inherit = "dunning.demo"

    @api.model
    def _load_demo_history(self):
        """Create the collections history of the demo customers, once: the
        completed plan with its payments, the promises, the messages with
        their replies, where each invoice stands in the policy, and the
        ratings."""
        if self.env.ref(
            "friendly_dunning.demo_plan_prairie_wind_events", raise_if_not_found=False
        ):
            return
        company = self.env.ref("base.main_company")
        demo = self.with_company(company).with_context(
            tracking_disable=True, mail_create_nolog=True, mail_notrack=True
        )
        today = fields.Date.context_today(demo)
        records = []  # (xml id, record)
        plan, payments = demo._demo_history_plan(company, today)
        records += [(f"demo_plan_{DEMO_PLAN[0]}", plan)] + payments
        promises = demo._demo_history_promises(company, today)
        records += promises
        messages = demo._demo_history_messages(company, today, plan, promises)
        records += messages
        records += demo._demo_history_ratings(company, today, messages)
        self.env["ir.model.data"]._update_xmlids(
            [
                {
                    "xml_id": f"friendly_dunning.{name}",
                    "record": record,
                    "noupdate": True,
                }
                for name, record in records
            ]
        )
        invoices = self.env["account.move"].browse(
            {move.id for _name, record in messages for move in record.move_ids}
        )
        self.env["res.partner"]._dunning_schedule_refresh(invoices)

    # ------------------------------------------------------------------
    # Payment plan
    # ------------------------------------------------------------------

    @api.model
    def _demo_history_plan(self, company, today):
        slug, number, agreed, due_days = DEMO_PLAN
        invoice = self.env.ref(f"friendly_dunning.demo_invoice_{slug}_{number}")
        currency = company.currency_id
        total = invoice.amount_residual_signed
        share = currency.round(total / len(due_days))
        amounts = [share] * (len(due_days) - 1)
        amounts.append(currency.round(total - sum(amounts)))
        dates = [today + timedelta(days=days) for days in due_days]
        payments = self._demo_register_payments(
            company,
            [
                (invoice, due - timedelta(days=1), amount)
                for due, amount in zip(dates, amounts)
            ],
        )
        plan = self.env["dunning.payment.plan"].create(
            {
                "partner_id": invoice.commercial_partner_id.id,
                "company_id": company.id,
                "move_ids": [Command.set(invoice.ids)],
                "source": "portal",
                "plan_type": "installments",
                "installment_count": len(dates),
                "first_date": dates[0],
                "amount_total": total,
                "state": "completed",
                "closed_date": dates[-1] - timedelta(days=1),
                "installment_ids": [
                    Command.create(
                        {
                            "sequence": index,
                            "date_due": due,
                            "amount": amount,
                            "amount_paid": amount,
                            "state": "paid",
                            "reminded_before": True,
                        }
                    )
                    for index, (due, amount) in enumerate(zip(dates, amounts), 1)
                ],
            }
        )
        self._demo_backdate(plan, today + timedelta(days=agreed))
        return plan, [
            (f"demo_payment_{slug}_{number}_plan_{index}", payment)
            for index, payment in enumerate(payments, 1)
        ]

    # ------------------------------------------------------------------
    # Promises
    # ------------------------------------------------------------------

    @api.model
    def _demo_history_promises(self, company, today):
        offsets = self.env.ref(
            "friendly_dunning.dunning_policy_default"
        ).step_ids.mapped("offset_days")
        created = []
        for promise in DEMO_PROMISES:
            invoice = self.env.ref(
                f"friendly_dunning.demo_invoice_{promise.slug}_{promise.number}"
            )
            promised = today + timedelta(days=promise.promised)
            made = self._demo_promise_made(invoice, promised, promise.source, offsets)
            residual = self._demo_residual_at(invoice, made, signed=True)
            grace = promised + timedelta(days=PROMISE_GRACE_DAYS)
            if promise.state == "kept":
                closed = max(
                    date
                    for date, _amount in self._demo_payments_of(invoice)
                    if date <= grace
                )
            else:
                closed = grace + timedelta(days=1)
            record = self.env["dunning.promise"].create(
                {
                    "partner_id": invoice.commercial_partner_id.id,
                    "company_id": company.id,
                    "move_ids": [Command.set(invoice.ids)],
                    "promised_date": promised,
                    "promised_amount": promise.amount or residual,
                    "residual_at_promise": residual,
                    "grace_date": grace,
                    "state": promise.state,
                    "closed_date": closed,
                    "source": promise.source,
                    "user_id": self.env.ref("base.user_admin").id,
                }
            )
            self._demo_backdate(record, made)
            created.append(
                (
                    f"demo_promise_{promise.slug}_{promise.number}_{promise.state}",
                    record,
                )
            )
        return created

    @api.model
    def _demo_promise_made(self, invoice, promised, source, offsets):
        """When the promise was made: by reply, the day after the last
        reminder before it; elsewhere, a week before the promised date."""
        if source != "reply":
            return promised - timedelta(days=PROMISE_MADE_BEFORE)
        reminded = [
            invoice.invoice_date_due + timedelta(days=offset)
            for offset in offsets
            if invoice.invoice_date_due + timedelta(days=offset)
            < promised - timedelta(days=2)
        ]
        return max(reminded) + timedelta(days=1)

    # ------------------------------------------------------------------
    # Messages
    # ------------------------------------------------------------------

    @api.model
    def _demo_history_messages(self, company, today, plan, promises):
        """The reminders each demo invoice got before it was paid, their
        replies, and where each invoice stands in the default policy."""
        rng = random.Random(SEED)
        policy = self.env.ref("friendly_dunning.dunning_policy_default")
        steps = policy.step_ids.sorted("offset_days")
        channels = {
            kind: self.env.ref(f"friendly_dunning.demo_channel_{kind}")
            for kind in ("whatsapp", "sms", "email")
        }
        paused = defaultdict(list)  # invoice id: [(first day, last day)]
        promise_days = {}  # invoice id: (made, promised, source)
        # The broken promise of demo/dunning_plan_demo.xml was made a week
        # before its date too.
        broken = self.env.ref("friendly_dunning.demo_promise_foxglove_events")
        self._demo_backdate(
            broken, broken.promised_date - timedelta(days=PROMISE_MADE_BEFORE)
        )
        for promise in [record for _name, record in promises] + [broken]:
            made = promise.create_date.date()
            paused[promise.move_ids.id].append((made, promise.grace_date))
            promise_days[promise.move_ids.id] = (
                made,
                promise.promised_date,
                promise.source,
            )
        paused[plan.move_ids.id].append((plan.create_date.date(), plan.closed_date))
        invoices = self._demo_history_invoices()
        partners = invoices.commercial_partner_id
        links = partners._dunning_portal_urls(company)
        # (partner, day, step): the invoices reminded together.
        reminders = defaultdict(lambda: self.env["account.move"])
        progress = {}  # invoice: (step, day of the step)
        for invoice in invoices:
            due = invoice.invoice_date_due
            settled = self._demo_settled_on(invoice)
            for step in steps:
                day = due + timedelta(days=step.offset_days)
                if day >= today or (settled and day >= settled):
                    break
                if any(start <= day <= end for start, end in paused[invoice.id]):
                    continue
                reminders[invoice.commercial_partner_id, day, step] |= invoice
                progress[invoice] = (step, day)
        created = []
        slugs = self._demo_slugs(partners)
        for (partner, day, step), moves in sorted(
            reminders.items(), key=lambda item: (item[0][1], item[0][0].id)
        ):
            slug = slugs[partner.id]
            kind = (
                "sms"
                if slug in SMS_CUSTOMERS
                else "email"
                if slug in EMAIL_CUSTOMERS
                else "whatsapp"
            )
            message = self._demo_message(
                company, partner, moves, step, day, channels[kind], links, rng
            )
            created.append((f"demo_message_{slug}_{day:%Y%m%d}_{step.id}", message))
            reply = self._demo_reply(message, moves, day, promise_days, rng)
            if reply:
                created.append((f"demo_reply_{slug}_{day:%Y%m%d}_{step.id}", reply))
        self._demo_history_progress(company, steps, progress)
        return created

    @api.model
    def _demo_history_invoices(self):
        """The demo invoices with one due date, oldest first; the invoice on
        an instalment term is left for the first run to remind."""
        data = self.env["ir.model.data"].search(
            [
                ("module", "=", "friendly_dunning"),
                ("model", "=", "account.move"),
                ("name", "=like", "demo_invoice_%"),
            ]
        )
        invoices = self.env["account.move"].browse(data.mapped("res_id"))
        return invoices.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and len(
                    move.line_ids.filtered(
                        lambda line: line.display_type == "payment_term"
                    )
                )
                == 1
            )
        ).sorted(lambda move: (move.invoice_date_due, move.id))

    @api.model
    def _demo_slugs(self, partners):
        data = self.env["ir.model.data"].search(
            [
                ("module", "=", "friendly_dunning"),
                ("model", "=", "res.partner"),
                ("res_id", "in", partners.ids),
                ("name", "=like", "demo_partner_%"),
            ]
        )
        return {row.res_id: row.name.removeprefix("demo_partner_") for row in data}

    @api.model
    def _demo_message(self, company, partner, moves, step, day, channel, links, rng):
        """One reminder sent on ``day`` through ``channel``, as far as the
        customer took it (delivered, read), with what the provider charged."""
        kind = channel.channel_type
        queued = datetime.combine(day, time(8 + rng.randrange(4), rng.randrange(60)))
        sent = queued + timedelta(seconds=rng.randrange(20, 300))
        values = {
            "company_id": company.id,
            "partner_id": partner.id,
            "move_ids": [Command.set(moves.ids)],
            "kind": "reminder",
            "step_id": step.id,
            "channel": kind,
            "channel_id": channel.id,
            "recipient": partner.email if kind == "email" else partner.phone,
            "date": queued,
            "sent_date": sent,
            "state": "sent",
            "amount_due": sum(
                self._demo_residual_at(move, day, signed=True) for move in moves
            ),
            "attach_invoice": kind == "email",
        }
        values |= self._demo_message_text(partner, moves, step, day, links)
        delivered_rate, read_rate = REACH[kind]
        if kind != "email":
            cost = MESSAGE_COSTS[kind].get(partner.country_id.code, DEFAULT_COSTS[kind])
            # WhatsApp charges a template once delivered; the SMS provider
            # charges what it sends.
            if kind == "sms":
                values["cost"] = cost
            values["cost_category"] = "utility" if kind == "whatsapp" else "sms"
            values["provider_message_id"] = (
                f"wamid.DEMO{rng.getrandbits(64):016X}"
                if kind == "whatsapp"
                else f"SM{rng.getrandbits(128):032x}"
            )
            if rng.random() < delivered_rate:
                delivered = sent + timedelta(seconds=rng.randrange(2, 90))
                values |= {"state": "delivered", "delivered_date": delivered}
                if kind == "whatsapp":
                    values |= {"cost": cost, "charge": "charged"}
                if rng.random() < read_rate:
                    values |= {
                        "state": "read",
                        "read_date": delivered
                        + timedelta(minutes=rng.randrange(1, 600)),
                    }
        message = self.env["dunning.communication"].create(values)
        self._demo_backdate(message, queued)
        return message

    @api.model
    def _demo_message_text(self, partner, moves, step, day, links):
        """The step's subject and body, in the customer's language, as the run
        wrote them on ``day``."""
        env = self.with_context(lang=partner.lang).env
        step = step.with_env(env)
        due = min(moves.mapped("invoice_date_due"))
        lines, totals = [], defaultdict(float)
        for move in moves:
            residual = self._demo_residual_at(move, day)
            totals[move.currency_id] += residual
            lines.append(
                env._(
                    "- %(number)s, due %(due)s: %(amount)s",
                    number=move.name,
                    due=format_date(env, move.invoice_date_due),
                    amount=formatLang(env, residual, currency_obj=move.currency_id),
                )
            )
        values = {
            "name": partner.name,
            "company": moves.company_id.name,
            "amount": ", ".join(
                formatLang(env, total, currency_obj=currency)
                for currency, total in totals.items()
            ),
            "invoices": "\n".join(lines),
            "due_date": format_date(env, due),
            "days_overdue": max(0, (day - due).days),
            "link": links[partner.id],
            "credits": "",
        }
        return {
            "subject": render_message(step.subject or "", values),
            "body": render_message(step.body or "", values),
        }

    @api.model
    def _demo_reply(self, message, moves, day, promise_days, rng):
        """The customer's answer to ``message``, if they gave one: the promise
        they made by reply, or word that they pay as the reminder asks."""
        if message.channel == "email":
            return None
        promise = promise_days.get(moves[:1].id)
        settled = self._demo_settled_on(moves[:1])
        if promise and promise[2] == "reply" and day + timedelta(days=1) == promise[0]:
            replied_on = datetime.combine(promise[0], time(15, rng.randrange(60)))
            text = self._demo_reply_text(
                "promise", message.partner_id, promised=promise[1]
            )
            # Whoever answers got the message and read it.
            message.write(
                {
                    "delivered_date": message.delivered_date or message.sent_date,
                    "read_date": message.read_date or replied_on - timedelta(hours=2),
                }
            )
        elif (
            message.state == "read"
            and settled
            and (settled - day).days <= 3
            and rng.random() < 0.5
        ):
            replied_on = message.read_date + timedelta(minutes=rng.randrange(2, 45))
            text = self._demo_reply_text("paid", message.partner_id)
        else:
            return None
        message.state = "replied"
        reply = self.env["dunning.communication"].create(
            {
                "company_id": message.company_id.id,
                "partner_id": message.partner_id.id,
                "kind": "reply",
                "state": "replied",
                "channel": message.channel,
                "channel_id": message.channel_id.id,
                "recipient": message.recipient,
                "body": text,
                "date": replied_on,
                "provider_message_id": (
                    f"wamid.DEMO{rng.getrandbits(64):016X}"
                    if message.channel == "whatsapp"
                    else f"SM{rng.getrandbits(128):032x}"
                ),
            }
        )
        self._demo_backdate(reply, replied_on)
        return reply

    @api.model
    def _demo_reply_text(self, kind, partner, promised=None):
        texts = REPLY_TEXTS[kind]
        text = texts.get((partner.lang or "en")[:2], texts["en"])
        if promised:
            env = self.with_context(lang=partner.lang).env
            text %= {"date": format_date(env, promised)}
        return text

    @api.model
    def _demo_history_progress(self, company, steps, progress):
        """Record the last step each reminded invoice reached, as the run
        does, so that the next run goes on from there; the invoices paid
        since were thanked."""
        later = {
            step.id: min(
                (s.offset_days for s in steps if s.offset_days > step.offset_days),
                default=None,
            )
            for step in steps
        }
        by_day = defaultdict(dict)
        for invoice, (step, day) in progress.items():
            next_offset = later[step.id]
            # After an overdue step the next one waits for the policy's gap,
            # as the run records it.
            gap = step.policy_id.escalation_gap_days if step.offset_days > 0 else 0
            for line in invoice.line_ids.filtered(
                lambda line: line.display_type == "payment_term"
            ):
                by_day[day][line.id] = (
                    invoice.id,
                    step.id,
                    max(
                        line.date_maturity + timedelta(days=next_offset),
                        day + timedelta(days=gap),
                    )
                    if next_offset is not None
                    else None,
                )
        Progress = self.env["dunning.invoice.progress"]
        for day, steps_done in sorted(by_day.items()):
            Progress._dunning_record_steps(company, day, steps_done)
        paid = (
            self.env["account.move"]
            .browse(invoice.id for invoice in progress)
            .filtered(lambda move: move.payment_state in ("paid", "in_payment"))
        )
        paid._dunning_mark_thanked()

    # ------------------------------------------------------------------
    # Ratings
    # ------------------------------------------------------------------

    @api.model
    def _demo_history_ratings(self, company, today, messages):
        """Each rating is of the customer's last reminder before their last
        late payment, given the day after that payment."""
        created = []
        reminders = [record for _name, record in messages if record.kind == "reminder"]
        for slug, rating, comment, source in DEMO_RATINGS:
            partner = self.env.ref(f"friendly_dunning.demo_partner_{slug}")
            settled = [
                (self._demo_settled_on(move), move)
                for message in reminders
                if message.partner_id == partner
                for move in message.move_ids
                if self._demo_settled_on(move)
            ]
            if not settled:
                continue
            settled_on, move = max(settled, key=lambda item: item[0])
            last = max(
                (
                    message
                    for message in reminders
                    if move in message.move_ids
                    and message.sent_date.date() < settled_on
                ),
                key=lambda message: message.sent_date,
            )
            feedback = self.env["dunning.feedback"].create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "communication_id": last.id,
                    "rating": rating,
                    "comment": comment,
                    "source": source,
                }
            )
            rated_on = datetime.combine(
                min(settled_on + timedelta(days=1), today), time(18)
            )
            feedback.date = rated_on
            self._demo_backdate(feedback, rated_on)
            created.append((f"demo_rating_{slug}", feedback))
        return created

    # ------------------------------------------------------------------
    # Dates and amounts of the past
    # ------------------------------------------------------------------

    @api.model
    def _demo_payments_of(self, invoice):
        """``(date, amount in the invoice's currency)`` of each payment or
        credit note applied to ``invoice``."""
        partials = invoice.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).matched_credit_ids
        return [
            (partial.max_date, partial.debit_amount_currency) for partial in partials
        ]

    @api.model
    def _demo_settled_on(self, invoice):
        """The day ``invoice`` was paid in full, or ``None`` if it is open."""
        if invoice.payment_state not in ("paid", "in_payment"):
            return None
        return max(date for date, _amount in self._demo_payments_of(invoice))

    @api.model
    def _demo_residual_at(self, invoice, day, signed=False):
        """What ``invoice`` owed on ``day`` (before that day's payments), in
        its currency, or in the company's when ``signed``."""
        paid_since = sum(
            amount for date, amount in self._demo_payments_of(invoice) if date >= day
        )
        residual = invoice.amount_residual + paid_since
        if signed and invoice.amount_residual:
            return residual * invoice.amount_residual_signed / invoice.amount_residual
        if signed:
            return residual * invoice.amount_total_signed / invoice.amount_total
        return residual

    @api.model
    def _demo_backdate(self, record, when):
        """Date ``record`` as created at ``when``: the lists and reports show
        when an agreement was made or a message decided."""
        when = fields.Datetime.to_datetime(when)
        run_sql(
            self.env,
            SQL(
                "UPDATE %s SET create_date = %s, write_date = %s WHERE id = ANY(%s)",
                SQL.identifier(record._table),
                when,
                when,
                record.ids,
            ),
            writes={record._name: ["create_date", "write_date"]},
        )
