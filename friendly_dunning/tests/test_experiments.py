from datetime import timedelta
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError
from odoo.tests import freeze_time, tagged
from odoo.tools import mute_logger

from .common import NOW, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestExperiments(DunningCommon):
    """Champion and challenger: a step's message against another message or
    a hold-out, customers assigned at random and recorded, the results with
    their confidence, and a better challenger promoted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.step = cls.company.dunning_policy_id.step_ids.filtered(
            lambda s: s.offset_days == 0
        )
        cls.customers = cls.env["res.partner"]
        cls.invoices = cls.env["account.move"]
        for index in range(6):
            customer = cls._dunning_customer(f"Tester {index}")
            cls.customers |= customer
            cls.invoices |= cls._dunning_invoice(customer, days(0), 100.0 + index)
        cls.Experiment = cls.env["dunning.experiment"]

    def _experiment(self, **values):
        experiment = self.Experiment.create(
            {
                "name": "Shorter",
                "step_id": self.step.id,
                "challenger_subject": "Due today",
                "challenger_body": "Hi {name}, {amount} is due today: {link}",
            }
            | values
        )
        experiment.action_start()
        return experiment

    def _run(self, draws):
        """A run where the customers of the class draw ``draws`` (0 to 1, in
        their order): under the challenger's share, the challenger. A draw
        for a customer without one fails."""
        positions = dict(zip(self.customers.ids, draws, strict=False))

        def position(experiment, partner_id):
            return positions[partner_id] * 100

        with patch.object(
            self.registry["dunning.experiment"], "_dunning_position", position
        ):
            self.env["dunning.run"]._run_company(self.company, now=NOW)

    def _messages(self, customer):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", customer.id), ("step_id", "=", self.step.id)]
        )

    def test_customers_are_assigned_at_random_and_get_their_variant(self):
        experiment = self._experiment()
        self._run([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
        assignments = experiment.assignment_ids
        self.assertEqual(len(assignments), 6)
        challengers = assignments.filtered(lambda a: a.variant == "challenger")
        self.assertEqual(len(challengers), 3)
        for assignment in assignments:
            message = self._messages(assignment.partner_id)
            self.assertEqual(len(message), 1)
            self.assertEqual(assignment.move_ids.partner_id, assignment.partner_id)
            if assignment.variant == "challenger":
                self.assertTrue(message.body.startswith("Hi Tester"))
                self.assertIn("is due today:", message.body)
            else:
                self.assertNotIn("is due today:", message.body)
        # A customer is assigned once: a later run keeps the assignment.
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            self.env["dunning.experiment.assignment"].sudo().create(
                {
                    "experiment_id": experiment.id,
                    "partner_id": assignments[0].partner_id.id,
                    "variant": "champion",
                    "date": NOW,
                }
            )

    def test_the_draw_is_the_same_every_time_and_follows_the_share(self):
        experiment = self._experiment(challenger_share=30)
        other = self.Experiment.create(
            {"name": "Other", "step_id": self.step.id, "challenger_share": 30}
        )
        self.assertNotEqual(experiment.draw_salt, other.draw_salt)
        partner_ids = range(1, 2001)
        variants = [experiment._dunning_draw(pid) for pid in partner_ids]
        self.assertEqual(
            variants, [experiment._dunning_draw(pid) for pid in partner_ids]
        )
        # 600 expected; 4.9 standard deviations either side.
        self.assertAlmostEqual(variants.count("challenger"), 600, delta=100)
        self.assertNotEqual(variants, [other._dunning_draw(pid) for pid in partner_ids])
        positions = [experiment._dunning_position(pid) for pid in partner_ids]
        self.assertTrue(all(0 <= position < 100 for position in positions))
        self.assertAlmostEqual(
            sum(position < 50 for position in positions), 1000, delta=110
        )

    def test_a_hold_out_receives_nothing_and_the_step_counts_as_done(self):
        experiment = self._experiment(kind="holdout", challenger_body=False)
        self._run([0.1, 0.9, 0.1, 0.9, 0.1, 0.9])
        held_out = experiment.assignment_ids.filtered(
            lambda a: a.variant == "challenger"
        ).partner_id
        self.assertEqual(len(held_out), 3)
        for customer in self.customers:
            self.assertEqual(
                len(self._messages(customer)), 0 if customer in held_out else 1
            )
        # Not due again at the next run: the step is done for them.
        self._run([])
        for customer in held_out:
            self.assertFalse(self._messages(customer))
        self.assertEqual(len(experiment.assignment_ids), 6)

    def test_results_say_which_variant_pays_better_with_confidence(self):
        experiment = self._experiment()
        self._run([0.1, 0.1, 0.1, 0.9, 0.9, 0.9])
        self.assertIn("Not enough customers", experiment.results)
        challengers = experiment.assignment_ids.filtered(
            lambda a: a.variant == "challenger"
        )
        # The challengers all pay within a week, the champions never.
        for assignment in challengers:
            self._dunning_pay(assignment.move_ids, days(3))
        with freeze_time(NOW + timedelta(days=31)):
            experiment.invalidate_recordset(["results", "better"])
            # 3 of 3 against none of 3: Fisher's exact test says p = 0.1.
            self.assertFalse(experiment.better)
            self.assertIn("100 %", experiment.results)
            self.assertIn("0 %", experiment.results)
            self.assertIn("p = 0.1", experiment.results)
            self.assertIn("95 % confidence interval", experiment.results)
            self.assertIn(
                "No difference with statistical confidence", experiment.results
            )
            with self.assertRaises(UserError):
                experiment.action_promote()

    def test_promoting_a_better_challenger_rewrites_the_step(self):
        experiment = self._experiment()
        with patch.object(type(experiment), "_compute_results", _better_challenger):
            experiment.invalidate_recordset(["better"])
            experiment.action_promote()
        self.assertEqual(self.step.body, "Hi {name}, {amount} is due today: {link}")
        self.assertEqual(self.step.subject, "Due today")
        self.assertEqual(experiment.state, "done")

    def test_only_managers_run_experiments(self):
        with self.assertRaises(AccessError):
            self.Experiment.with_user(self.dunning_user_a).create(
                {"name": "Mine", "step_id": self.step.id, "challenger_body": "x"}
            )
        experiment = self._experiment()
        self.assertEqual(
            self.Experiment.with_user(self.dunning_user_a).search([]), experiment
        )
        with self.assertRaises(UserError):
            self.Experiment.create(
                {"name": "No text", "step_id": self.step.id}
            ).action_start()
        with self.assertRaises(UserError):
            self._experiment(challenger_share=0)


def _better_challenger(experiments):
    for experiment in experiments:
        experiment.better = "challenger"
        experiment.assignment_count = 0
        experiment.results = False
