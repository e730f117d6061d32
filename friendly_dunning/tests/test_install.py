from psycopg2 import IntegrityError

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import DunningCommon


@tagged("post_install", "-at_install")
class TestInstall(DunningCommon):
    def test_module_installed_with_default_policy(self):
        module = self.env.ref("base.module_friendly_dunning")
        self.assertEqual(module.state, "installed")
        # The shipped policy belongs to the main company, outside the test user's.
        policy = self.env.ref("friendly_dunning.dunning_policy_default").sudo()
        self.assertEqual(
            policy.step_ids.mapped("offset_days"),
            [-3, 0, 7, 30, 60, 90],
            "The playbook's steps, in order: before due, due, +7, +30, +60, +90",
        )
        self.assertEqual(
            policy.step_ids.mapped("tone"),
            ["friendly", "friendly", "friendly", "neutral", "neutral", "firm"],
        )
        self.assertEqual(
            self.env.ref("base.main_company").sudo().dunning_policy_id, policy
        )

    def test_every_company_starts_with_a_sandbox_and_a_policy(self):
        for company in self.companies:
            channels = self.env["dunning.channel"].search(
                [("company_id", "=", company.id)]
            )
            self.assertIn("sandbox", channels.mapped("channel_type"), company.name)
            self.assertTrue(
                channels.filtered(lambda c: c.channel_type == "sandbox").active
            )
            self.assertEqual(company.dunning_policy_id.company_id, company)
            self.assertEqual(len(company.dunning_policy_id.step_ids), 6)

    def test_new_company_gets_its_own_copy_of_the_default_policy(self):
        company = self.env["res.company"].create({"name": "Brand new Ltd"})
        policy = company.dunning_policy_id
        self.assertEqual(policy.company_id, company)
        self.assertNotEqual(
            policy, self.env.ref("friendly_dunning.dunning_policy_default")
        )
        self.assertEqual(policy.step_ids.company_id, company)
        self.assertEqual(
            self.env["dunning.channel"].search_count([("company_id", "=", company.id)]),
            2,
        )
        # Running the defaults again must not duplicate anything.
        company._dunning_ensure_defaults()
        self.assertEqual(company.dunning_policy_id, policy)
        self.assertEqual(
            self.env["dunning.channel"].search_count([("company_id", "=", company.id)]),
            2,
        )

    def test_settings_write_to_the_company(self):
        settings = (
            self.env["res.config.settings"]
            .with_company(self.company_a)
            .create(
                {
                    "dunning_quiet_hour_start": 9.0,
                    "dunning_quiet_hour_end": 18.5,
                    "dunning_max_per_day": 1,
                    "dunning_max_per_week": 2,
                    "dunning_hold_weekends": True,
                }
            )
        )
        settings.execute()
        self.assertEqual(self.company_a.dunning_quiet_hour_start, 9.0)
        self.assertEqual(self.company_a.dunning_quiet_hour_end, 18.5)
        self.assertEqual(self.company_a.dunning_max_per_week, 2)
        self.assertTrue(self.company_a.dunning_hold_weekends)

    @mute_logger("odoo.sql_db")
    def test_sending_window_and_caps_are_validated(self):
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.company_a.write(
                {"dunning_quiet_hour_start": 21.0, "dunning_quiet_hour_end": 8.0}
            )
            self.env.flush_all()
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.company_a.write({"dunning_max_per_day": 2, "dunning_max_per_week": 1})
            self.env.flush_all()

    @mute_logger("odoo.sql_db")
    def test_two_steps_on_the_same_day_are_refused(self):
        policy = self.company_a.dunning_policy_id
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.env["dunning.step"].create(
                {"policy_id": policy.id, "name": "Duplicate", "offset_days": 7}
            )
            self.env.flush_all()
