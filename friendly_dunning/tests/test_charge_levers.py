from odoo.exceptions import UserError
from odoo.tests import freeze_time, tagged
from odoo.tools import format_date, formatLang

from .common import NOW, TODAY, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestChargeLevers(DunningCommon):
    """Late-payment charges as a lever: a reminder offers to waive them for a
    payment in full within a few days, a payment by then waives them without
    anyone's action, and a chosen step invoices them on an interest invoice
    of their own, never on the late invoice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.company.write(
            {
                "dunning_interest_rule": "fixed",
                "dunning_interest_rate": 10.0,
                "dunning_recovery_fee": 40.0,
                "dunning_recovery_fee_currency_id": cls.company.currency_id.id,
                "dunning_interest_use": "invoiced",
                "dunning_waiver_days": 7,
            }
        )
        cls.policy = cls.company.dunning_policy_id
        cls.step_at = {step.offset_days: step for step in cls.policy.step_ids}
        # The shipped policy offers the waiver a month late; here a week late,
        # and a month late invoices the charges (a step doing both would
        # invoice them only once its offer lapsed).
        cls.step_at[7].offer_charge_waiver = True
        cls.step_at[30].write(
            {"offer_charge_waiver": False, "invoice_late_charges": True}
        )
        cls.acme = cls._dunning_customer("Acme", lang="en_US")
        cls.Move = cls.env["account.move"]

    def _run(self):
        return self.env["dunning.run"]._run_company(self.company, now=NOW)

    def _reminded(self, invoice, step, on, next_date):
        self.env["dunning.invoice.progress"].sudo().create(
            {
                "move_id": invoice.id,
                "line_id": invoice.line_ids.filtered(
                    lambda line: line.display_type == "payment_term"
                ).id,
                "company_id": invoice.company_id.id,
                "step_id": step.id,
                "last_date": on,
                "next_date": next_date,
            }
        )

    def _message_to(self, partner):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id), ("kind", "=", "reminder")]
        )

    def _amount(self, value):
        return formatLang(self.env, value, currency_obj=self.company.currency_id)

    def test_the_reminder_offers_the_waiver_and_the_invoice_keeps_its_date(self):
        invoice = self._dunning_invoice(self.acme, days(-8), 1000.0)
        self._run()
        message = self._message_to(self.acme)
        self.assertEqual(message.step_id, self.step_at[7])
        # 1 to 8 days late on 1,000 at 10 % a year, and the fee.
        charges = round(1000 * 10 / 100 * 8 / 365, 2) + 40.0
        self.assertEqual(charges, 42.19)
        self.assertIn(
            f"Pay in full by {format_date(self.env, days(7))} and we waive the "
            f"late-payment interest and fees ({self._amount(charges)}).",
            message.body,
        )
        self.assertEqual(invoice.dunning_waiver_until, days(7))

    def test_a_step_without_the_offer_says_nothing_of_a_waiver(self):
        self.step_at[7].offer_charge_waiver = False
        self.step_at[7].body = "Hi {name}. {late_charges}"
        invoice = self._dunning_invoice(self.acme, days(-8), 1000.0)
        self._run()
        body = self._message_to(self.acme).body
        self.assertIn(
            f"paying late has added {self._amount(42.19)} in interest and fees",
            body,
        )
        self.assertNotIn("we waive", body)
        self.assertFalse(invoice.dunning_waiver_until)

    def test_a_payment_by_the_date_waives_the_charges_and_credits_their_invoice(self):
        invoice = self._dunning_invoice(self.acme, days(-40), 1000.0)
        charge_invoice = invoice._dunning_invoice_late_charges(days(-5))
        self.assertEqual(charge_invoice.payment_state, "not_paid")
        invoice._dunning_offer_waiver(days(3))
        self._dunning_pay(invoice, TODAY)
        # Honoured as the payment's reconciliation commits.
        self.env.cr.precommit.run()
        self.assertTrue(invoice.dunning_charges_waived)
        self.assertEqual(charge_invoice.payment_state, "reversed")
        self.assertFalse(charge_invoice.amount_residual)
        self.assertEqual(
            (invoice.dunning_late_interest, invoice.dunning_late_fee), (0.0, 0.0)
        )
        self.assertFalse(invoice._dunning_invoice_late_charges(days(10)))

    def test_a_payment_after_the_date_keeps_the_charges(self):
        invoice = self._dunning_invoice(self.acme, days(-40), 1000.0)
        invoice._dunning_offer_waiver(days(-2))
        self._dunning_pay(invoice, TODAY)
        self.env.cr.precommit.run()
        self.assertFalse(self.Move._dunning_honour_waivers(self.company, TODAY))
        self.assertFalse(invoice.dunning_charges_waived)
        self.assertTrue(invoice.dunning_late_interest)

    def test_the_hourly_job_honours_a_waiver_the_reconciliation_missed(self):
        invoice = self._dunning_invoice(self.acme, days(-40), 1000.0)
        self._dunning_pay(invoice, TODAY)
        self.env.cr.precommit.run()
        # An offer recorded after the payment was reconciled (a reminder
        # queued in the same minute).
        invoice._dunning_offer_waiver(days(3))
        self.assertFalse(invoice.dunning_charges_waived)
        self.assertEqual(
            self.Move._dunning_honour_waivers(self.company, days(1)), invoice
        )
        self.assertTrue(invoice.dunning_charges_waived)

    def test_the_chosen_step_invoices_the_charges_apart_from_the_invoice(self):
        invoice = self._dunning_invoice(self.acme, days(-35), 1000.0)
        self._reminded(invoice, self.step_at[7], days(-28), days(-5))
        self._run()
        self.assertEqual(self._message_to(self.acme).step_id, self.step_at[30])
        charge_invoice = invoice.dunning_charge_invoice_ids
        self.assertEqual(len(charge_invoice), 1)
        self.assertEqual(charge_invoice.state, "posted")
        self.assertEqual(charge_invoice.move_type, "out_invoice")
        self.assertEqual(charge_invoice.partner_id, self.acme)
        self.assertEqual(charge_invoice.invoice_date_due, TODAY)
        interest = round(1000 * 10 / 100 * 35 / 365, 2)
        self.assertEqual(interest, 9.59)
        self.assertEqual(
            sorted(
                charge_invoice.invoice_line_ids.mapped(
                    lambda line: (line.dunning_charge_kind, line.price_subtotal)
                )
            ),
            [("fee", 40.0), ("interest", interest)],
        )
        self.assertEqual(charge_invoice.amount_total, interest + 40.0, "no tax")
        self.assertEqual(invoice.amount_total, 1000.0, "the late invoice is unchanged")
        self.assertEqual(invoice.amount_residual, 1000.0)
        self.assertFalse(invoice.dunning_charges_to_invoice)
        # Ten days on, only the interest since then is invoiced; the fee once.
        later = invoice._dunning_invoice_late_charges(days(10))
        self.assertEqual(
            later.invoice_line_ids.mapped(
                lambda line: (line.dunning_charge_kind, line.price_subtotal)
            ),
            [("interest", round(round(1000 * 0.1 * 45 / 365, 2) - interest, 2))],
        )
        # An interest invoice bears no interest of its own.
        self.assertEqual(
            charge_invoice._dunning_late_charges(days(90))[charge_invoice]["interest"],
            0.0,
        )

    def test_charges_only_shown_are_never_invoiced(self):
        self.company.dunning_interest_use = "shown"
        invoice = self._dunning_invoice(self.acme, days(-35), 1000.0)
        self._reminded(invoice, self.step_at[7], days(-28), days(-5))
        self._run()
        self.assertEqual(self._message_to(self.acme).step_id, self.step_at[30])
        self.assertFalse(invoice.dunning_charge_invoice_ids)
        self.assertFalse(invoice.dunning_charges_to_invoice)

    def test_a_step_that_offers_and_invoices_invoices_once_the_offer_lapsed(self):
        self.step_at[30].offer_charge_waiver = True
        invoice = self._dunning_invoice(self.acme, days(-35), 1000.0)
        self._reminded(invoice, self.step_at[7], days(-28), days(-5))
        self._run()
        self.assertEqual(invoice.dunning_waiver_until, days(7))
        self.assertTrue(invoice.dunning_charges_to_invoice)
        self.assertFalse(invoice.dunning_charge_invoice_ids)
        self.Move._dunning_invoice_pending_charges(self.company, days(8))
        self.assertEqual(len(invoice.dunning_charge_invoice_ids), 1)

    def test_invoicing_waits_while_a_waiver_offer_runs(self):
        invoice = self._dunning_invoice(self.acme, days(-35), 1000.0)
        invoice.write({"dunning_charges_to_invoice": True})
        invoice._dunning_offer_waiver(days(3))
        self.assertFalse(
            self.Move._dunning_invoice_pending_charges(self.company, TODAY)
        )
        self.assertTrue(invoice.dunning_charges_to_invoice)
        with self.assertRaisesRegex(UserError, "invoice them after that date"):
            invoice.action_dunning_invoice_late_charges()
        created = self.Move._dunning_invoice_pending_charges(self.company, days(4))
        self.assertEqual(created.dunning_charges_source_id, invoice)
        self.assertFalse(invoice.dunning_charges_to_invoice)

    def test_the_accountant_invoices_then_waives_by_hand(self):
        invoice = self._dunning_invoice(self.acme, days(-35), 1000.0)
        action = invoice.action_dunning_invoice_late_charges()
        charge_invoice = self.Move.browse(action["res_id"])
        self.assertEqual(charge_invoice.dunning_charges_source_id, invoice)
        with self.assertRaisesRegex(UserError, "no late charges"):
            invoice.action_dunning_invoice_late_charges()
        invoice.action_dunning_waive_late_charges()
        self.assertEqual(charge_invoice.payment_state, "reversed")
        self.assertTrue(invoice.dunning_charges_waived)
