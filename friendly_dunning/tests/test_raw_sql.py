from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL

from ..models.raw_sql import run_sql, sql_settings


@tagged("post_install", "-at_install")
class TestRawSql(TransactionCase):
    """Hand-written SQL and the ORM cache never overwrite or hide each other."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "Raw SQL customer"})

    def _stored_name(self):
        [[name]] = self.env.execute_query(
            SQL("SELECT name FROM res_partner WHERE id = %s", self.partner.id)
        )
        return name

    def test_a_pending_write_is_flushed_before_the_statement_reads_it(self):
        self.partner.name = "Pending"
        rows = run_sql(
            self.env,
            SQL("SELECT name FROM res_partner WHERE id = %s", self.partner.id),
            reads={"res.partner": ["name"]},
        )
        self.assertEqual(rows, [("Pending",)])

    def test_the_statement_wins_over_a_pending_write_of_the_same_field(self):
        self.partner.name = "Pending"
        run_sql(
            self.env,
            SQL(
                "UPDATE res_partner SET name = 'Written' WHERE id = %s",
                self.partner.id,
            ),
            writes={"res.partner": ["name"]},
        )
        self.assertEqual(self.partner.name, "Written")
        self.env.flush_all()
        self.assertEqual(self._stored_name(), "Written")

    def test_settings_hold_inside_the_block_only(self):
        self.env.execute_query(SQL("SELECT set_config('jit', 'on', true)"))
        with sql_settings(self.env, jit="off", random_page_cost="1.1"):
            self.assertEqual(
                self.env.execute_query(
                    SQL(
                        "SELECT current_setting('jit'), "
                        "current_setting('random_page_cost')"
                    )
                ),
                [("off", "1.1")],
            )
        self.assertEqual(
            self.env.execute_query(SQL("SELECT current_setting('jit')")), [("on",)]
        )
