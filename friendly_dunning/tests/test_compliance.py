from datetime import datetime, timedelta

from psycopg2 import IntegrityError

from odoo.exceptions import UserError, ValidationError
from odoo.tests import freeze_time, tagged
from odoo.tools import mute_logger

from .common import DunningCommon

# 30 June 2026 (a Tuesday), in UTC. Local times in summer: New York UTC-4,
# Los Angeles UTC-7, Honolulu UTC-10, Mexico City UTC-6, São Paulo UTC-3.
NIGHT = datetime(2026, 6, 30, 2, 0)  # 22:00 New York, 20:00 Mexico City
MORNING = datetime(2026, 6, 30, 14, 0)  # 10:00 New York, 04:00 Honolulu
NOON_EAST = datetime(2026, 6, 30, 17, 0)  # 13:00 New York, 07:00 Honolulu
AFTERNOON = datetime(2026, 6, 30, 20, 0)  # 16:00 New York, 10:00 Honolulu
TODAY = NIGHT.date()
OVERDUE = TODAY - timedelta(days=8)
CNPJ = "11.222.333/0001-81"


@tagged("post_install", "-at_install")
class TestComplianceGuard(DunningCommon):
    """Each rule of a compliance pack on real runs: contact hours in the
    customer's local time, frequency caps, required content, the opt-out
    line, consumers and businesses, channels that need prior consent; what
    each message keeps of it, and the preview of the next run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        # The company's own window and caps leave room: what holds a message
        # in these tests is the pack.
        cls.company.write(
            {
                "dunning_quiet_hour_start": 0.0,
                "dunning_quiet_hour_end": 24.0,
                "dunning_max_per_day": 5,
                "dunning_max_per_week": 10,
                "vat": CNPJ,
            }
        )
        cls.company.partner_id.write(
            {"street": "Rua Augusta 100", "city": "São Paulo", "zip": "01305-000"}
        )
        cls.us_pack = cls.env.ref("friendly_dunning.dunning_compliance_pack_us")
        cls.mx_pack = cls.env.ref("friendly_dunning.dunning_compliance_pack_mx")
        cls.br_pack = cls.env.ref("friendly_dunning.dunning_compliance_pack_br")
        (cls.us_pack | cls.mx_pack | cls.br_pack).enabled = True
        cls.us = cls.env.ref("base.us")
        cls.mexico = cls.env.ref("base.mx")
        cls.brazil = cls.env.ref("base.br")

    @classmethod
    def _consumer(cls, name, country, tz=False, **values):
        """A person (not a company) in ``country`` with an overdue invoice."""
        customer = cls._dunning_customer(
            name, is_company=False, country_id=country.id, tz=tz, **values
        )
        cls._dunning_invoice(customer, OVERDUE)
        return customer

    def _run(self, now):
        with freeze_time(now):
            return self.env["dunning.run"]._run_company(self.company, now=now)

    def _messages(self, partner):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id)]
        )

    def _preview_line(self, partner, now):
        with freeze_time(now):
            preview = self.env["dunning.run.preview"].create({})
            preview._compute_lines()
        return preview.line_ids.filtered(lambda line: line.partner_id == partner)

    # -- contact hours -----------------------------------------------------

    def test_a_message_held_at_22_00_in_new_york_goes_out_at_the_next_run(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        line = self._preview_line(nora, NIGHT)
        self.assertEqual(line.outcome, "hold")
        self.assertEqual(line.compliance_outcome, "held")
        self.assertEqual(line.compliance_pack_id, self.us_pack)
        self.assertIn("22:00 in America/New_York", line.compliance_note)
        self.assertIn("08:00-21:00", line.compliance_note)
        run = self._run(NIGHT)
        self.assertEqual(run.held_count, 1)
        self.assertFalse(self._messages(nora))
        self.assertFalse(
            nora.invoice_ids.dunning_step_id, "the step stays due: nothing is lost"
        )
        run = self._run(MORNING)
        self.assertEqual(run.queued_count, 1)
        message = self._messages(nora)
        self.assertEqual(message.compliance_pack_id, self.us_pack)
        self.assertTrue(nora.invoice_ids.dunning_step_id)

    def test_mexico_contact_hours_are_07_00_to_22_00(self):
        mateo = self._consumer("Mateo", self.mexico, tz="America/Mexico_City")
        late = datetime(2026, 6, 30, 4, 30)  # 22:30 in Mexico City
        self.assertEqual(self._run(late).held_count, 1)
        early = datetime(2026, 6, 30, 13, 30)  # 07:30, too early under Regulation F
        self._run(early)
        message = self._messages(mateo)
        self.assertEqual(message.compliance_pack_id, self.mx_pack)
        self.assertIn("07:00-22:00", message.compliance_note)

    def test_without_a_time_zone_only_hours_that_suit_the_whole_country(self):
        dana = self._consumer("Dana", self.us)
        line = self._preview_line(dana, NOON_EAST)
        self.assertEqual(line.compliance_outcome, "held")
        self.assertIn("07:00 in Pacific/Honolulu", line.compliance_note)
        self.assertEqual(self._run(NOON_EAST).held_count, 1)
        self.assertEqual(self._run(AFTERNOON).queued_count, 1)

    def test_the_contact_written_to_decides_the_country(self):
        lucia = self._consumer("Lucia", self.env.ref("base.es"), tz="Europe/Madrid")
        self.env["res.partner"].create(
            {
                "name": "Lucia's son",
                "parent_id": lucia.id,
                "type": "invoice",
                "email": "son@example.com",
                "country_id": self.us.id,
                "tz": "America/New_York",
            }
        )
        self.assertEqual(self._run(NIGHT).held_count, 1)
        self.assertFalse(self._messages(lucia))

    def test_no_pack_for_the_country_allows_and_says_so(self):
        lucia = self._consumer("Lucia", self.env.ref("base.es"), tz="Europe/Madrid")
        self._run(NIGHT)
        message = self._messages(lucia)
        self.assertFalse(message.compliance_pack_id)
        self.assertIn(
            "no compliance pack is enabled for Spain", message.compliance_note
        )

    # -- frequency caps ----------------------------------------------------

    def _sent(self, partner, *ages):
        self.env["dunning.communication"].create(
            [
                {
                    "company_id": self.company.id,
                    "partner_id": partner.id,
                    "kind": "manual",
                    "state": "sent",
                    "date": MORNING - age,
                }
                for age in ages
            ]
        )

    def test_the_pack_daily_cap_holds_when_stricter_than_the_company(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        self._sent(nora, timedelta(hours=2))
        line = self._preview_line(nora, MORNING)
        self.assertEqual(line.compliance_outcome, "held")
        self.assertIn("its limit of 1 per day is reached", line.compliance_note)
        self.assertEqual(self._run(MORNING).held_count, 1)
        self.us_pack.max_per_day = 0  # the company's 5 a day apply
        self.assertEqual(self._run(MORNING).queued_count, 1)

    def test_the_pack_weekly_cap_holds_when_stricter_than_the_company(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        self._sent(nora, *(timedelta(days=days) for days in (2, 3, 4)))
        line = self._preview_line(nora, MORNING)
        self.assertIn("its limit of 3 per 7 days is reached", line.compliance_note)
        self.assertEqual(self._run(MORNING).held_count, 1)

    # -- required content, opt-out line --------------------------------------

    def test_brazil_messages_name_the_creditor_its_address_and_cnpj(self):
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        self._run(MORNING)
        message = self._messages(bruna)
        body = message.body
        company = self.company.name
        self.assertIn(
            f"Creditor: {company}, Rua Augusta 100, São Paulo 01305-000", body
        )
        self.assertIn(f"CNPJ {CNPJ}.", body)
        self.assertIn("/collections/", body, "the payment link stays")
        self.assertLess(body.index("/collections/"), body.index("Creditor:"))
        self.assertEqual(message.compliance_pack_id, self.br_pack)
        self.assertIn("the creditor's identification", message.compliance_note)

    def test_a_queued_message_edited_by_hand_is_screened_again(self):
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        self._run(MORNING)
        message = self._messages(bruna)
        self.assertEqual(message.state, "queued")
        message.with_user(self.dunning_manager_a).body = "Please pay today."
        self.assertTrue(message.body.startswith("Please pay today."))
        self.assertIn(f"CNPJ {CNPJ}.", message.body)
        self.assertIn("the creditor's identification", message.compliance_note)
        # Text that already carries it is left as written.
        kept = message.body
        message.body = kept
        self.assertEqual(message.body, kept)

    def test_brazil_holds_messages_while_the_company_has_no_cnpj(self):
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        self.company.vat = False
        line = self._preview_line(bruna, MORNING)
        self.assertEqual(line.compliance_outcome, "held")
        self.assertIn("tax id", line.compliance_note)
        self.assertEqual(self._run(MORNING).held_count, 1)
        self.company.vat = CNPJ
        self.assertEqual(self._run(MORNING).queued_count, 1)

    def test_email_gets_the_opt_out_line_and_sms_keeps_its_own_once(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        sam = self._consumer(
            "Sam", self.us, tz="America/New_York", phone="+1 212 555 0100"
        )
        self.env["dunning.consent"]._record(sam, "sms", "opted_in", "portal")
        self._run(MORNING)
        email = self._messages(nora)
        self.assertEqual(email.channel, "email")
        self.assertTrue(email.body.endswith(self.us_pack.optout_line))
        self.assertIn("the opt-out line", email.compliance_note)
        sms = self._messages(sam)
        self.assertEqual(sms.channel, "sms")
        self.assertNotIn(self.us_pack.optout_line, sms.body)
        self.assertEqual(sms._sms_body().count("Reply STOP to opt out."), 1)

    # -- consumers and businesses ------------------------------------------

    def test_a_consumer_pack_leaves_business_customers_alone(self):
        acme = self._dunning_customer(
            "Acme", country_id=self.brazil.id, tz="America/Sao_Paulo"
        )
        self._dunning_invoice(acme, OVERDUE)
        self._run(NIGHT)  # 23:00 in São Paulo: no hold for a business
        message = self._messages(acme)
        self.assertNotIn("CNPJ", message.body)
        self.assertFalse(message.compliance_pack_id)
        self.assertIn("covers consumers only", message.compliance_note)

    # -- channels that need prior consent ------------------------------------

    def test_a_channel_that_needs_consent_is_skipped_without_it(self):
        sam = self._consumer(
            "Sam", self.us, tz="America/New_York", phone="+1 212 555 0100"
        )
        phone_only = self._consumer(
            "Pat", self.us, tz="America/New_York", phone="+1 202 456 1111", email=False
        )
        self._run(MORNING)
        self.assertEqual(self._messages(sam).channel, "email", "no SMS consent")
        failed = self._messages(phone_only)
        self.assertEqual(failed.state, "failed")
        self.assertIn("asks for the customer's prior consent", failed.error_message)

    def test_a_disabled_pack_changes_nothing(self):
        self.br_pack.enabled = False
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        self._run(NIGHT)
        message = self._messages(bruna)
        self.assertNotIn("CNPJ", message.body)
        self.assertIn(
            "no compliance pack is enabled for Brazil", message.compliance_note
        )

    # -- what the preview and the other senders show -------------------------

    def test_the_preview_shows_allowed_held_and_changed(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")  # 22:00
        lea = self._consumer("Lea", self.us, tz="America/Los_Angeles")  # 19:00
        mateo = self._consumer("Mateo", self.mexico, tz="America/Mexico_City")
        with freeze_time(NIGHT):
            preview = self.env["dunning.run.preview"].create({})
            preview._compute_lines()
        outcomes = {
            line.partner_id: (line.outcome, line.compliance_outcome)
            for line in preview.line_ids
        }
        self.assertEqual(outcomes[nora], ("hold", "held"))
        self.assertEqual(outcomes[lea], ("send", "changed"))
        self.assertEqual(outcomes[mateo], ("send", "allowed"))
        held = preview.problem_count_ids.filtered(lambda count: count.kind == "hold")
        self.assertEqual(
            held.reason, "Outside the contact hours of their country's compliance pack"
        )

    def test_a_reminder_sent_by_hand_carries_the_required_content(self):
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        with freeze_time(MORNING):
            wizard = (
                self.env["dunning.send.wizard"]
                .with_context(active_id=bruna.id)
                .create({"channel": "email"})
            )
            self.assertIn(CNPJ, wizard.body, "shown before sending")
            wizard.body = "Hello Bruna, please pay."
            wizard.action_send()
        message = self._messages(bruna)
        self.assertTrue(message.body.startswith("Hello Bruna, please pay."))
        self.assertIn(CNPJ, message.body, "added back")

    def test_a_reminder_sent_by_hand_is_refused_outside_contact_hours(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        with freeze_time(NIGHT):
            wizard = (
                self.env["dunning.send.wizard"]
                .with_context(active_id=nora.id)
                .create({"channel": "email"})
            )
            self.assertIn("outside the contact hours", wizard.problem)
            with self.assertRaisesRegex(UserError, "outside the contact hours"):
                wizard.action_send()
        self.assertFalse(self._messages(nora))

    def test_instalment_reminders_wait_for_the_contact_hours_and_name_the_creditor(
        self,
    ):
        bruna = self._consumer("Bruna", self.brazil, tz="America/Sao_Paulo")
        Plan = self.env["dunning.payment.plan"]
        with freeze_time(NIGHT):  # 23:00 in São Paulo
            plan = Plan._dunning_propose(
                bruna, bruna.invoice_ids, 2, TODAY + timedelta(days=3)
            )
            Plan._cron_dunning_plans()
        first = plan.installment_ids.sorted("date_due")[0]
        reminders = self._messages(bruna).filtered(lambda m: m.kind == "installment")
        self.assertFalse(reminders)
        self.assertFalse(first.reminded_before, "held, not lost")
        with freeze_time(MORNING):
            Plan._cron_dunning_plans()
        reminder = self._messages(bruna).filtered(lambda m: m.kind == "installment")
        self.assertEqual(len(reminder), 1)
        self.assertIn(CNPJ, reminder.body)
        self.assertEqual(reminder.compliance_pack_id, self.br_pack)

    def test_a_thank_you_waits_for_the_contact_hours(self):
        nora = self._consumer("Nora", self.us, tz="America/New_York")
        invoice = nora.invoice_ids
        self._run(MORNING)
        with freeze_time(MORNING):
            self._dunning_pay(invoice, TODAY)
        next_night = NIGHT + timedelta(days=1)  # 22:00 in New York
        self._run(next_night)
        thanks = self._messages(nora).filtered(lambda m: m.kind == "thank_you")
        self.assertFalse(thanks)
        self.assertFalse(invoice.dunning_thanked, "thanked later")
        self._run(MORNING + timedelta(days=1))
        thanks = self._messages(nora).filtered(lambda m: m.kind == "thank_you")
        self.assertEqual(len(thanks), 1)
        self.assertEqual(thanks.compliance_pack_id, self.us_pack)

    def test_a_fallback_to_email_gets_the_opt_out_line(self):
        sam = self._consumer(
            "Sam", self.us, tz="America/New_York", phone="+1 212 555 0100"
        )
        self.env["dunning.consent"]._record(sam, "sms", "opted_in", "portal")
        self._run(MORNING)
        sms = self._messages(sam)
        self.assertEqual(sms.channel, "sms")
        with freeze_time(MORNING):
            email = sms._dunning_fall_back("The SMS provider refused the number.")
        self.assertEqual(email.channel, "email")
        self.assertTrue(email.body.endswith(self.us_pack.optout_line))
        self.assertEqual(email.compliance_pack_id, self.us_pack)

    def test_queries_do_not_grow_with_customers_under_packs(self):
        def run_queries(count, prefix):
            for index in range(count):
                self._consumer(f"{prefix}{index}", self.brazil, tz="America/Sao_Paulo")
                self._consumer(f"{prefix}us{index}", self.us, tz="America/New_York")
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            self._run(MORNING)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        run_queries(1, "warm-up")
        self.assertEqual(run_queries(2, "few"), run_queries(8, "many"))

    def test_packs_add_a_constant_to_a_run(self):
        """Enabled packs cost a run no query more than none: the guard's one
        search for them runs either way, and what it reads per customer is
        loaded already."""

        def run_queries(prefix, enabled):
            (self.us_pack | self.mx_pack | self.br_pack).enabled = enabled
            for index in range(3):
                self._consumer(f"{prefix}{index}", self.us, tz="America/New_York")
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            self._run(MORNING)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        run_queries("warm-up", True)
        without = run_queries("off", False)
        self.assertEqual(run_queries("on", True), without)

    # -- the packs themselves ------------------------------------------------

    @mute_logger("odoo.sql_db")
    def test_one_enabled_pack_per_country(self):
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.us_pack.copy({"enabled": True})
        self.assertTrue(self.us_pack.copy({"enabled": False}))

    def test_required_content_accepts_only_the_creditor_placeholders(self):
        with self.assertRaises(ValidationError):
            self.br_pack.required_content = "Creditor: {company}"
