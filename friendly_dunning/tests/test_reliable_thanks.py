from datetime import timedelta

from odoo.tests import freeze_time, tagged

from .common import NOW, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestReliableThanks(DunningCommon):
    """A customer whose payer score reaches the policy's minimum and who paid
    an invoice by its due date is thanked with the company's words, at most
    once in the policy's days, and never while something is overdue."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.policy = cls.company.dunning_policy_id
        cls.policy.write(
            {
                "reliable_thanks": True,
                "reliable_min_score": 80,
                "reliable_thanks_days": 90,
                "reliable_thanks_subject": "Thanks from {company}",
                "reliable_thanks_body": "Dear {name}, you always pay on time.",
            }
        )
        cls.acme = cls._dunning_customer("Acme", lang="en_US")
        cls._score(cls.acme, 92)
        cls.invoice = cls._dunning_invoice(cls.acme, days(-2), 500.0)

    @classmethod
    def _score(cls, partner, score):
        partner.with_company(cls.company).sudo().dunning_score = score

    def _run(self, now=NOW):
        self.env["dunning.run"]._run_company(self.company, now=now)

    def _thanks(self):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", self.acme.id), ("kind", "=", "reliable_thanks")]
        )

    def test_a_reliable_payer_who_paid_on_time_is_thanked_once(self):
        self._dunning_pay(self.invoice, days(-3))
        self._run()
        thanks = self._thanks()
        self.assertEqual(len(thanks), 1)
        self.assertEqual(thanks.subject, f"Thanks from {self.company.name}")
        self.assertEqual(thanks.body, "Dear Acme, you always pay on time.")
        self.assertEqual(thanks.move_ids, self.invoice)
        self.assertEqual(thanks.state, "queued")
        # Another invoice paid on time a week later: not thanked again so soon.
        second = self._dunning_invoice(self.acme, days(5), 200.0)
        self._dunning_pay(second, days(4))
        with freeze_time(NOW + timedelta(days=7)):
            self._run(NOW + timedelta(days=7))
        self.assertEqual(len(self._thanks()), 1)

    def test_a_late_payment_is_not_thanked(self):
        self._dunning_pay(self.invoice, days(-1))
        self._run()
        self.assertFalse(self._thanks())

    def test_a_score_below_the_minimum_is_not_thanked(self):
        self._score(self.acme, 79)
        self._dunning_pay(self.invoice, days(-3))
        self._run()
        self.assertFalse(self._thanks())

    def test_nobody_is_thanked_while_something_is_overdue(self):
        self._dunning_invoice(self.acme, days(-10), 80.0)
        self._dunning_pay(self.invoice, days(-3))
        self._run()
        self.assertFalse(self._thanks())

    def test_a_policy_that_does_not_thank_sends_nothing(self):
        self.policy.reliable_thanks = False
        self._dunning_pay(self.invoice, days(-3))
        self._run()
        self.assertFalse(self._thanks())
