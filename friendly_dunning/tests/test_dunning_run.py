from datetime import datetime, timedelta

from odoo.exceptions import ValidationError
from odoo.tests import freeze_time, tagged

from .common import DunningCommon

NOW = datetime(2026, 6, 30, 10, 0)  # a Tuesday, 10:00 UTC
TODAY = NOW.date()


def days(offset):
    return TODAY + timedelta(days=offset)


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
        cls.env["dunning.consent"]._record(cls.maria, "whatsapp", "opted_in", "portal")

    def _run(self):
        run = self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.env["dunning.communication"]._dunning_send_queued()
        return run

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
        self.assertEqual(message.state, "sent")
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
        self.env["dunning.consent"]._record(self.maria, "sms", "opted_out", "reply")
        self._run()
        message = self._messages(self.maria)
        self.assertEqual(message.channel, "email")

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
        self.assertEqual(message.state, "sent")

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

    def test_placeholders_are_checked_when_saving(self):
        with self.assertRaisesRegex(ValidationError, r"\{amout\}"):
            self.step_at[7].body = "You owe {amout}"

    def test_preview_changes_nothing(self):
        decisions = self.env["dunning.run"]._preview(self.company, now=NOW)
        [decision] = decisions
        self.assertEqual(decision["partner"], self.maria)
        self.assertEqual(decision["step"], self.step_at[30])
        self.assertFalse(self._messages(self.maria))
        self.assertFalse(self.maria_35.dunning_step_id)

    def test_queries_grow_with_batches_not_customers(self):
        def plan_queries(count, prefix):
            for index in range(count):
                partner = self._dunning_customer(
                    f"{prefix}{index}", tz="UTC", phone=f"+34 612 34 56 7{index}"
                )
                self._dunning_invoice(partner, days(-8))
            self.env.flush_all()
            before = self.cr.sql_log_count
            self.env["dunning.run"]._run_company(self.company, now=NOW)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        plan_queries(1, "warm-up")  # fills the ORM's caches
        few = plan_queries(2, "few")
        many = plan_queries(8, "many")
        self.assertEqual(few, many)

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
        self.assertEqual(self._messages(other).state, "sent", "the run goes on")

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
