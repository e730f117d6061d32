from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from unittest.mock import patch

from psycopg2.errors import TransactionRollbackError

from odoo import SUPERUSER_ID, api
from odoo.exceptions import ValidationError
from odoo.fields import Command
from odoo.tests import TransactionCase, freeze_time, tagged
from odoo.tools import format_date, formatLang, mute_logger

from odoo.addons.friendly_dunning.models import dunning_run
from odoo.addons.friendly_dunning.models.dunning_planner import DunningPlanner

from .common import NOW, TODAY, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestDunningRun(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.policy = cls.company.dunning_policy_id
        cls.step_at = {step.offset_days: step for step in cls.policy.step_ids}
        cls.spain = cls.env.ref("base.es")
        cls.maria = cls._dunning_customer(
            "Maria", phone="612 34 56 78", country_id=cls.spain.id, tz="Europe/Madrid"
        )
        cls.maria_8 = cls._dunning_invoice(cls.maria, days(-8), 120.0)
        cls.maria_35 = cls._dunning_invoice(cls.maria, days(-35), 300.0)
        cls.maria_future = cls._dunning_invoice(cls.maria, days(10), 50.0)
        # Maria was reminded a week after its due date: the run moves her on
        # to the next step (a customer never reminded starts at the first
        # overdue step, see test_escalation.py).
        cls._reminded(cls.maria_35, cls.step_at[7], days(-28), days(-5))
        cls.env["dunning.consent"]._record(cls.maria, "whatsapp", "opted_in", "portal")

    @classmethod
    def _reminded(cls, invoice, step, on, next_date):
        """Record that ``invoice`` reached ``step`` on ``on``, the next step
        falling due on ``next_date``."""
        [line] = invoice.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        )
        cls.env["dunning.invoice.progress"].sudo().create(
            {
                "move_id": invoice.id,
                "line_id": line.id,
                "company_id": invoice.company_id.id,
                "step_id": step.id,
                "last_date": on,
                "next_date": next_date,
            }
        )

    def _run(self):
        run = self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.env["dunning.communication"]._dunning_send_queued()
        return run

    def test_planning_rewrites_no_invoice_row(self):
        """The steps go to dunning.invoice.progress, one narrow row per
        invoice: planning leaves the invoices' own (wide, heavily indexed)
        rows alone once they have their access token, and the invoice still
        shows its step, last and next reminder."""
        invoices = self.maria_8 | self.maria_35
        for invoice in invoices:
            invoice._portal_ensure_token()
        self.env.flush_all()

        def row_versions():
            self.env.cr.execute(
                "SELECT id, xmin::text FROM account_move WHERE id = ANY(%s)",
                [invoices.ids],
            )
            return dict(self.env.cr.fetchall())

        before = row_versions()
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.env.flush_all()
        self.assertEqual(row_versions(), before)
        progress = self.env["dunning.invoice.progress"].search(
            [("move_id", "in", invoices.ids)]
        )
        self.assertEqual(progress.move_id, invoices)
        self.assertEqual(self.maria_35.dunning_step_id, self.step_at[30])
        self.assertEqual(self.maria_35.dunning_last_date, TODAY)
        self.assertEqual(self.maria_35.dunning_next_date, days(-35 + 60))
        self.assertEqual(
            self.env["account.move"].search(
                [("id", "in", invoices.ids), ("dunning_step_id.offset_days", ">", 7)]
            ),
            self.maria_35,
        )
        self.assertEqual(
            self.env["account.move"].search(
                [
                    ("id", "in", (invoices | self.maria_future).ids),
                    ("dunning_step_id", "=", False),
                ]
            ),
            self.maria_future,
        )

    def _messages(self, partner):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id)]
        )

    def test_one_message_per_customer_at_the_highest_step(self):
        run = self._run()
        message = self._messages(self.maria)
        self.assertEqual(len(message), 1)
        self.assertEqual(message.step_id, self.step_at[30])
        self.assertEqual(message.move_ids, self.maria_8 | self.maria_35)
        self.assertEqual(message.channel, "whatsapp")
        self.assertEqual(message.recipient, "+34612345678")
        self.assertEqual(message.state, "sandbox")
        self.assertIn(self.maria_8.name, message.body)
        self.assertIn(self.maria_35.name, message.body)
        self.assertIn("35 days overdue", message.body)
        # The link opens the customer's own collections page.
        self.assertIn(f"/collections/{self.maria.id}-", message.body)
        self.assertAlmostEqual(message.amount_due, 420.0)
        # Each invoice remembers the step it reached, and what comes next.
        self.assertEqual(self.maria_8.dunning_step_id, self.step_at[7])
        self.assertEqual(self.maria_35.dunning_step_id, self.step_at[30])
        self.assertEqual(self.maria_35.dunning_last_date, TODAY)
        self.assertEqual(self.maria_35.dunning_next_date, days(-35 + 60))
        self.assertFalse(self.maria_future.dunning_step_id)
        self.assertEqual(self.maria_8.dunning_communication_ids, message)
        self.assertEqual(run.queued_count, 1)
        # Logged in the customer's chatter.
        notes = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.maria.id)]
        )
        self.assertTrue(any("35 days overdue" in str(n.body) for n in notes))

    def test_the_worklist_shows_the_next_reminder_after_a_run(self):
        self.env["res.partner"]._dunning_refresh_segmentation(companies=self.company)
        # The 8-day one was never reminded: its first step is long due (the
        # 35-day one's next step came due later).
        self.assertEqual(self.maria.dunning_next_date, days(-8 - 3))
        self._run()
        # Both overdue invoices moved on a step: the preventive reminder of the
        # one due in 10 days comes next.
        self.assertEqual(self.maria.dunning_next_date, days(7))
        self.assertEqual(
            self.maria.dunning_next_date, self.maria_future.dunning_next_date
        )

    def test_the_hourly_job_brings_the_segmentation_up_to_date(self):
        self.env["dunning.run"]._cron_dunning()
        self.assertEqual(self.maria.dunning_max_days_overdue, 35)
        self.assertEqual(self.maria.dunning_aging_bucket, "31_60")
        self.assertEqual(len(self._messages(self.maria)), 1)

    def test_running_twice_sends_nothing_twice(self):
        self._run()
        self._run()
        self.assertEqual(len(self._messages(self.maria)), 1)
        with freeze_time(NOW + timedelta(days=1)):
            run = self.env["dunning.run"]._run_company(
                self.company, now=NOW + timedelta(days=1)
            )
        self.assertEqual(run.queued_count, 0, "no new step is due the next day")

    def test_preventive_reminder_before_the_due_date(self):
        early = self._dunning_customer(
            "Early", email="early@example.com", tz="UTC", phone=False
        )
        invoice = self._dunning_invoice(early, days(3), 80.0, invoice_date=days(-27))
        self._run()
        message = self._messages(early)
        self.assertEqual(message.step_id, self.step_at[-3])
        self.assertEqual(message.move_ids, invoice)
        self.assertEqual(message.channel, "email", "no phone: falls back to e-mail")
        self.assertIn("will be due on 07/03/2026", message.body)

    def test_paused_and_excluded_invoices_are_not_chased(self):
        self.maria_35.action_dunning_pause("dispute")
        self.maria_8.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).no_followup = True
        self._run()
        self.assertFalse(self._messages(self.maria))

    def test_a_pause_ends_on_its_date(self):
        self.maria_8.action_dunning_pause("promise", until=days(-1))
        self.maria_35.action_dunning_pause("promise", until=days(5))
        self._run()
        self.assertFalse(self.maria_8.dunning_pause_reason, "the pause expired")
        self.assertEqual(self._messages(self.maria).move_ids, self.maria_8)
        self.assertEqual(self.maria_35.dunning_next_date, days(6))

    def test_amount_overdue_leaves_out_what_is_not_due_yet(self):
        soon = self._dunning_invoice(self.maria, days(3), 70.0)
        self._run()
        message = self._messages(self.maria)
        self.assertIn(soon.name, message.body, "listed with its due date")
        self.assertIn("$\xa0420.00 is now 35 days overdue", message.subject)

    def test_partial_payment_reminds_the_residual(self):
        self._dunning_pay(self.maria_35, days(-2), amount=100.0)
        self._run()
        message = self._messages(self.maria)
        self.assertAlmostEqual(message.amount_due, 120.0 + 200.0)

    def test_quiet_hours_in_the_customer_time_zone(self):
        night_owl = self._dunning_customer(
            "Night", email="night@example.com", tz="Pacific/Auckland"
        )  # 22:00 there
        self._dunning_invoice(night_owl, days(-8))
        run = self._run()
        self.assertFalse(self._messages(night_owl))
        self.assertEqual(run.held_count, 1)

    def test_frequency_cap(self):
        self.env["dunning.communication"].create(
            {
                "company_id": self.company.id,
                "partner_id": self.maria.id,
                "kind": "manual",
                "state": "sent",
                "date": NOW - timedelta(hours=2),
            }
        )
        run = self._run()
        self.assertEqual(len(self._messages(self.maria)), 1, "only the earlier one")
        self.assertEqual(run.held_count, 1)

    def test_weekend_hold_is_the_company_choice(self):
        saturday = datetime(2026, 7, 4, 10, 0)
        self.company.dunning_hold_weekends = True
        with freeze_time(saturday):
            run = self.env["dunning.run"]._run_company(self.company, now=saturday)
        self.assertEqual(run.held_count, 1)
        self.company.dunning_hold_weekends = False
        with freeze_time(saturday):
            run = self.env["dunning.run"]._run_company(self.company, now=saturday)
        self.assertEqual(run.queued_count, 1)

    def test_unreachable_customer_gets_a_clear_reason(self):
        ghost = self._dunning_customer("Ghost", email=False, tz="UTC")
        self._dunning_invoice(ghost, days(-8))
        run = self._run()
        message = self._messages(ghost)
        self.assertEqual(message.state, "failed")
        self.assertIn("no phone number", message.error_message)
        self.assertIn("no valid address", message.error_message)
        self.assertEqual(run.unreachable_count, 1)
        # The step is done: the customer is not retried every hour.
        self._run()
        self.assertEqual(len(self._messages(ghost)), 1)

    def test_wrong_phone_or_opted_out_number_falls_back(self):
        self.maria.phone = "12345"
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "email")
        self.assertEqual(message.recipient, "maria@example.com")

    def test_whatsapp_only_with_consent(self):
        self.env["dunning.consent"]._record(
            self.maria, "whatsapp", "opted_out", "reply"
        )
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "sms", "the next channel of the step")
        self.assertEqual(message.recipient, "+34612345678")

    def test_customer_without_consent_gets_sms_then_email_after_opt_out(self):
        self.maria.dunning_consent_ids.unlink()
        self._run()
        first = self._messages(self.maria)
        self.assertEqual(first.channel, "sms", "no WhatsApp without consent")
        self.assertEqual(first.recipient, "+34612345678")
        self.env["dunning.consent"]._record(self.maria, "sms", "opted_out", "reply")
        # A week later, a newly overdue invoice is due its first reminder.
        later = NOW + timedelta(days=8)
        newly_due = self._dunning_invoice(self.maria, days(-1), 60.0)
        with freeze_time(later):
            self.env["dunning.run"]._run_company(self.company, now=later)
        second = self._messages(self.maria) - first
        self.assertIn(newly_due, second.move_ids)
        self.assertEqual(second.channel, "email")
        self.assertEqual(second.recipient, "maria@example.com")

    def test_blacklisted_number_is_never_used(self):
        self.env["phone.blacklist"].sudo().add("+34612345678")
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "email")
        self.assertNotIn("+34612345678", message.recipient)

    def test_archived_customer_is_reported(self):
        self.maria.active = False
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.state, "failed")
        self.assertIn("archived", message.error_message)

    def test_steps_marked_for_review_wait_for_approval(self):
        self.step_at[30].manual_review = True
        self._run()
        message = self._messages(self.maria)
        self.assertTrue(message.needs_review)
        self.assertEqual(message.state, "queued")
        message.with_user(self.dunning_user_a).action_approve()
        self.env["dunning.communication"]._dunning_send_queued()
        self.assertEqual(message.state, "sandbox")

    def test_email_channel_sends_a_real_email_when_the_sandbox_is_off(self):
        sandbox = self.env["dunning.channel"].search(
            [("company_id", "=", self.company.id), ("channel_type", "=", "sandbox")]
        )
        sandbox.active = False
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "email", "no WhatsApp/SMS channel yet")
        self.assertEqual(message.mail_id.email_to, "maria@example.com")
        self.assertIn(self.maria_35.name, message.mail_id.body_html)

    def test_foreign_currency_amounts_are_shown_per_currency(self):
        eur = self.setup_other_currency("EUR")
        self._dunning_invoice(self.maria, days(-9), 200.0, currency_id=eur.id)
        self._run()
        body = self._messages(self.maria).body
        self.assertIn("€", body)
        self.assertIn(" and ", body.split("\n")[0])

    def test_a_firm_step_gives_the_accountant_a_to_do(self):
        self.maria.user_id = self.dunning_user_a
        old = self._dunning_invoice(self.maria, days(-95), 80.0)
        self._reminded(old, self.step_at[60], days(-35), days(-5))
        self._run()
        message = self._messages(self.maria)
        self.assertTrue(message.step_id.create_activity)
        activity = self.maria.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.dunning_user_a)
        self.assertEqual(activity.summary, f"Follow up: {message.step_id.name}")
        self.assertEqual(activity.date_deadline, TODAY)
        self.assertEqual(
            activity.activity_type_id, self.env.ref("mail.mail_activity_data_todo")
        )
        self.assertEqual(activity.res_name, self.maria.display_name)
        self.assertEqual(self.maria.activity_state, "today")
        # The accountant follows the customer, so that the customer's answers
        # reach them, and sees the to-do in their own list.
        follower = self.maria.message_follower_ids.filtered(
            lambda f: f.partner_id == self.dunning_user_a.partner_id
        )
        self.assertEqual(
            follower.subtype_ids,
            self.env["mail.message.subtype"].default_subtypes("res.partner")[0],
        )
        self.assertEqual(
            self.env["mail.activity"].search_count(
                [
                    ("user_id", "=", self.dunning_user_a.id),
                    ("res_id", "=", self.maria.id),
                ]
            ),
            1,
        )
        # Without a salesperson, the to-do goes to whoever issued the invoice.
        bruno = self._dunning_customer("Bruno", tz="UTC")
        # A subscription the accountant chose stays as it is.
        note = self.env.ref("mail.mt_note")
        bruno.message_subscribe(self.dunning_manager_a.partner_id.ids, note.ids)
        bruno_old = self._dunning_invoice(
            bruno, days(-95), 60.0, invoice_user_id=self.dunning_manager_a.id
        )
        self._reminded(bruno_old, self.step_at[60], days(-35), days(-5))
        self._run()
        self.assertEqual(bruno.activity_ids.user_id, self.dunning_manager_a)
        self.assertEqual(
            bruno.message_follower_ids.filtered(
                lambda f: f.partner_id == self.dunning_manager_a.partner_id
            ).subtype_ids,
            note,
        )

    def test_amounts_and_dates_are_written_as_odoo_writes_them(self):
        """The run formats thousands of amounts and dates with formatters built
        once per language (and currency): they must write exactly what
        ``formatLang`` and ``format_date`` do."""
        eur = self.setup_other_currency("EUR")
        # en_IN groups digits the Indian way (12,34,567.89): the others by three
        for code in ("es_ES", "pt_BR", "de_DE", "fr_FR", "en_IN"):
            self.env["res.lang"]._activate_lang(code)
        planner = DunningPlanner(self.env, self.company, NOW)
        values = [
            0.0,
            0.004,
            0.005,
            0.015,
            1.0,
            999.995,
            1234.5,
            1234567.891,
            -42.125,
            -98765432.1,
        ]
        for lang in ("en_US", "es_ES", "pt_BR", "de_DE", "fr_FR", "en_IN"):
            env = self.env(context=dict(self.env.context, lang=lang))
            for currency in (self.company.currency_id, eur):
                for value in values:
                    self.assertEqual(
                        planner.format_amount(env, value, currency),
                        formatLang(env, value, currency_obj=currency),
                        f"{value} in {currency.name}, {lang}",
                    )
            for day in (days(-400), days(-3), TODAY, days(45)):
                self.assertEqual(
                    planner.format_date(env, day), format_date(env, day), lang
                )
            self.assertEqual(planner.format_date(env, False), "")

    def test_placeholders_are_checked_when_saving(self):
        with self.assertRaisesRegex(ValidationError, r"\{amout\}"):
            self.step_at[7].body = "You owe {amout}"

    def test_preview_changes_nothing(self):
        decisions = self.env["dunning.run"]._preview(self.company, now=NOW)
        [decision] = decisions
        self.assertEqual(decision.partner, self.maria)
        self.assertEqual(decision.step, self.step_at[30])
        self.assertFalse(self._messages(self.maria))
        self.assertEqual(self.maria_35.dunning_step_id, self.step_at[7])
        self.assertFalse(self.maria_8.dunning_step_id)

    def test_queries_grow_with_batches_not_customers(self):
        self._assert_queries_grow_with_batches()

    def test_to_dos_without_salesperson_cost_no_query_per_customer(self):
        """Whom the to-do goes to when nobody sells to the customer (the
        company's fallback user) is looked up once, not per customer."""
        self._assert_queries_grow_with_batches(invoice_user_id=False)
        customer = self.env["res.partner"].search([("name", "=", "many0")], limit=1)
        self.assertEqual(
            customer.activity_ids.user_id, customer._dunning_responsible_user()
        )

    def _assert_queries_grow_with_batches(self, **invoice_values):
        def plan_queries(count, prefix):
            for index in range(count):
                partner = self._dunning_customer(
                    f"{prefix}{index}", tz="UTC", phone=f"+34 612 34 56 7{index}"
                )
                self._dunning_invoice(partner, days(-8), **invoice_values)
                # A step that also gives the accountant a to-do.
                old = self._dunning_invoice(partner, days(-95), **invoice_values)
                self._reminded(old, self.step_at[60], days(-35), days(-5))
            self.env.flush_all()
            # As in a real run, nothing of these customers is in memory yet.
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            self.env["dunning.run"]._run_company(self.company, now=NOW)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        plan_queries(1, "warm-up")  # fills the ORM's caches
        few = plan_queries(2, "few")
        many = plan_queries(8, "many")
        self.assertEqual(few, many)

    def test_the_link_of_each_message_opens_its_customer_page(self):
        """The link in the message opens the customer's page, whether or not
        their links were ever revoked, and stops working once they are."""
        self.maria.sudo().dunning_portal_nonce = False
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.policy_id, self.policy)
        token = message.body.split("/collections/", 1)[1].split()[0]
        Partner = self.env["res.partner"]
        partner, company = Partner._dunning_portal_check_token(token)
        self.assertEqual((partner, company), (self.maria, self.company))
        # Planning writes nothing on the customer for the link.
        self.assertFalse(self.maria.sudo().dunning_portal_nonce)
        # The invoice the message links to has its portal token, set with the
        # step bookkeeping.
        invoice_token = self.maria_35.access_token
        self.assertTrue(invoice_token)
        self.assertEqual(self.maria_35.dunning_step_id, self.step_at[30])
        self.assertEqual(message.payment_link.split("access_token=")[1], invoice_token)
        self.maria.action_dunning_revoke_portal_link()
        self.assertIsNone(Partner._dunning_portal_check_token(token))
        new_token = self.maria._dunning_portal_token()
        self.assertEqual(
            Partner._dunning_portal_check_token(new_token), (self.maria, self.company)
        )
        # Revoking also retires the invoice links handed out so far.
        self.maria_35.invalidate_recordset(["access_token"])
        self.assertNotEqual(self.maria_35.access_token, invoice_token)

    def test_planning_writes_on_invoices_only_their_first_access_token(self):
        """The run's bookkeeping goes to dunning.invoice.progress: on the
        invoices themselves it writes nothing but the portal access token of
        the invoice each message links to (the oldest it covers), when that
        invoice has none yet."""
        invoices = self.maria_8 | self.maria_35 | self.maria_future
        self.env.flush_all()

        def rows():
            self.env.cr.execute(
                "SELECT id, to_jsonb(m) - 'access_token' FROM account_move m "
                "WHERE id = ANY(%s)",
                [invoices.ids],
            )
            return dict(self.env.cr.fetchall())

        before = rows()
        self.assertFalse(any(invoices.mapped("access_token")))
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.env.flush_all()
        self.assertEqual(rows(), before)
        self.assertTrue(self.maria_35.access_token)
        self.assertFalse(self.maria_8.access_token)
        self.assertFalse(self.maria_future.access_token)

    def test_planning_sees_pending_changes_of_the_steps(self):
        """A step's offset changed and not yet written to the database decides
        which step is due."""
        self.env.flush_all()
        self.step_at[30].offset_days = 40
        self._run()
        self.assertEqual(self._messages(self.maria).step_id, self.step_at[7])

    def test_planning_sees_pending_changes_of_the_progress(self):
        """A step done, changed and not yet written to the database, decides
        what is due again."""
        Progress = self.env["dunning.invoice.progress"].sudo()
        progress = Progress.search([("move_id", "=", self.maria_35.id)])
        progress.step_id = self.step_at[30]
        self._reminded(self.maria_8, self.step_at[7], days(-1), days(22))
        self.env.flush_all()
        progress.step_id = self.step_at[7]
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.step_id, self.step_at[30])
        self.assertEqual(message.move_ids, self.maria_35)

    def test_the_new_messages_are_read_in_the_same_transaction(self):
        self.assertFalse(self.maria.dunning_communication_ids)
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        message = self._messages(self.maria)
        self.assertTrue(message)
        self.assertEqual(self.maria.dunning_communication_ids, message)

    def test_planning_leaves_the_session_settings_as_they_were(self):
        self.env.cr.execute("SELECT set_config('jit', 'on', true)")
        self.env["dunning.run"]._preview(self.company, now=NOW)
        self.env.cr.execute("SHOW jit")
        self.assertEqual(self.env.cr.fetchone()[0], "on")

    def test_thank_you_when_a_late_invoice_gets_paid(self):
        self._run()
        self._dunning_pay(self.maria_8, TODAY)
        self._run()
        self.assertFalse(
            self._messages(self.maria).filtered(lambda m: m.kind == "thank_you"),
            "the 35-day invoice is still overdue",
        )
        self._dunning_pay(self.maria_35, TODAY)
        with freeze_time(NOW + timedelta(days=1)):
            self.env["dunning.run"]._run_company(
                self.company, now=NOW + timedelta(days=1)
            )
        thanks = self._messages(self.maria).filtered(lambda m: m.kind == "thank_you")
        self.assertEqual(len(thanks), 1)
        self.assertIn("Thank you very much", thanks.body)
        self.assertEqual(thanks.move_ids, self.maria_8 | self.maria_35)
        self.assertTrue(self.maria_35.dunning_thanked)
        with freeze_time(NOW + timedelta(days=2)):
            self.env["dunning.run"]._run_company(
                self.company, now=NOW + timedelta(days=2)
            )
        self.assertEqual(
            len(self._messages(self.maria).filtered(lambda m: m.kind == "thank_you")),
            1,
            "thanked once",
        )

    def test_messages_speak_the_customer_language(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(
            ["friendly_dunning"], ["es_ES"], overwrite=True
        )
        shipped = self.env.ref("friendly_dunning.dunning_step_30").sudo()
        spanish = shipped.with_context(lang="es_ES").body
        self.assertIn("días vencido", spanish, "the shipped wording is translated")
        # This company's policy is its own copy: give it the same translation.
        self.step_at[30].update_field_translations("body", {"es_ES": spanish})
        self.maria.lang = "es_ES"
        self._run()
        body = self._messages(self.maria).body
        self.assertIn("Hola Maria", body)
        self.assertIn("lleva 35 días vencido", body)
        self.assertIn("vence el", body, "the invoice lines are in Spanish too")

    def test_a_broken_translation_is_reported_not_sent(self):
        self.env["res.lang"]._activate_lang("es_ES")
        step = self.step_at[30]
        # A translation imported with a typo, bypassing the form's check.
        self.env.cr.execute(
            "UPDATE dunning_step SET body = body || jsonb_build_object("
            "'es_ES', 'Hola {name}, debes {importe}') WHERE id = %s",
            [step.id],
        )
        step.invalidate_recordset(["body"])
        self.maria.lang = "es_ES"
        other = self._dunning_customer(
            "Other", phone="612 34 56 79", country_id=self.spain.id, tz="UTC"
        )
        self.env["dunning.consent"]._record(other, "whatsapp", "opted_in", "portal")
        self._dunning_invoice(other, days(-8))
        run = self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.state, "failed")
        self.assertIn("{importe}", message.error_message)
        self.assertEqual(run.unreachable_count, 1)
        self.assertEqual(self._messages(other).state, "sandbox", "the run goes on")

    def test_a_merged_customer_is_followed_up_under_the_surviving_one(self):
        twin = self._dunning_customer("Maria Twin", tz="UTC")
        self._dunning_invoice(twin, days(-8), 60.0)
        wizard = self.env["base.partner.merge.automatic.wizard"].create({})
        wizard._merge((self.maria | twin).ids, self.maria)
        self._run()
        self.assertFalse(twin.exists())
        message = self._messages(self.maria)
        self.assertEqual(len(message), 1)
        self.assertIn("480.00", message.subject, "both customers' overdue invoices")

    def test_sms_goes_through_odoo_sms_with_an_opt_out_line(self):
        self.env["dunning.channel"].search(
            [("company_id", "=", self.company.id), ("channel_type", "=", "sandbox")]
        ).active = False
        self.env["dunning.channel"].create(
            {"name": "SMS", "channel_type": "sms", "company_id": self.company.id}
        )
        self.env["dunning.consent"]._record(
            self.maria, "whatsapp", "opted_out", "reply"
        )
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "sms")
        self.assertEqual(message.sms_id.number, "+34612345678")
        self.assertIn(self.maria_35.name, message.sms_id.body)
        self.assertTrue(message.sms_id.body.endswith("Reply STOP to opt out."))


@tagged("post_install", "-at_install")
class TestDunningRunWorkers(TransactionCase):
    """Two workers at once, and a crash between batches, on committed data:
    each worker has its own database cursor, as two cron workers do.

    The run is limited to this test's customers (the database may hold demo
    data); the committed records are removed afterwards.
    """

    def setUp(self):
        super().setUp()
        now = datetime.combine(datetime.now(tz=timezone.utc).date(), dtime(10, 0))
        self.now = now
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.company
            company._dunning_ensure_defaults()
            partners = env["res.partner"].create(
                [
                    {
                        "name": f"Worker test customer {index}",
                        "is_company": True,
                        "email": f"worker-test-{index}@example.com",
                        "tz": "UTC",
                    }
                    for index in range(3)
                ]
            )
            due = now.date() - timedelta(days=35)
            invoices = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "partner_id": partner.id,
                        "invoice_date": due,
                        "invoice_date_due": due,
                        "invoice_payment_term_id": False,
                        "invoice_line_ids": [
                            Command.create(
                                {"name": "Service", "price_unit": 100.0, "tax_ids": []}
                            )
                        ],
                    }
                    for partner in partners
                ]
            )
            invoices.action_post()
            self.company_id = company.id
            self.partner_ids = partners.ids
            self.invoice_ids = invoices.ids
            self.last_run_id = env["dunning.run"].search([], limit=1).id or 0
        self.addCleanup(self._remove_committed_records)
        # Only this test's customers, and none of the company-wide chores.
        original = DunningPlanner.due_partner_ids
        for patcher in (
            patch.object(
                DunningPlanner,
                "due_partner_ids",
                lambda planner: [
                    partner_id
                    for partner_id in original(planner)
                    if partner_id in self.partner_ids
                ],
            ),
            patch.object(dunning_run, "queue_thank_you", return_value=0),
            patch.object(DunningPlanner, "resume_expired_pauses"),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)

    def _remove_committed_records(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            domain = [("partner_id", "in", self.partner_ids)]
            env["dunning.communication"].search(domain).unlink()
            env["mail.message"].search(
                [("model", "=", "res.partner"), ("res_id", "in", self.partner_ids)]
            ).unlink()
            env["mail.activity"].search(
                [("res_model", "=", "res.partner"), ("res_id", "in", self.partner_ids)]
            ).unlink()
            env["dunning.run"].search([("id", ">", self.last_run_id)]).unlink()
            invoices = env["account.move"].browse(self.invoice_ids)
            invoices.button_draft()
            invoices.with_context(force_delete=True).unlink()
            env["res.partner"].browse(self.partner_ids).unlink()

    def _worker(self):
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        return api.Environment(cr, SUPERUSER_ID, {})

    def _run(self, env, **context):
        company = env["res.company"].browse(self.company_id)
        return (
            env["dunning.run"].with_context(**context)._run_company(company, self.now)
        )

    def _queued(self):
        """``{partner id: number of reminders}``, as committed."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return {
                partner.id: count
                for partner, count in env["dunning.communication"]._read_group(
                    [("partner_id", "in", self.partner_ids)],
                    ["partner_id"],
                    ["__count"],
                )
            }

    def test_a_worker_skips_the_customers_another_one_holds(self):
        first, second, third = self._worker(), self._worker(), self._worker()
        held = self.partner_ids[0]
        self.assertEqual(
            first["res.partner"].browse(held).try_lock_for_update().id, held
        )
        self._run(second)
        second.cr.commit()
        self.assertEqual(
            self._queued(),
            {partner_id: 1 for partner_id in self.partner_ids[1:]},
            "the held customer is left to the worker holding it",
        )
        first.cr.rollback()  # that worker ends without queueing anything
        self._run(third)
        third.cr.commit()
        self.assertEqual(self._queued(), dict.fromkeys(self.partner_ids, 1))

    def test_two_workers_planning_at_once_queue_each_reminder_once(self):
        first, second = self._worker(), self._worker()
        second.cr.execute("SELECT 1")  # its snapshot predates the first's commit
        self._run(first)
        late = self._worker()
        self._run(late)  # while the first still holds every customer
        late.cr.commit()
        self.assertEqual(self._queued(), {}, "nothing queued behind the first's back")
        first.cr.commit()
        try:
            # PostgreSQL refuses it the customers changed under it (the cron
            # tries again at its next run); the error is logged, as expected.
            with mute_logger("odoo.sql_db"):
                self._run(second)
            second.cr.commit()
        except TransactionRollbackError:
            second.cr.rollback()
        self.assertEqual(self._queued(), dict.fromkeys(self.partner_ids, 1))

    def test_a_crash_between_batches_loses_nothing(self):
        crashing, next_run = self._worker(), self._worker()
        original_queue = DunningPlanner.queue
        calls = []

        def queue_then_crash(planner, decisions):
            calls.append(decisions)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            return original_queue(planner, decisions)

        cron = crashing.ref("friendly_dunning.ir_cron_dunning")
        with (
            patch.object(dunning_run, "PLAN_BATCH", 1),
            patch.object(DunningPlanner, "queue", queue_then_crash),
            self.assertRaises(RuntimeError),
        ):
            self._run(crashing, cron_id=cron.id)
        crashing.cr.rollback()
        first_customer = self.partner_ids[0]
        self.assertEqual(self._queued(), {first_customer: 1}, "the first batch is kept")
        run = self._run(next_run, cron_id=cron.id)
        self.assertEqual(run.queued_count, 2)
        self.assertEqual(self._queued(), dict.fromkeys(self.partner_ids, 1))
        run_again = self._run(self._worker())
        self.assertEqual(run_again.queued_count, 0)
