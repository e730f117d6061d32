from odoo.modules.module import load_script
from odoo.tests import TransactionCase, tagged

TEMPLATE_NAMES = "friendly_dunning/migrations/19.0.1.1.0/post-migrate.py"
LIKELY_LATE = "friendly_dunning/migrations/19.0.1.2.0/post-migrate.py"


@tagged("post_install", "-at_install")
class TestMigrations(TransactionCase):
    """What an update from an earlier version sets on existing data."""

    def test_an_updated_database_names_the_shipped_steps_whatsapp_templates(self):
        script = load_script(TEMPLATE_NAMES, "friendly_dunning_template_names")
        shipped = script.shipped_template_names()
        self.assertEqual(
            shipped["friendly_dunning.dunning_step_before_due"],
            "fd_reminder_before_due",
        )
        steps = self.env["dunning.step"].browse(
            self.env.ref(xmlid).id for xmlid in shipped
        )
        self.assertEqual(len(steps), len(shipped))
        # As a database updated from before the field: the shipped steps
        # have no template name, except one a manager named since.
        steps.wa_template_name = False
        renamed = self.env.ref("friendly_dunning.dunning_step_90")
        renamed.wa_template_name = "acme_final_notice"
        policy = self.env.ref("friendly_dunning.dunning_policy_default")
        own = self.env["dunning.step"].create(
            {"policy_id": policy.id, "name": "Own step", "offset_days": 45}
        )

        script.migrate(self.env.cr, "19.0.1.0.0")

        for xmlid, name in shipped.items():
            step = self.env.ref(xmlid)
            expected = "acme_final_notice" if step == renamed else name
            self.assertEqual(step.wa_template_name, expected, xmlid)
        self.assertFalse(own.wa_template_name, "only the shipped steps are named")

    def test_an_updated_database_nudges_likely_late_payers_earlier(self):
        script = load_script(LIKELY_LATE, "friendly_dunning_likely_late")
        shipped = script.shipped_likely_late_days()
        self.assertEqual(shipped, {"friendly_dunning.dunning_step_before_due": 10})
        step = self.env.ref("friendly_dunning.dunning_step_before_due")
        # As a database updated from before the field.
        step.likely_late_days_before = 0
        script.migrate(self.env.cr, "19.0.1.1.0")
        self.assertEqual(step.likely_late_days_before, 10)
        # A value a manager set since is left alone.
        step.likely_late_days_before = 5
        script.migrate(self.env.cr, "19.0.1.1.0")
        self.assertEqual(step.likely_late_days_before, 5)
