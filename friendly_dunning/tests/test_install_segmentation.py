"""Installing the addon on a ledger computes every customer's figures at
once: the worklist is complete before the first run of the hourly job."""

from datetime import date

from odoo.tests import freeze_time, tagged
from odoo.tools import SQL

from odoo.addons.friendly_dunning import _post_init_hook

from .common import DunningCommon

TODAY = date(2026, 12, 2)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestInstallSegmentation(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.deco = cls._dunning_customer("Deco")
        cls._dunning_invoice(cls.deco, date(2026, 10, 1), 31750.0)
        cls.wood = cls._dunning_customer("Wood")
        cls._dunning_invoice(cls.wood, date(2026, 11, 20), 3000.0)
        cls.on_time = cls._dunning_customer("On time")
        cls._dunning_invoice(cls.on_time, date(2026, 12, 20), 50.0)
        cls.customers = cls.deco | cls.wood | cls.on_time
        cls.env.flush_all()
        # A ledger the addon has never seen: no customer has any figure.
        cls.env.cr.execute(
            SQL(
                "UPDATE res_partner SET dunning_score = NULL, "
                "dunning_overdue_amount = NULL, dunning_max_days_overdue = NULL, "
                "dunning_profile = NULL, dunning_next_date = NULL WHERE id = ANY(%s)",
                cls.customers.ids,
            )
        )
        cls.env.invalidate_all()

    def test_install_computes_every_customers_figures(self):
        customers = self.customers.with_company(self.company_a)
        self.assertEqual(customers.mapped("dunning_overdue_amount"), [0.0, 0.0, 0.0])
        _post_init_hook(self.env)
        self.env.invalidate_all()
        self.assertEqual(
            customers.mapped("dunning_overdue_amount"), [31750.0, 3000.0, 0.0]
        )
        self.assertEqual(customers.mapped("dunning_max_days_overdue"), [62, 12, 0])
        self.assertEqual(
            customers.mapped("dunning_aging_bucket"), ["61_90", "1_30", "not_due"]
        )
        self.assertEqual(customers.mapped("dunning_profile"), ["chronic", "new", "new"])
        # A real score: the overdue amount weighs on it.
        self.assertEqual(customers.mapped("dunning_score"), [25, 45, 100])
        self.assertTrue(all(customers.mapped("dunning_next_date")))
        self.assertTrue(customers[0].dunning_due_now)
        self.assertFalse(customers[2].dunning_due_now)
