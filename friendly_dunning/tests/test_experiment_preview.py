from odoo.tests import freeze_time, tagged

from .common import NOW, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestExperimentPreview(DunningCommon):
    """The preview of the next run shows each customer at a step with a
    running experiment the variant the run will send them, and assigns
    nobody: the run then assigns each customer the variant shown."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.step = cls.company.dunning_policy_id.step_ids.filtered(
            lambda s: s.offset_days == 0
        )
        cls.customers = cls.env["res.partner"]
        for index in range(6):
            customer = cls._dunning_customer(f"Tester {index}")
            cls.customers |= customer
            cls._dunning_invoice(customer, days(0), 100.0 + index)
        cls.Assignment = cls.env["dunning.experiment.assignment"]

    def _experiment(self, **values):
        """A running experiment of the step whose draw gives some customers
        the champion and others the challenger."""
        experiment = self.env["dunning.experiment"].create(
            {
                "name": "Shorter",
                "step_id": self.step.id,
                "challenger_subject": "Due today",
                "challenger_body": "Hi {name}, {amount} is due today: {link}",
            }
            | values
        )
        # Each customer's draw is a coin toss: a few salts at most.
        for attempt in range(100):
            experiment.draw_salt = f"salt {attempt}"
            drawn = {experiment._dunning_draw(c.id) for c in self.customers}
            if drawn == {"champion", "challenger"}:
                break
        experiment.action_start()
        return experiment

    def _preview(self):
        """The preview a collections user opens, and its lines by customer."""
        Preview = self.env["dunning.run.preview"].with_user(self.dunning_user_a)
        preview = Preview.browse(Preview.action_open()["res_id"])
        lines = preview.line_ids.filtered(
            lambda line: line.partner_id in self.customers
        )
        self.assertEqual(lines.partner_id, self.customers)
        return preview, {line.partner_id: line for line in lines}

    def _messages(self, customer):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", customer.id), ("step_id", "=", self.step.id)]
        )

    def test_the_preview_shows_the_message_of_each_customer_variant(self):
        experiment = self._experiment()
        preview, lines = self._preview()
        champions = [c for c, line in lines.items() if line.variant == "champion"]
        challengers = [c for c, line in lines.items() if line.variant == "challenger"]
        self.assertTrue(champions and challengers)
        self.assertEqual(len(champions) + len(challengers), 6)
        for customer in challengers:
            line = lines[customer]
            self.assertEqual(line.experiment_id, experiment)
            self.assertEqual(line.outcome, "send")
            self.assertEqual(line.subject, "Due today")
            self.assertTrue(line.body.startswith(f"Hi {customer.name}, "))
            self.assertIn("is due today: http", line.body)
        for customer in champions:
            line = lines[customer]
            self.assertEqual(line.experiment_id, experiment)
            self.assertEqual(line.outcome, "send")
            self.assertNotEqual(line.subject, "Due today")
            self.assertNotIn("is due today:", line.body)
        self.assertEqual(
            {
                (c.experiment_id, c.variant): c.count
                for c in preview.experiment_count_ids
            },
            {
                (experiment, "champion"): len(champions),
                (experiment, "challenger"): len(challengers),
            },
        )
        self.assertEqual(preview.message_count, 6)
        self.assertFalse(
            self.Assignment.search([("partner_id", "in", self.customers.ids)]),
            "the preview assigns nobody",
        )

        self.env["dunning.run"]._run_company(self.company, now=NOW)

        self.assertEqual(
            {a.partner_id: a.variant for a in experiment.assignment_ids},
            {customer: line.variant for customer, line in lines.items()},
        )
        for customer, line in lines.items():
            message = self._messages(customer)
            self.assertEqual(
                (message.subject, message.body),
                (line.subject, line.body),
                "the run sends what the preview showed",
            )

    def test_a_hold_out_customer_is_shown_held_out_with_no_message(self):
        experiment = self._experiment(kind="holdout", challenger_body=False)
        preview, lines = self._preview()
        held_out = [c for c, line in lines.items() if line.variant == "holdout"]
        champions = [c for c, line in lines.items() if line.variant == "champion"]
        self.assertTrue(held_out and champions)
        for customer in held_out:
            line = lines[customer]
            self.assertEqual(line.experiment_id, experiment)
            self.assertEqual(line.outcome, "held_out")
            self.assertEqual(
                line.reason, 'Held out: no message at this step (experiment "Shorter")'
            )
            self.assertFalse(line.subject)
            self.assertFalse(line.body)
            self.assertFalse(line.channel, "nothing leaves, by no channel")
            self.assertFalse(line.compliance_outcome)
        for customer in champions:
            self.assertEqual(lines[customer].outcome, "send")
            self.assertTrue(lines[customer].body)
        self.assertEqual(
            (preview.customer_count, preview.message_count, preview.held_out_count),
            (6, len(champions), len(held_out)),
        )
        self.assertEqual(
            {(c.kind, c.reason): c.count for c in preview.problem_count_ids},
            {
                (
                    "held_out",
                    'Held out: no message at this step (experiment "Shorter")',
                ): len(held_out)
            },
        )
        self.assertFalse(
            self.Assignment.search([("partner_id", "in", self.customers.ids)]),
            "the preview assigns nobody",
        )

        self.env["dunning.run"]._run_company(self.company, now=NOW)

        self.assertEqual(
            {a.partner_id: a.variant for a in experiment.assignment_ids},
            {
                customer: "challenger" if customer in held_out else "champion"
                for customer in self.customers
            },
        )
        for customer in self.customers:
            self.assertEqual(
                len(self._messages(customer)), 0 if customer in held_out else 1
            )

    def test_an_assigned_customer_keeps_their_recorded_variant(self):
        experiment = self._experiment()
        customer = self.customers[0]
        recorded = (
            "champion"
            if experiment._dunning_draw(customer.id) == "challenger"
            else "challenger"
        )
        self.Assignment.sudo().create(
            {
                "experiment_id": experiment.id,
                "partner_id": customer.id,
                "variant": recorded,
                "date": NOW,
            }
        )
        _preview, lines = self._preview()
        self.assertEqual(lines[customer].variant, recorded)
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.assertEqual(
            experiment.assignment_ids.filtered(
                lambda a: a.partner_id == customer
            ).variant,
            recorded,
        )
        self.assertEqual(len(experiment.assignment_ids), 6)
