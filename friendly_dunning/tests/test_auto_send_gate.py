from odoo.exceptions import AccessError
from odoo.tests import Form, HttpCase, freeze_time, tagged

from .common import NOW, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestAutoSendGate(DunningCommon):
    """Automatic sending is a decision of a collections administrator, taken
    on the preview of the next run; until then the hourly job sends nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        # As after install: off.
        cls.company.dunning_auto_send = False
        cls.step_at = {
            step.offset_days: step for step in cls.company.dunning_policy_id.step_ids
        }
        spain = cls.env.ref("base.es")
        cls.maria = cls._dunning_customer(
            "Maria", phone="612 34 56 78", country_id=spain.id, tz="Europe/Madrid"
        )
        cls._dunning_invoice(cls.maria, days(-8), 120.0)
        cls._dunning_invoice(cls.maria, days(-35), 300.0)
        cls.env["dunning.consent"]._record(cls.maria, "whatsapp", "opted_in", "portal")

    def _messages(self, partner):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id)]
        )

    def _preview(self, user):
        action = self.env["dunning.run.preview"].with_user(user).action_open()
        return self.env["dunning.run.preview"].with_user(user).browse(action["res_id"])

    def test_a_new_company_starts_with_automatic_sending_off(self):
        company = self.env["res.company"].create({"name": "Brand new Ltd"})
        self.assertFalse(company.dunning_auto_send)

    def test_the_hourly_job_sends_nothing_while_off_but_keeps_figures_fresh(self):
        self.env["dunning.run"]._cron_dunning()
        self.assertFalse(self._messages(self.maria), "nothing planned, nothing sent")
        self.assertFalse(
            self.env["dunning.run"].search([("company_id", "=", self.company.id)])
        )
        # The worklist's figures are up to date all the same.
        self.assertEqual(self.maria.dunning_max_days_overdue, 35)
        self.assertEqual(self.company.dunning_due_customer_count, 1)
        self.assertEqual(self.company.dunning_due_counted_on, NOW)

    def test_a_collections_user_cannot_turn_it_on(self):
        preview = self._preview(self.dunning_user_a)
        self.assertEqual(preview.customer_count, 1, "a user may look at the preview")
        with self.assertRaises(AccessError):
            preview.action_turn_on_auto_send()
        self.assertFalse(self.company.dunning_auto_send)

    def test_the_settings_alone_cannot_turn_it_on(self):
        settings = self.env["res.config.settings"].create({"dunning_auto_send": True})
        settings.execute()
        self.assertFalse(self.company.dunning_auto_send)
        action = settings.action_dunning_review_next_run()
        self.assertEqual(action["res_model"], "dunning.run.preview")

    def test_the_preview_counts_messages_per_channel_and_step(self):
        self.step_at[90].manual_review = True
        bob = self._dunning_customer("Bob", tz="Europe/Madrid")
        self._dunning_invoice(bob, days(-8), 80.0)
        dora = self._dunning_customer("Dora", tz="Europe/Madrid")
        dora_invoice = self._dunning_invoice(dora, days(-95), 500.0)
        # Dora had the 60-day reminder a month ago: the firm step is next.
        self.env["dunning.invoice.progress"].sudo().create(
            {
                "move_id": dora_invoice.id,
                "line_id": dora_invoice.line_ids.filtered(
                    lambda line: line.display_type == "payment_term"
                ).id,
                "company_id": self.company.id,
                "step_id": self.step_at[60].id,
                "last_date": days(-30),
                "next_date": days(-23),
            }
        )
        nobody = self._dunning_customer("Nobody", email=False, tz="Europe/Madrid")
        self._dunning_invoice(nobody, days(-8), 40.0)
        # 10:00 UTC is 22:00 in Auckland: outside the sending window.
        night = self._dunning_customer("Night owl", tz="Pacific/Auckland")
        self._dunning_invoice(night, days(-8), 60.0)

        preview = self._preview(self.dunning_manager_a)

        self.assertEqual(
            (
                preview.customer_count,
                preview.message_count,
                preview.review_count,
                preview.hold_count,
                preview.unreachable_count,
            ),
            (5, 3, 1, 1, 1),
        )
        self.assertEqual(
            {c.channel: (c.count, c.review_count) for c in preview.channel_count_ids},
            {"whatsapp": (1, 0), "email": (2, 1)},
        )
        self.assertEqual(
            {c.step_id: (c.count, c.review_count) for c in preview.step_count_ids},
            {
                # Maria (never reminded, so the first overdue step) and Bob.
                self.step_at[7]: (2, 0),
                self.step_at[90]: (1, 1),  # Dora, waiting for approval
            },
        )
        problems = {c.kind: (c.count, c.reason) for c in preview.problem_count_ids}
        self.assertEqual(
            problems["hold"], (1, "Outside the sending window in their time zone")
        )
        self.assertEqual(problems["unreachable"][0], 1)
        self.assertIn("e-mail: no valid address", problems["unreachable"][1])
        self.assertFalse(
            self.env["dunning.communication"].search(
                [("company_id", "=", self.company.id)]
            ),
            "the preview changes nothing",
        )

    def test_after_a_manager_turns_it_on_the_hourly_job_sends(self):
        self.env["dunning.run"]._cron_dunning()
        self.assertFalse(self._messages(self.maria))
        preview = self._preview(self.dunning_manager_a)
        self.assertEqual(preview.message_count, 1)
        preview.action_turn_on_auto_send()
        self.assertTrue(self.company.dunning_auto_send)
        self.assertEqual(self.company.dunning_auto_send_user_id, self.dunning_manager_a)
        self.assertEqual(self.company.dunning_auto_send_date, NOW)

        self.env["dunning.run"]._cron_dunning()
        message = self._messages(self.maria)
        self.assertEqual(len(message), 1)
        self.assertEqual(
            message.step_id, self.step_at[7], "never reminded: the first overdue step"
        )
        self.assertNotEqual(message.state, "queued", "handed to its channel")

    def test_turning_it_off_keeps_the_queued_reminders_from_leaving(self):
        self.company.dunning_auto_send = True
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        queued = self._messages(self.maria)
        self.assertEqual(queued.state, "queued")
        self.env["res.config.settings"].create({}).action_dunning_turn_off_auto_send()
        self.assertFalse(self.company.dunning_auto_send)
        self.assertEqual(self.company.dunning_auto_send_user_id, self.env.user)
        self.assertEqual(queued.state, "cancelled")
        self.env["dunning.run"]._cron_dunning()
        self.assertEqual(self._messages(self.maria), queued, "nothing new planned")

    def test_an_accountant_still_sends_by_hand_while_off(self):
        wizard = Form(
            self.env["dunning.send.wizard"]
            .with_user(self.dunning_user_a)
            .with_context(active_id=self.maria.id)
        )
        wizard.channel = "email"
        wizard.save().action_send()
        message = self._messages(self.maria)
        self.assertEqual((message.kind, message.state), ("manual", "sent"))
        self.assertEqual(message.mail_id.email_to, "maria@example.com")

    def test_the_collections_screens_say_it_is_off(self):
        def notice(user):
            notices = self.env["res.company"].with_user(user).dunning_notices()
            return next(
                (n for n in notices if n["id"] == f"auto_send_{self.company.id}"),
                None,
            )

        self.env["dunning.run"]._cron_dunning()
        for_user = notice(self.dunning_user_a)
        self.assertIn("Automatic sending is off", for_user["message"])
        self.assertIn("would remind 1 customers", for_user["message"])
        self.assertIn("A collections administrator", for_user["message"])
        self.assertFalse(for_user["action"], "a user cannot turn it on")
        self.assertEqual(
            notice(self.dunning_manager_a)["action"],
            "friendly_dunning.action_dunning_run_preview",
        )
        self._dunning_users_around(self.maria)
        self.assertIsNone(notice(self.billing), "for collections users only")
        self.company.dunning_auto_send = True
        self.assertIsNone(notice(self.dunning_manager_a))
        # The worklist and the messages show the notices.
        for model, xmlid in (
            ("res.partner", "view_partner_list_dunning_worklist"),
            ("dunning.communication", "dunning_communication_view_list"),
        ):
            arch = self.env[model].get_view(
                self.env.ref(f"friendly_dunning.{xmlid}").id, "list"
            )["arch"]
            self.assertIn('js_class="dunning_notice_list"', arch, model)


# Waits for the notice naming ``text`` above the list, then reports.
NOTICE_CHECK = """
const start = Date.now();
const check = () => {
    const notices = [...document.querySelectorAll(".o_dunning_notice")];
    if (notices.some((n) => n.textContent.includes(%r))) {
        console.log("test successful");
    } else if (Date.now() - start > 20000) {
        console.error("no notice: " + notices.map((n) => n.textContent).join(" | "));
    } else {
        setTimeout(check, 200);
    }
};
check();
"""


@tagged("post_install", "-at_install")
class TestAutoSendNoticeUi(DunningCommon, HttpCase):
    """The notices, as the browser shows them above the list of messages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a.dunning_auto_send = False

    def test_the_messages_show_the_notices(self):
        # The worklist uses the same list view class (checked on its arch in
        # TestAutoSendGate).
        for text in ("Automatic sending is off", "The sandbox is active"):
            self.browser_js(
                "/odoo/collections-messages",
                NOTICE_CHECK % text,
                login=self.dunning_manager_a.login,
            )
