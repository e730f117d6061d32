import random
from contextlib import nullcontext, suppress
from datetime import date, timedelta
from unittest.mock import patch

import phonenumbers

from odoo import models
from odoo.fields import Command
from odoo.tests import BaseCase, freeze_time, tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.friendly_dunning_bench.cli import dunning_dataset
from odoo.addons.friendly_dunning_bench.cli.dunning_dataset import (
    Habit,
    generate,
    next_payday,
    next_working_day,
)

TODAY = date(2026, 6, 15)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestDataset(AccountTestInvoicingCommon):
    """The benchmark dataset generator, run small inside the test transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        # a small batch size, so that the run spans several batches
        cls.summary = generate(
            cls.env, customers=12, invoices=60, seed=20, today=TODAY, batch_size=25
        )
        Move = cls.env["account.move"]
        in_company = [("company_id", "=", cls.company.id)]
        cls.invoices = Move.search(in_company + [("move_type", "=", "out_invoice")])
        cls.credit_notes = Move.search(in_company + [("move_type", "=", "out_refund")])
        bank_journals = cls.env["account.journal"].search(
            in_company + [("type", "=", "bank")]
        )
        cls.payments = Move.search(
            in_company
            + [("journal_id", "in", bank_journals.ids), ("move_type", "=", "entry")]
        )
        cls.customers = cls.invoices.commercial_partner_id

    def test_invoices_posted_and_every_entry_balanced(self):
        self.assertEqual(len(self.invoices), 60)
        self.assertEqual(self.summary["invoices"], 60)
        self.assertEqual(set(self.invoices.mapped("state")), {"posted"})
        entries = self.env["account.move"].search(
            [("company_id", "=", self.company.id)]
        )
        self.assertEqual(set(entries.mapped("state")), {"posted"}, "no draft is left")
        balances = self.env["account.move.line"]._read_group(
            [("company_id", "=", self.company.id)], ["move_id"], ["balance:sum"]
        )
        self.assertEqual(len(balances), len(entries))
        for move, balance in balances:
            self.assertTrue(self.company.currency_id.is_zero(balance), move.name)

    def test_invoices_age_from_not_due_to_long_overdue(self):
        self.assertEqual(len(self.customers), 12)
        dates = self.invoices.mapped("invoice_date")
        self.assertGreater((TODAY - min(dates)).days, 365, "history over a year")
        self.assertLessEqual(max(dates), TODAY)
        states = set(self.invoices.mapped("payment_state"))
        self.assertTrue({"paid", "partial", "not_paid"} <= states, states)
        open_invoices = self.invoices.filtered(
            lambda invoice: invoice.payment_state in ("not_paid", "partial")
        )
        days_overdue = [
            (TODAY - invoice.invoice_date_due).days for invoice in open_invoices
        ]
        self.assertTrue(any(days <= 0 for days in days_overdue), "not yet due")
        self.assertTrue(any(days > 0 for days in days_overdue), "overdue")
        self.assertTrue(any(days > 120 for days in days_overdue), "over 120 days")
        terms = self.invoices.mapped(
            lambda invoice: (invoice.invoice_date_due - invoice.invoice_date).days
        )
        self.assertTrue(set(terms) <= {15, 30, 60}, set(terms))

    def test_residuals_match_reconciliations(self):
        for invoice in self.invoices:
            receivable = invoice.line_ids.filtered(
                lambda line: line.account_type == "asset_receivable"
            )
            matched = sum(receivable.matched_credit_ids.mapped("debit_amount_currency"))
            currency = invoice.currency_id
            self.assertTrue(
                currency.is_zero(
                    invoice.amount_total - matched - invoice.amount_residual
                ),
                invoice.name,
            )
            if invoice.payment_state == "paid":
                self.assertTrue(currency.is_zero(invoice.amount_residual))
                self.assertTrue(self._receivable(invoice).reconciled)
            elif invoice.payment_state == "not_paid":
                self.assertEqual(invoice.amount_residual, invoice.amount_total)
            elif invoice.payment_state == "partial":
                self.assertGreater(invoice.amount_residual, 0)
                self.assertLess(invoice.amount_residual, invoice.amount_total)

    def _receivable(self, moves):
        return moves.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )

    def test_payments_posted_and_reconciled(self):
        self.assertTrue(self.payments)
        self.assertEqual(set(self.payments.mapped("state")), {"posted"})
        on_account = self.payments.filtered(
            lambda payment: payment.ref == "Payment on account"
        )
        for_invoices = self.payments - on_account
        self.assertTrue(on_account, "some payments are not matched to any invoice")
        self.assertTrue(for_invoices)
        several = 0
        for payment in for_invoices:
            counterpart = self._receivable(payment)
            invoices = (
                counterpart.matched_debit_ids.debit_move_id.move_id & self.invoices
            )
            self.assertTrue(invoices, payment.ref)
            self.assertEqual(set(payment.ref.split(", ")), set(invoices.mapped("name")))
            several += len(invoices) > 1
            # paid in the invoices' currency; the bank side balances it
            self.assertEqual(counterpart.currency_id, invoices.currency_id)
            self.assertTrue(
                counterpart.currency_id.is_zero(counterpart.amount_residual_currency)
                or counterpart.amount_residual_currency < 0
            )
        self.assertTrue(several, "some payments settle several invoices at once")
        for payment in on_account:
            self.assertFalse(self._receivable(payment).reconciled, payment.name)

    def test_invoice_lines_match_the_engine(self):
        """The journal items the generator writes are the ones Odoo computes
        when the same invoice is entered line by line."""
        checked = set()
        for invoice in self.invoices:
            key = (invoice.currency_id, bool(invoice.line_ids.tax_ids))
            if key in checked:
                continue
            checked.add(key)
            reference = self.env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": invoice.partner_id.id,
                    "invoice_date": invoice.invoice_date,
                    "invoice_payment_term_id": invoice.invoice_payment_term_id.id,
                    "currency_id": invoice.currency_id.id,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "product_id": line.product_id.id,
                                "quantity": line.quantity,
                                "price_unit": line.price_unit,
                                "tax_ids": [Command.set(line.tax_ids.ids)],
                            }
                        )
                        for line in invoice.invoice_line_ids
                    ],
                }
            )

            def items(move):
                return sorted(
                    (
                        line.display_type,
                        line.account_id.id,
                        line.tax_line_id.id,
                        line.amount_currency,
                        line.balance,
                        line.date_maturity
                        if line.display_type == "payment_term"
                        else None,
                    )
                    for line in move.line_ids
                )

            self.assertEqual(items(invoice), items(reference), invoice.name)
            self.assertEqual(invoice.amount_tax, reference.amount_tax)
            self.assertEqual(invoice.invoice_date_due, reference.invoice_date_due)
        self.assertGreater(len(checked), 1)

    def test_credit_notes_applied_and_unapplied(self):
        self.assertEqual(set(self.credit_notes.mapped("state")), {"posted"})
        applied = self.credit_notes.filtered("reversed_entry_id")
        unapplied = self.credit_notes - applied
        self.assertTrue(applied)
        self.assertTrue(unapplied)
        for credit_note in applied:
            self.assertTrue(
                credit_note.currency_id.is_zero(credit_note.amount_residual)
            )
            self.assertLess(
                credit_note.amount_total,
                credit_note.reversed_entry_id.amount_total + 0.01,
            )
        for credit_note in unapplied:
            self.assertEqual(credit_note.amount_residual, credit_note.amount_total)

    def test_currencies_and_customers(self):
        foreign = self.invoices.filtered(
            lambda invoice: invoice.currency_id != self.company.currency_id
        )
        self.assertTrue(foreign)
        self.assertTrue(self.invoices - foreign)
        self.assertGreater(len(foreign.currency_id), 1)
        # booked at the rate of the invoice date, not one to one
        self.assertTrue(
            any(
                invoice.amount_total != abs(invoice.amount_total_signed)
                for invoice in foreign
            )
        )
        self.assertGreater(len(self.customers.country_id), 2)
        for customer in self.customers:
            number = phonenumbers.parse(customer.phone, customer.country_id.code)
            self.assertTrue(phonenumbers.is_valid_number(number), customer.phone)

    def _messages(self, kind):
        return (
            self.env["dunning.communication"]
            .sudo()
            .search(
                [("company_id", "=", self.company.id), ("kind", "=", kind)],
                order="date, id",
            )
        )

    def _settled_on(self, invoice):
        """The day the last payment or credit note of ``invoice`` was booked."""
        settlements = self._receivable(
            invoice
        ).matched_credit_ids.credit_move_id.move_id & (
            self.payments | self.credit_notes
        )
        return max(settlements.mapped("date"))

    def test_reminders_sent_while_the_invoice_was_open(self):
        reminders = self._messages("reminder")
        self.assertEqual(self.summary["reminders"], len(reminders))
        self.assertTrue(reminders)
        self.assertTrue({"whatsapp"} <= set(reminders.mapped("channel")))
        self.assertLessEqual(
            set(reminders.mapped("state")), {"sent", "delivered", "read"}
        )
        by_invoice = {}
        for reminder in reminders:
            self.assertEqual(len(reminder.move_ids), 1)
            invoice = reminder.move_ids
            self.assertEqual(reminder.partner_id, invoice.commercial_partner_id)
            self.assertEqual(reminder.sent_date, reminder.date)
            day = reminder.sent_date.date()
            self.assertLess(day.weekday(), 5, "runs on working days only")
            first_due = min(self._receivable(invoice).mapped("date_maturity"))
            self.assertGreater(day, first_due, invoice.name)
            last_day = (
                self._settled_on(invoice)
                if invoice.payment_state in ("paid", "reversed")
                else TODAY
            )
            self.assertLessEqual(day, last_day, invoice.name)
            by_invoice.setdefault(invoice, []).append((day - first_due).days)
        offsets = [
            step.offset_days
            for step in reminders.step_id.policy_id.step_ids
            if step.offset_days > 0
        ] or list(dunning_dataset.DEFAULT_REMINDER_OFFSETS)
        offsets.sort()
        for invoice, days in by_invoice.items():
            # each step's offset, then up to two days of lag and a weekend
            for offset, days_after_due in zip(offsets, days, strict=False):
                self.assertTrue(
                    offset <= days_after_due <= offset + 4, (invoice.name, days)
                )
        lags = {
            days - offset
            for days_list in by_invoice.values()
            for days, offset in zip(days_list, offsets, strict=False)
        }
        self.assertGreater(len(lags), 1, "the reminder day varies around the offset")

    def test_replies_follow_a_reminder_of_the_same_customer(self):
        replies = self._messages("reply")
        self.assertEqual(self.summary["replies"], len(replies))
        self.assertTrue(replies)
        reminders = self._messages("reminder")
        for reply in replies:
            self.assertEqual(reply.state, "replied")
            country_lang = dunning_dataset.COUNTRIES[
                reply.partner_id.country_id.code
            ].lang
            self.assertIn(
                reply.body,
                sum(dunning_dataset.REPLY_TEXTS[country_lang[:2]], ()),
                "in the customer's language",
            )
            self.assertFalse(reply.provider_message_id)
            self.assertLessEqual(reply.date.date(), TODAY)
            self.assertEqual(len(reply.move_ids), 1)
            answered = reminders.filtered(
                lambda reminder, reply=reply: (
                    reminder.move_ids == reply.move_ids
                    and reminder.partner_id == reply.partner_id
                    and reminder.read_date
                    and reminder.sent_date
                    < reply.date
                    <= reminder.sent_date + timedelta(days=2)
                )
            )
            self.assertTrue(answered, reply.body)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestDatasetUnpaid(AccountTestInvoicingCommon):
    """``--unpaid``: the worst case for a run, every invoice of the history open."""

    def test_every_invoice_stays_open(self):
        summary = generate(
            self.env, customers=4, invoices=20, seed=7, today=TODAY, unpaid=True
        )
        company = self.env.company
        Move = self.env["account.move"]
        invoices = Move.search(
            [("company_id", "=", company.id), ("move_type", "=", "out_invoice")]
        )
        self.assertEqual(len(invoices), 20)
        self.assertEqual(set(invoices.mapped("payment_state")), {"not_paid"})
        self.assertEqual(summary["payment_states"], {"not_paid": 20})
        self.assertEqual((summary["credit_notes"], summary["payments"]), (0, 0))
        self.assertFalse(
            Move.search_count(
                [
                    ("company_id", "=", company.id),
                    ("move_type", "in", ("out_refund", "entry")),
                ]
            ),
            "no credit note, payment or exchange difference",
        )
        self.assertGreater(
            (TODAY - min(invoices.mapped("invoice_date_due"))).days,
            120,
            "the oldest are long overdue",
        )


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestDatasetInstalments(AccountTestInvoicingCommon):
    """``--instalment-share``: a share of the invoices owed in instalments."""

    def test_share_of_invoices_in_instalments(self):
        generate(
            self.env,
            customers=6,
            invoices=40,
            seed=11,
            today=TODAY,
            unpaid=True,
            instalment_share=0.5,
        )
        invoices = self.env["account.move"].search(
            [
                ("company_id", "=", self.env.company.id),
                ("move_type", "=", "out_invoice"),
            ]
        )
        by_count = {}
        for invoice in invoices:
            terms = invoice.line_ids.filtered(
                lambda line: line.display_type == "payment_term"
            ).sorted("date_maturity")
            by_count.setdefault(len(terms), []).append(invoice)
            if len(terms) == 1:
                continue
            # 30 days apart from the invoice date, the last one the invoice's
            # due date, the residual split between them
            self.assertEqual(
                [(line.date_maturity - invoice.invoice_date).days for line in terms],
                [30 * number for number in range(1, len(terms) + 1)],
                invoice.name,
            )
            self.assertEqual(terms[-1].date_maturity, invoice.invoice_date_due)
            self.assertEqual(
                invoice.invoice_payment_term_id.name,
                "/".join(str(30 * n) for n in range(1, len(terms) + 1)) + " Days",
            )
            self.assertAlmostEqual(
                sum(terms.mapped("amount_residual_currency")),
                invoice.amount_residual,
                places=2,
            )
            share = round(100 / len(terms), 2) / 100
            self.assertAlmostEqual(
                terms[0].amount_currency, invoice.amount_total * share, delta=0.01
            )
        self.assertEqual(set(by_count), {1, 2, 3})
        self.assertTrue(8 <= sum(map(len, (by_count[2], by_count[3]))) <= 32)

    def test_same_invoices_without_the_option(self):
        summary = generate(
            self.env, customers=4, invoices=20, seed=7, today=TODAY, unpaid=True
        )
        self.assertEqual(summary["invoices"], 20)
        terms = self.env["account.move.line"].search_count(
            [
                ("company_id", "=", self.env.company.id),
                ("display_type", "=", "payment_term"),
            ]
        )
        self.assertEqual(terms, 20, "one due date per invoice")


class Rollback(Exception):
    pass


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestDatasetReactions(AccountTestInvoicingCommon):
    """How customers answer reminders is drawn, acted out and never stored."""

    def generate(self, **shares):
        """Generate a small dataset with these trait shares, read what the
        database holds about the customers and the messages, roll back."""
        with suppress(Rollback), self.env.cr.savepoint():
            with patch.multiple(dunning_dataset, **shares) if shares else nullcontext():
                generate(self.env, customers=8, invoices=60, seed=5, today=TODAY)
            partners = (
                self.env["res.partner"]
                .sudo()
                .search([("ref", "=like", "FDGEN%")], order="ref")
            )
            written = [
                name
                for name, field in partners._fields.items()
                # the columns and the tags, but not the figures the product
                # keeps from the ledger, which the traits do change
                if (field.column_type or name == "category_id")
                and not (field._module == "friendly_dunning" and field.readonly)
                and not field.compute
                and not field.related
                and name not in ("id", "create_date", "write_date")
            ]
            customers = [
                {
                    name: sorted(value.mapped("display_name"))
                    if isinstance(value, models.BaseModel)
                    else value
                    for name, value in ((name, partner[name]) for name in written)
                    if name not in ("commercial_partner_id", "parent_id")
                }
                for partner in partners
            ]
            tags = sorted(self.env["res.partner.category"].search([]).mapped("name"))
            messages = [
                (
                    message.partner_id.ref,
                    message.move_ids.name,
                    message.kind,
                    message.date,
                    message.channel,
                    message.state,
                    message.body,
                )
                for message in self.env["dunning.communication"]
                .sudo()
                .search([], order="date, id")
            ]
            payments = sorted(
                self.env["account.move"]
                .search([("journal_id.type", "=", "bank"), ("move_type", "=", "entry")])
                .mapped(lambda move: (move.ref, move.date))
            )
            raise Rollback
        self.env.invalidate_all()
        return customers, tags, messages, payments

    def test_same_seed_same_messages(self):
        first = self.generate()
        self.assertTrue(first[2])
        self.assertEqual(self.generate(), first)

    def test_traits_leave_nothing_readable_on_the_customers(self):
        everyone = {
            "RESPONSIVE_SHARE": 1.0,
            "REPLIER_SHARE": 1.0,
            "MONTHLY_RUN_SHARE": 1.0,
        }
        nobody = dict.fromkeys(everyone, 0.0)
        customers, tags, messages, payments = self.generate(**everyone)
        plain = self.generate(**nobody)
        self.assertEqual(customers, plain[0])
        self.assertEqual(tags, plain[1])
        # the traits did change what happened
        self.assertNotEqual(payments, plain[3])
        self.assertTrue(any(message[2] == "reply" for message in messages))
        self.assertFalse(any(message[2] == "reply" for message in plain[2]))


@tagged("post_install", "-at_install")
class TestHabits(BaseCase):
    """A customer's payment habit: what the forecast has to find in the data."""

    START = date(2025, 1, 1)

    def delays(self, habit, due, amount_usd=500.0, count=200):
        rng = random.Random(3)
        return [habit.delay(due, self.START, amount_usd, rng) for _n in range(count)]

    def mean(self, values):
        return sum(values) / len(values)

    def test_usual_delay_and_spread(self):
        habit = Habit(12, 3, 0, 1)
        delays = self.delays(habit, date(2025, 3, 10))
        self.assertAlmostEqual(self.mean(delays), 12, delta=1)
        self.assertLess(max(delays) - min(delays), 30)

    def test_drift_change_season_and_large_invoices(self):
        steady = Habit(10, 0, 0, 1)
        self.assertEqual(self.delays(steady, date(2025, 3, 10), count=1), [10])
        drifting = Habit(10, 0, 36.5, 1)  # a tenth of a day later each day
        self.assertEqual(self.delays(drifting, date(2025, 3, 12))[0], 17)
        changing = Habit(10, 0, 0, 1, change_on=date(2025, 6, 1), change_days=20)
        self.assertEqual(self.delays(changing, date(2025, 5, 31))[0], 10)
        self.assertEqual(self.delays(changing, date(2025, 6, 1))[0], 30)
        self.assertEqual(self.delays(steady, date(2025, 8, 10))[0], 20, "August")
        self.assertEqual(self.delays(steady, date(2025, 3, 10), amount_usd=8000)[0], 16)

    def test_paydays_and_working_days(self):
        self.assertEqual(next_payday(date(2025, 3, 10), 15), date(2025, 3, 15))
        self.assertEqual(next_payday(date(2025, 3, 15), 15), date(2025, 3, 15))
        self.assertEqual(next_payday(date(2025, 3, 16), 15), date(2025, 4, 15))
        self.assertEqual(next_payday(date(2025, 12, 29), 28), date(2026, 1, 28))
        self.assertEqual(next_working_day(date(2025, 3, 14)), date(2025, 3, 14))
        self.assertEqual(next_working_day(date(2025, 3, 15)), date(2025, 3, 17))
        self.assertEqual(next_working_day(date(2025, 3, 16)), date(2025, 3, 17))
