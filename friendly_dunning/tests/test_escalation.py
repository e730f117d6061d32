from datetime import timedelta

from odoo.tests import freeze_time, tagged

from .common import NOW, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestEscalation(DunningCommon):
    """Past the due date, a customer moves to a firmer step one step at a
    time: only after the previous one was sent and the policy's gap passed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.policy = cls.company.dunning_policy_id
        cls.step_at = {step.offset_days: step for step in cls.policy.step_ids}
        # Never reminded, 120 days late: the demo's Rusty Anchor Diner.
        cls.diner = cls._dunning_customer("Rusty Anchor Diner", tz="UTC")
        cls.backlog = cls._dunning_invoice(cls.diner, days(-120), 6226.0)

    def _run(self, day, partner=None):
        """Run the company's planning ``day`` days from today; the messages it
        created for ``partner`` (default: the diner)."""
        partner = partner or self.diner
        Communication = self.env["dunning.communication"]
        before = Communication.search([("partner_id", "=", partner.id)])
        self.env["dunning.run"]._run_company(
            self.company, now=NOW + timedelta(days=day)
        )
        return Communication.search([("partner_id", "=", partner.id)]) - before

    def test_the_default_gap_is_a_week(self):
        self.assertEqual(self.policy.escalation_gap_days, 7)
        self.assertEqual(
            self.env["dunning.policy"].create({"name": "New"}).escalation_gap_days, 7
        )

    def test_a_backlog_starts_at_the_first_overdue_step_and_never_skips(self):
        first = self._run(0)
        self.assertEqual(first.step_id, self.step_at[7], "not the threat")
        self.assertNotIn("despite", first.body)
        self.assertIn("$\xa06,226.00", first.body)
        self.assertEqual(self.backlog.dunning_step_id, self.step_at[7])
        # The next step is overdue since long: it waits for the gap.
        self.assertEqual(self.backlog.dunning_next_date, days(7))
        for day in range(1, 7):
            self.assertFalse(self._run(day), f"nothing {day} days later")
        steps = [first.step_id]
        for day in (7, 14, 21):
            message = self._run(day)
            self.assertEqual(len(message), 1, f"one message on day {day}")
            steps.append(message.step_id)
            self.assertFalse(self._run(day + 1), "the gap starts again")
        self.assertEqual(
            steps, [self.step_at[offset] for offset in (7, 30, 60, 90)], "no skip"
        )
        self.assertIn("despite our reminders", message.body)
        self.assertFalse(self.backlog.dunning_next_date, "the last step was done")
        self.assertFalse(self._run(60), "nothing after the last step")

    def test_the_gap_is_the_policy_s(self):
        self.policy.escalation_gap_days = 10
        self.assertEqual(self._run(0).step_id, self.step_at[7])
        self.assertEqual(self.backlog.dunning_next_date, days(10))
        self.assertFalse(self._run(9))
        self.assertEqual(self._run(10).step_id, self.step_at[30])

    def test_the_calendar_is_kept_when_reminders_are_on_time(self):
        """An invoice reminded at each step on time goes through the policy
        on its own calendar: the gap only holds back a late one."""
        punctual = self._dunning_customer("Punctual", tz="UTC")
        self._dunning_invoice(punctual, days(3))
        sent = {}
        for day in (0, 2, 3, 9, 10, 32, 33, 62, 63, 92, 93):
            message = self._run(day, punctual)
            if message:
                sent[day] = message.step_id.offset_days
        self.assertEqual(sent, {0: -3, 3: 0, 10: 7, 33: 30, 63: 60, 93: 90})

    def test_first_overdue_steps_claim_no_earlier_reminder(self):
        """The first overdue step of each shipped policy says nothing of
        earlier reminders: a backlog's first message never claims any."""
        policies = self.env["dunning.policy"].search(
            [("company_id", "=", self.company.id)]
        )
        self.assertEqual(len(policies), 2)
        for policy in policies:
            steps = policy.step_ids.sorted("offset_days")
            first_overdue = steps.filtered(lambda step: step.offset_days > 0)[:1]
            for text in (first_overdue.subject, first_overdue.body):
                self.assertNotIn("despite", text, policy.name)
                self.assertNotIn("our reminders", text, policy.name)
            self.assertIn("despite our reminders", steps[-1].body, policy.name)
