from contextlib import ExitStack
from datetime import timedelta
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import freeze_time, tagged

from .common import NOW, days
from .common_autopay import demo_card, demo_provider
from .common_plans import PlanCommon


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestAutopay(PlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = demo_provider(
            cls.env, cls.company_a, cls.company_data["default_journal_bank"]
        )
        cls.Autopay = cls.env["dunning.autopay"]
        cls.Charge = cls.env["dunning.autopay.charge"]
        cls.card = demo_card(cls.env, cls.provider, cls.paula)
        cls.declined_card = demo_card(
            cls.env, cls.provider, cls.paula, state="error", details="0002"
        )

    def _run(self):
        self.Charge._cron_dunning_autopay()
        self._settle_payments()

    def _start(self, card, partner=None):
        partner = partner or self.paula
        return self.Autopay._dunning_start(partner, self.company_a, card, partner)

    def test_open_invoices_charged_on_their_due_dates_and_reconciled(self):
        coming = self._dunning_invoice(self.paula, days(5), 40.0)
        autopay = self._start(self.card)
        self.assertIn("open invoices", autopay.authorisation_text)
        self._run()
        charges = autopay.charge_ids
        self.assertEqual(len(charges), 2, "the two invoices due, not the coming one")
        self.assertEqual(set(charges.mapped("state")), {"paid"})
        for invoice in self.paula_moves:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
            payment = charges.filtered(
                lambda c, invoice=invoice: c.move_id == invoice
            ).transaction_id.payment_id
            self.assertIn(payment.state, ("in_process", "paid"))
            self.assertIn(invoice, payment.reconciled_invoice_ids)
        self.assertEqual(coming.payment_state, "not_paid")
        thanks = self._messages(self.paula, "autopay")
        self.assertEqual(len(thanks), 2)
        self.assertIn("Thank you", thanks[0].subject)
        # A second run (or a run after a crash) charges nothing again.
        transactions = self.env["payment.transaction"].search_count([])
        self._run()
        self.assertEqual(self.env["payment.transaction"].search_count([]), transactions)
        # On its date the coming invoice is charged.
        with freeze_time(NOW + timedelta(days=5)):
            self._run()
        self.assertIn(coming.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(autopay.charge_ids), 3)

    def test_plan_instalments_charged_and_the_plan_completes(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(0))
        self.assertEqual(plan.state, "active")
        autopay = self._start(self.card)
        self.assertEqual(autopay.plan_id, plan)
        self.assertIn(plan.name, autopay.authorisation_text)
        self._run()
        first, second = plan.installment_ids.sorted("date_due")
        self.assertEqual(first.state, "paid")
        self.assertEqual(second.state, "pending")
        self.assertEqual(autopay.charge_ids.installment_id, first)
        # No "due today, pay here" reminder for an instalment charged itself.
        self.env["dunning.payment.plan.installment"]._dunning_send_reminders()
        self.assertFalse(self._messages(self.paula, "installment"))
        with freeze_time(NOW.replace(month=7, day=30)):
            self._run()
        self.assertEqual(second.state, "paid")
        self.assertEqual(plan.state, "completed")
        for invoice in self.paula_moves:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        # The plan ended: the next run ends the authorisation too.
        self._run()
        self.assertEqual(autopay.state, "stopped")

    def test_declined_card_is_retried_then_the_normal_policy_resumes(self):
        autopay = self._start(self.declined_card)
        self._run()
        charge = autopay.charge_ids.filtered(lambda c: c.move_id == self.paula_old)
        self.assertEqual(charge.state, "retry")
        self.assertEqual(charge.attempt, 1)
        self.assertEqual(charge.next_try, NOW + timedelta(days=1))
        self.assertTrue(charge.failure_reason)
        self.assertEqual(self.paula_old.dunning_pause_reason, "autopay")
        told = self._messages(self.paula, "autopay")
        self.assertTrue(told)
        self.assertIn("declined", told[0].subject)
        self.assertIn("/collections/", told[0].body)
        # Not before its time...
        with freeze_time(NOW + timedelta(hours=12)):
            self._run()
        self.assertEqual(charge.attempt, 1)
        # ...then after 1, 3 and 7 more days.
        moment = NOW
        for attempt, wait in ((2, 1), (3, 3), (4, 7)):
            moment += timedelta(days=wait)
            with freeze_time(moment):
                self._run()
            self.assertEqual(charge.attempt, attempt)
        self.assertEqual(charge.state, "failed")
        self.assertEqual(len(charge.transaction_ids), 4)
        self.assertEqual(set(charge.transaction_ids.mapped("state")), {"error"})
        self.assertEqual(
            len(set(charge.transaction_ids.mapped("reference"))),
            4,
            "one reference a try",
        )
        self.assertFalse(self.paula_old.dunning_pause_reason, "reminders resume")
        self.assertEqual(self.paula_old.payment_state, "not_paid")
        # Never charged again.
        with freeze_time(moment + timedelta(days=30)):
            self._run()
        self.assertEqual(charge.attempt, 4)

    def test_new_card_after_a_decline_is_charged_at_the_next_run(self):
        autopay = self._start(self.declined_card)
        self._run()
        self.assertEqual(set(autopay.charge_ids.mapped("state")), {"retry"})
        again = self._start(self.card)
        self.assertEqual(again, autopay, "one authorisation, its card replaced")
        self.assertEqual(autopay.token_id, self.card)
        with freeze_time(NOW + timedelta(minutes=5)):
            self._run()
        self.assertEqual(set(autopay.charge_ids.mapped("state")), {"paid"})
        for invoice in self.paula_moves:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_outside_the_sending_window_nothing_is_charged(self):
        autopay = self._start(self.card)
        with freeze_time(NOW.replace(hour=23)):
            self._run()
        self.assertEqual(set(autopay.charge_ids.mapped("state")), {"pending"})
        self.assertFalse(autopay.charge_ids.transaction_id)
        with freeze_time(NOW + timedelta(days=1)):
            self._run()
        self.assertEqual(set(autopay.charge_ids.mapped("state")), {"paid"})

    def test_stopped_autopay_charges_nothing(self):
        autopay = self._start(self.declined_card)
        self._run()
        autopay._dunning_stop(self.paula, "test")
        autopay._dunning_stop(self.paula, "test")  # twice: nothing more happens
        self.assertEqual(autopay.state, "stopped")
        self.assertEqual(set(autopay.charge_ids.mapped("state")), {"cancelled"})
        self.assertFalse(self.paula_old.dunning_pause_reason)
        with freeze_time(NOW + timedelta(days=2)):
            self._run()
        self.assertEqual(len(autopay.charge_ids.transaction_ids), 2)
        # A new authorisation starts afresh.
        self.assertNotEqual(self._start(self.card), autopay)

    def test_disputed_or_reported_paid_invoices_are_not_charged(self):
        self.paula_old.action_dunning_pause("dispute")
        autopay = self._start(self.card)
        self._run()
        self.assertEqual(autopay.charge_ids.move_id, self.paula_new)
        self.assertEqual(self.paula_old.payment_state, "not_paid")
        # Reported paid after its charge was created: not charged either.
        coming = self._dunning_invoice(self.paula, days(1), 70.0)
        with freeze_time(NOW + timedelta(days=1, hours=-9)):
            self._run()
            coming.action_dunning_pause("payment_reported")
        with freeze_time(NOW + timedelta(days=1)):
            self._run()
        charge = autopay.charge_ids.filtered(lambda c: c.move_id == coming)
        self.assertFalse(charge.transaction_ids)
        self.assertEqual(coming.payment_state, "not_paid")

    def test_a_run_interrupted_after_recording_its_tries_sends_them_once(self):
        autopay = self._start(self.card)
        # As the job (superuser): the charges recorded, then a stop after
        # the commit of the tries, before any request.
        self.Charge.sudo()._dunning_create_due()
        charges = autopay.charge_ids
        charges.sudo()._dunning_create_transactions()
        transactions = charges.transaction_ids
        self.assertEqual(set(transactions.mapped("state")), {"draft"})
        # A run meanwhile leaves them to the run that may still send them...
        self._run()
        self.assertEqual(set(transactions.mapped("state")), {"draft"})
        # ...and once older than a run, sends the same transactions.
        with freeze_time(NOW + timedelta(hours=2)):
            self.env.cr.execute(
                "UPDATE payment_transaction SET create_date = %s WHERE id IN %s",
                (NOW, tuple(transactions.ids)),
            )
            transactions.invalidate_recordset(["create_date"])
            self._run()
        self.assertEqual(charges.transaction_ids, transactions)
        self.assertEqual(set(transactions.mapped("state")), {"done"})
        self.assertEqual(set(charges.mapped("state")), {"paid"})
        self.assertEqual(set(charges.mapped("attempt")), {1})
        for invoice in self.paula_moves:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_only_the_customers_own_card(self):
        oscar_card = demo_card(self.env, self.provider, self.oscar)
        with self.assertRaises(UserError):
            self._start(oscar_card)
        self.assertFalse(self.Autopay.search([("partner_id", "=", self.paula.id)]))

    def test_retry_days_setting(self):
        self.assertEqual(self.company_a._dunning_autopay_retry_days(), [1, 3, 7])
        self.company_a.dunning_autopay_retry_days = "2, 5"
        self.assertEqual(self.company_a._dunning_autopay_retry_days(), [2, 5])
        for wrong in ("0", "1,x", "90"):
            with self.assertRaises(UserError):
                self.company_a.dunning_autopay_retry_days = wrong


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestAutopayBatch(PlanCommon):
    """Many customers charged in one run: one transaction each, and the job's
    own queries the same for three charges or nine."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = demo_provider(
            cls.env, cls.company_a, cls.company_data["default_journal_bank"]
        )

    def _job(self):
        """The charges as the scheduled job sees them: as the superuser."""
        return self.env["dunning.autopay.charge"].with_user(
            self.env.ref("base.user_root")
        )

    def _customers(self, count, prefix):
        autopays = self.env["dunning.autopay"]
        for index in range(count):
            customer = self._dunning_customer(f"{prefix} {index}")
            self._dunning_invoice(customer, days(-1), 10.0 + index)
            card = demo_card(self.env, self.provider, customer)
            autopays |= self.env["dunning.autopay"]._dunning_start(
                customer, self.company_a, card, customer
            )
        return autopays

    def _job_queries(self, methods):
        """``(total, inside)``: the queries of a run of the job, and how many
        of them ran inside ``methods`` (``[(class, method name), ...]``)."""
        cr = self.env.cr
        inside = 0

        def counted(original):
            def wrapper(*args, **kwargs):
                nonlocal inside
                before = cr.sql_log_count
                try:
                    return original(*args, **kwargs)
                finally:
                    inside += cr.sql_log_count - before

            return wrapper

        self.env.flush_all()
        before = cr.sql_log_count
        with ExitStack() as patches:
            for cls, name in methods:
                patches.enter_context(
                    patch.object(cls, name, counted(getattr(cls, name)))
                )
            self._job()._cron_dunning_autopay()
            self.env.flush_all()
        return cr.sql_log_count - before, inside

    def _step_queries(self, step):
        """The queries of the job's ``step`` (a method of the charges)."""
        Charge = type(self.env["dunning.autopay.charge"])
        _total, inside = self._job_queries([(Charge, step)])
        return inside

    def _own_queries(self):
        """The job's queries outside Odoo's payment steps (creating a
        transaction, the provider's request, posting and reconciling the
        payments, the post-processing), which cost what they cost per
        payment."""
        Tx = type(self.env["payment.transaction"])
        Charge = type(self.env["dunning.autopay.charge"])
        total, inside = self._job_queries(
            [
                (Tx, "create"),
                (Tx, "_send_payment_request"),
                (Tx, "_post_process"),
                (Charge, "_dunning_create_payments"),
            ]
        )
        return total - inside

    def test_many_customers_in_one_run(self):
        few = self._customers(3, "Few")
        few_queries = self._own_queries()
        many = self._customers(9, "Many")
        many_queries = self._own_queries()
        for autopays in (few, many):
            self.assertEqual(set(autopays.charge_ids.mapped("state")), {"paid"})
            self.assertEqual(len(autopays.charge_ids.transaction_id), len(autopays))
            for move in autopays.charge_ids.move_id:
                self.assertIn(move.payment_state, ("paid", "in_payment"))
                self.assertEqual(len(move.line_ids.matched_credit_ids), 1)
        self.assertLessEqual(many_queries, few_queries)

    def test_payments_of_a_batch_are_linked_to_their_entries_at_once(self):
        """Posting the batch's payments links each to its journal entry in one
        write: a payment more costs Odoo's numbering of its entry, not a
        round of the ORM's recomputations (about 17 queries) of its own."""
        few = self._customers(3, "Few")
        few_queries = self._step_queries("_dunning_create_payments")
        many = self._customers(9, "Many")
        many_queries = self._step_queries("_dunning_create_payments")
        for autopays in (few, many):
            payments = autopays.charge_ids.transaction_id.payment_id
            self.assertEqual(len(payments), len(autopays))
            self.assertLessEqual(set(payments.mapped("state")), {"in_process", "paid"})
            self.assertEqual(len(payments.move_id), len(payments))
            self.assertEqual(len(set(payments.move_id.mapped("name"))), len(payments))
            for payment in payments:
                self.assertEqual(payment.move_id.origin_payment_id, payment)
                self.assertEqual(payment.move_id.state, "posted")
                self.assertNotEqual(payment.move_id.name, "/")
                self.assertEqual(
                    payment.reconciled_invoice_ids,
                    payment.payment_transaction_id.invoice_ids,
                )
        per_payment = (many_queries - few_queries) / 6
        self.assertLess(per_payment, 12)

    def test_payment_notes_on_each_invoice(self):
        """Payment's two notes on the invoice (the transaction confirmed, the
        payment posted) are kept, logged for the whole batch at once."""
        autopays = self._customers(4, "Noted")
        self._job()._cron_dunning_autopay()
        for charge in autopays.charge_ids:
            tx = charge.transaction_id
            notes = charge.move_id.message_ids.filtered(
                lambda m, tx=tx: tx.reference in (m.body or "")
            )
            self.assertEqual(len(notes), 2, notes.mapped("body"))
            posted = notes.filtered(lambda m: "has been posted" in m.body)
            self.assertRegex(
                posted.body, rf"data-oe-id=.{tx.payment_id.id}.", "a link, not text"
            )
            self.assertNotIn("&lt;a", posted.body)
            # Payment's author for a job run as the superuser.
            self.assertEqual(posted.author_id, self.env.ref("base.partner_root"))
            self.assertEqual(posted.subtype_id, self.env.ref("mail.mt_note"))
