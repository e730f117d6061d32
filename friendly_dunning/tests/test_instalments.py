from datetime import timedelta

from odoo.fields import Command
from odoo.tests import freeze_time, tagged

from .common import NOW, TODAY, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestInstalments(DunningCommon):
    """Each instalment of an invoice (its receivable line: due date and
    residual) is chased on its own: selected when its step is due, moved
    through the policy on its own, named with its amount in the message."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.policy = cls.company.dunning_policy_id
        cls.step_at = {step.offset_days: step for step in cls.policy.step_ids}
        cls.half_now_half_60 = cls.env["account.payment.term"].create(
            {
                "name": "50% now, 50% in 60 days",
                "line_ids": [
                    Command.create(
                        {"value": "percent", "value_amount": 50.0, "nb_days": 0}
                    ),
                    Command.create(
                        {"value": "percent", "value_amount": 50.0, "nb_days": 60}
                    ),
                ],
            }
        )
        cls.customer = cls._dunning_customer("Parcela", tz="UTC")
        # The first instalment is 40 days overdue, the second due in 20 days.
        cls.invoice = cls._create_invoice_one_line(
            price_unit=1000.0,
            tax_ids=[],
            partner_id=cls.customer,
            invoice_date=days(-40),
            invoice_payment_term_id=cls.half_now_half_60.id,
        )
        cls.invoice.action_post()
        cls.first, cls.second = cls.invoice.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).sorted("date_maturity")

    def _run(self, day=0):
        """Run the company's planning ``day`` days from today; the messages it
        created for the customer."""
        Communication = self.env["dunning.communication"]
        before = Communication.search([("partner_id", "=", self.customer.id)])
        self.env["dunning.run"]._run_company(
            self.company, now=NOW + timedelta(days=day)
        )
        return Communication.search([("partner_id", "=", self.customer.id)]) - before

    def _reminded(self, line, step, on, next_date):
        self.env["dunning.invoice.progress"].sudo().create(
            {
                "move_id": line.move_id.id,
                "line_id": line.id,
                "company_id": self.company.id,
                "step_id": step.id,
                "last_date": on,
                "next_date": next_date,
            }
        )

    def test_the_invoice_has_two_instalments(self):
        self.assertEqual(
            [
                (line.date_maturity, line.amount_residual)
                for line in self.first | self.second
            ],
            [(days(-40), 500.0), (days(20), 500.0)],
        )
        self.assertEqual(self.invoice.invoice_date_due, days(20), "the last one")

    def test_the_overdue_instalment_is_chased_for_its_amount(self):
        single = self._dunning_invoice(self.customer, days(-9), 80.0)
        message = self._run()
        self.assertEqual(len(message), 1)
        # Never reminded: the first overdue step (see test_escalation.py).
        self.assertEqual(message.step_id, self.step_at[7])
        self.assertEqual(message.move_ids, self.invoice | single)
        self.assertIn(
            f"- {self.invoice.name} (instalment 1 of 2), due "
            f"{days(-40).strftime('%m/%d/%Y')}: $\xa0500.00",
            message.body,
        )
        self.assertIn(
            f"- {single.name}, due {days(-9).strftime('%m/%d/%Y')}: $\xa080.00",
            message.body,
        )
        self.assertIn("$\xa0580.00", message.subject)
        self.assertNotIn("1,000.00", message.body)
        self.assertNotIn("instalment 2", message.body, "not due yet")
        self.assertAlmostEqual(message.amount_due, 580.0)
        progress = self.env["dunning.invoice.progress"].search(
            [("move_id", "=", self.invoice.id)]
        )
        self.assertEqual(progress.line_id, self.first.id)
        self.assertEqual(self.invoice.dunning_step_id, self.step_at[7])
        self.assertEqual(self.invoice.dunning_last_date, TODAY)
        # Its next step waits for the policy's gap.
        self.assertEqual(progress.next_date, days(7))
        self.assertEqual(self.invoice.dunning_next_date, days(7))

    def test_whatsapp_template_values_name_the_instalment_due(self):
        """A WhatsApp template carries the amount due now and the oldest
        instalment's date, not the invoice's total and last date."""
        single = self._dunning_invoice(self.customer, days(-9), 80.0)
        message = self.env["dunning.communication"].create(
            {
                "partner_id": self.customer.id,
                "company_id": self.company.id,
                "channel": "whatsapp",
                "move_ids": [Command.set((self.invoice | single).ids)],
            }
        )
        values = message._whatsapp_values(None)
        self.assertEqual(values["amount"]["currency"]["amount_1000"], 580000)
        self.assertEqual(values["days_overdue"], "40")
        self.assertEqual(values["invoices"], f"{self.invoice.name}, {single.name}")
        self._dunning_pay(self.invoice, TODAY, amount=500.0)
        values = message._whatsapp_values(None)
        # Nothing of the invoice is due: its next instalment is named.
        self.assertEqual(values["amount"]["currency"]["amount_1000"], 580000)
        self.assertEqual(values["days_overdue"], "9")

    def test_reminded_at_the_step_for_40_days_overdue(self):
        self._reminded(self.first, self.step_at[7], days(-33), days(-10))
        message = self._run()
        self.assertEqual(message.step_id, self.step_at[30])
        self.assertIn("$\xa0500.00 is now 40 days overdue", message.subject)
        self.assertIn("(instalment 1 of 2)", message.body)

    def test_send_now_proposes_the_step_of_the_oldest_instalment(self):
        """An accountant's "Send reminder now" starts from the step the
        overdue instalment calls for (40 days), not from the invoice's last
        due date (in 20 days)."""
        wizard = self.env["dunning.send.wizard"].with_context(
            active_id=self.customer.id
        )
        self.assertEqual(
            wizard.default_get(["step_id"])["step_id"], self.step_at[30].id
        )

    def test_no_thank_you_while_an_instalment_is_overdue(self):
        """Paying a late invoice thanks the customer only once nothing else
        is overdue, instalments included."""
        late = self._dunning_invoice(self.customer, days(-9), 80.0)
        late_line = late.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        )
        self._reminded(late_line, self.step_at[7], days(-2), days(5))
        self._dunning_pay(late, TODAY)
        self.assertFalse(
            self._run().filtered(lambda m: m.kind == "thank_you"),
            "the first instalment of the other invoice is 40 days overdue",
        )
        self._dunning_pay(self.invoice, TODAY, amount=500.0)
        self.assertEqual(
            self._run(day=1).filtered(lambda m: m.kind == "thank_you").move_ids,
            late,
        )

    def test_an_instalment_not_due_is_not_chased(self):
        """Only the first instalment is overdue: once it is paid, nothing is
        due until the second one's first step."""
        self._dunning_pay(self.invoice, days(-1), amount=500.0)
        self.assertTrue(self.first.reconciled)
        self.assertEqual(self.invoice.payment_state, "partial")
        self.assertFalse(self._run())
        self.assertEqual(self.invoice.dunning_next_date, days(20 - 3))

    def test_the_next_instalment_starts_its_own_escalation(self):
        self._reminded(self.first, self.step_at[30], days(-5), days(25))
        self._dunning_pay(self.invoice, days(-1), amount=500.0)
        self.assertTrue(self.first.reconciled)
        # 28 days later the second instalment is 8 days late.
        message = self._run(28)
        self.assertEqual(message.step_id, self.step_at[7])
        self.assertIn("(instalment 2 of 2)", message.body)
        self.assertIn("$\xa0500.00", message.body)
        progress = self.env["dunning.invoice.progress"].search(
            [("line_id", "=", self.second.id)]
        )
        self.assertEqual(progress.step_id, self.step_at[7])
        self.assertEqual(progress.last_date, days(28))
        # The invoice shows where its instalment still owed stands.
        self.assertEqual(self.invoice.dunning_step_id, self.step_at[7])

    def test_lines_excluded_from_follow_ups_one_by_one(self):
        # Odoo's form marks every receivable line of the invoice at once; a
        # line marked alone (by an import, say) is left out alone.
        self.env.cr.execute(
            "UPDATE account_move_line SET no_followup = TRUE WHERE id = %s",
            [self.first.id],
        )
        self.env.invalidate_all()
        self.assertFalse(self._run(), "the other instalment is not due yet")
        self.assertEqual(self.invoice.dunning_next_date, days(20 - 3))
        message = self._run(17)
        self.assertEqual(message.step_id, self.step_at[-3])
        self.assertIn("(instalment 2 of 2)", message.body)
        self.assertNotIn("instalment 1", message.body)

    def test_the_worklist_next_date_follows_the_instalments(self):
        Partner = self.env["res.partner"]
        Partner._dunning_refresh_next_dates(self.company, self.customer.ids)
        # The first step of the first instalment, not of the invoice's last
        # due date.
        self.assertEqual(
            self.customer.with_company(self.company).dunning_next_date, days(-43)
        )
        self.assertEqual(self.invoice.dunning_next_date, days(-43))
        self._run()
        Partner._dunning_refresh_next_dates(self.company, self.customer.ids)
        # The second instalment's preventive reminder comes after the gap
        # that holds back the first one's next step.
        self.assertEqual(
            self.customer.with_company(self.company).dunning_next_date, days(7)
        )
