from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import DunningCommon

DUNNING_MODELS = (
    "dunning.policy",
    "dunning.step",
    "dunning.channel",
    "dunning.segment",
    "dunning.communication",
    "dunning.run",
    "dunning.consent",
)


@tagged("post_install", "-at_install")
class TestSecurity(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for company in cls.companies:
            customer = cls._dunning_customer(f"Customer of {company.name}")
            cls.env["dunning.communication"].create(
                {"company_id": company.id, "partner_id": customer.id, "body": "Hi"}
            )
            cls.env["dunning.run"].sudo().create({"company_id": company.id})
            customer.company_id = company
            cls.env["dunning.consent"]._record(customer, "sms", "opted_in", "import")

    def _company_path(self, model):
        # The consent ledger belongs to the customer, who belongs to a company.
        if "company_id" in self.env[model]._fields:
            return "company_id"
        return "partner_id.company_id"

    def _records_of(self, model, company):
        return (
            self.env[model]
            .with_context(active_test=False)
            .search([(self._company_path(model), "=", company.id)])
        )

    def test_user_of_company_a_cannot_read_company_b(self):
        for model in DUNNING_MODELS:
            records_b = self._records_of(model, self.company_b)
            self.assertTrue(records_b, f"Company B must have {model} records to hide")
            env_a = self.env(user=self.dunning_user_a)
            self.assertFalse(
                env_a[model]
                .with_context(active_test=False)
                .search([("id", "in", records_b.ids)]),
                f"{model} of company B is visible from company A",
            )
            with self.assertRaises(AccessError, msg=model):
                records_b.with_user(self.dunning_user_a).read(["display_name"])
            # Their own company's records stay readable.
            records_a = self._records_of(model, self.company_a)
            self.assertTrue(
                records_a.with_user(self.dunning_user_a).read(["display_name"])
            )

    def test_user_cannot_change_configuration(self):
        policy = self.company_a.dunning_policy_id.with_user(self.dunning_user_a)
        with self.assertRaises(AccessError):
            policy.name = "Harsher"
        with self.assertRaises(AccessError):
            self.env["dunning.channel"].with_user(self.dunning_user_a).create(
                {"name": "Mine", "channel_type": "email"}
            )

    def test_manager_configures_own_company_only(self):
        env_manager = self.env(user=self.dunning_manager_a)
        policy = env_manager["dunning.policy"].create(
            {
                "name": "Gentle",
                "step_ids": [
                    (0, 0, {"name": "Heads-up", "offset_days": -5}),
                    (0, 0, {"name": "Nudge", "offset_days": 10, "tone": "neutral"}),
                ],
            }
        )
        self.assertEqual(policy.company_id, self.company_a)
        self.assertEqual(policy.step_count, 2)
        policy_b = self.company_b.dunning_policy_id
        with self.assertRaises(AccessError):
            policy_b.with_user(self.dunning_manager_a).name = "Taken over"

    def test_accountant_without_collections_group_sees_nothing(self):
        billing = new_test_user(
            self.env,
            login="billing_only",
            groups="base.group_user,account.group_account_invoice",
            company_id=self.company_a.id,
            company_ids=[self.company_a.id],
        )
        for model in DUNNING_MODELS:
            with self.assertRaises(AccessError, msg=model):
                self.env(user=billing)[model].search([])

    def test_menus_follow_the_groups(self):
        root = self.env.ref("friendly_dunning.menu_collections_root")
        worklist = self.env.ref("friendly_dunning.menu_collections_worklist")
        config = self.env.ref("friendly_dunning.menu_collections_config")
        policies = self.env.ref("friendly_dunning.menu_collections_policies")

        def visible_for(user):
            return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()

        user_menus = visible_for(self.dunning_user_a)
        self.assertIn(root.id, user_menus)
        self.assertIn(worklist.id, user_menus)
        self.assertNotIn(config.id, user_menus)
        manager_menus = visible_for(self.dunning_manager_a)
        self.assertIn(config.id, manager_menus)
        self.assertIn(policies.id, manager_menus)
        billing = new_test_user(
            self.env, login="billing_menu", groups="account.group_account_invoice"
        )
        self.assertNotIn(root.id, visible_for(billing))

    def test_actions_and_views_load_for_each_group(self):
        cases = [
            (self.dunning_user_a, "friendly_dunning.action_dunning_worklist"),
            (self.dunning_user_a, "friendly_dunning.action_dunning_worklist_partners"),
            (self.dunning_manager_a, "friendly_dunning.action_dunning_segment"),
            (self.dunning_user_a, "friendly_dunning.action_dunning_policy"),
            (self.dunning_manager_a, "friendly_dunning.action_dunning_policy"),
            (self.dunning_manager_a, "friendly_dunning.action_dunning_channel"),
        ]
        for user, xmlid in cases:
            action = self.env.ref(xmlid).sudo()
            views = [(False, mode) for mode in action.view_mode.split(",")]
            result = (
                self.env[action.res_model]
                .with_user(user)
                .get_views(views + [(False, "search")])
            )
            self.assertEqual(
                set(result["views"]), {mode for _, mode in views} | {"search"}, xmlid
            )
            records = (
                self.env[action.res_model]
                .with_user(user)
                .search_read([], ["display_name"], limit=5)
            )
            self.assertIsInstance(records, list)

    def test_settings_form_loads_for_manager_with_collections_block(self):
        admin = self._dunning_new_user(
            "settings_admin",
            self.company_a,
            "base.group_system,account.group_account_manager,"
            "friendly_dunning.group_dunning_manager",
        )
        settings_env = self.env(user=admin)["res.config.settings"]
        arch = settings_env.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("dunning_quiet_hour_start", arch)
        self.assertIn("friendly_dunning_setting_container", arch)
