from datetime import date

from odoo.tests import freeze_time, tagged
from odoo.tools import SQL

from .common import DunningCommon

TODAY = date(2026, 6, 30)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestSegmentation(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.company_a
        # Pays everything before the due date.
        cls.reliable = cls._dunning_customer("Reliable")
        for due, paid in [
            (date(2026, 2, 10), date(2026, 2, 8)),
            (date(2026, 3, 10), date(2026, 3, 10)),
            (date(2026, 4, 10), date(2026, 4, 1)),
            (date(2026, 5, 10), date(2026, 5, 9)),
        ]:
            cls._dunning_pay(cls._dunning_invoice(cls.reliable, due), paid)
        # Usually on time, once a bit late.
        cls.occasional = cls._dunning_customer("Occasional")
        for due, paid in [
            (date(2026, 2, 10), date(2026, 2, 10)),
            (date(2026, 3, 10), date(2026, 3, 9)),
            (date(2026, 4, 10), date(2026, 4, 10)),
            (date(2026, 5, 10), date(2026, 5, 16)),
        ]:
            cls._dunning_pay(cls._dunning_invoice(cls.occasional, due), paid)
        # Late habitually: one paid 45 days late, one open 70 days, one 10 days,
        # one of them disputed.
        cls.chronic = cls._dunning_customer("Chronic")
        cls._dunning_pay(
            cls._dunning_invoice(cls.chronic, date(2026, 1, 15), 300.0),
            date(2026, 3, 1),
        )
        cls.chronic_70 = cls._dunning_invoice(cls.chronic, date(2026, 4, 21), 500.0)
        cls.chronic_10 = cls._dunning_invoice(cls.chronic, date(2026, 6, 20), 200.0)
        cls._dunning_pay(cls.chronic_10, date(2026, 6, 25), amount=50.0)
        cls.chronic_dispute = cls.chronic._dunning_open_dispute(
            cls.chronic_10, reason="price", words="The price is not the agreed one."
        )
        # One invoice, not yet due.
        cls.newcomer = cls._dunning_customer("Newcomer")
        cls._dunning_invoice(cls.newcomer, date(2026, 7, 15), invoice_date=TODAY)
        cls.env["res.partner"]._dunning_refresh_segmentation(companies=company)
        cls.segments = {
            segment.profile: segment
            for segment in cls.env["dunning.segment"].search(
                [("company_id", "=", company.id)]
            )
        }

    def test_reliable_payer(self):
        partner = self.reliable
        self.assertEqual(partner.dunning_profile, "reliable")
        self.assertEqual(partner.dunning_score, 100)
        self.assertEqual(partner.dunning_aging_bucket, "not_due")
        self.assertEqual(partner.dunning_overdue_amount, 0.0)
        self.assertEqual(partner.dunning_segment_id, self.segments["reliable"])
        self.assertEqual(partner.dunning_policy_id, self.company_a.dunning_policy_id)

    def test_occasional_late_payer(self):
        partner = self.occasional
        self.assertEqual(partner.dunning_profile, "occasional")
        # 3 of 4 on time (30/40), 6 days late on average (23/25), 15, 10, 10.
        self.assertEqual(partner.dunning_score, 30 + 23 + 15 + 10 + 10)
        self.assertEqual(partner.dunning_segment_id, self.segments["occasional"])

    def test_chronic_late_payer(self):
        partner = self.chronic
        self.assertEqual(partner.dunning_profile, "chronic")
        self.assertEqual(partner.dunning_max_days_overdue, 70)
        self.assertEqual(partner.dunning_aging_bucket, "61_90")
        # Open residuals past due: 500 + (200 - 50).
        self.assertAlmostEqual(partner.dunning_overdue_amount, 650.0)
        self.assertEqual(partner.dunning_open_disputes, 1)
        # None of 3 on time (0/40); late 45, 70 and 10 days: 41.7 on average
        # (8/25); no broken promise (15); one dispute (5); 650 overdue of 1,000
        # invoiced in 12 months (4/10).
        self.assertEqual(partner.dunning_score, 0 + 8 + 15 + 5 + 4)
        self.assertEqual(partner.dunning_segment_id, self.segments["chronic"])
        self.assertEqual(partner.dunning_policy_id, self.segments["chronic"].policy_id)
        # The disputed invoice waits; the 70-day one's next step comes first.
        self.assertEqual(partner.dunning_next_date, self.chronic_70.dunning_next_date)
        self.assertNotEqual(partner.dunning_policy_id, self.company_a.dunning_policy_id)

    def test_new_customer(self):
        partner = self.newcomer
        self.assertEqual(partner.dunning_profile, "new")
        self.assertEqual(partner.dunning_aging_bucket, "not_due")
        self.assertEqual(partner.dunning_segment_id, self.segments["new"])

    def test_score_is_explained_on_the_partner(self):
        explanation = str(self.chronic.dunning_score_explanation)
        self.assertIn("Invoices paid on time: 0%", explanation)
        self.assertIn("Open disputes: 1", explanation)
        self.assertIn("5 / 10", explanation)

    def test_a_rejected_dispute_no_longer_counts(self):
        """During the grace days after a rejection the invoice stays paused,
        but the dispute is answered: the score no longer counts it."""
        self.chronic_dispute.resolution = "The price is the one of the order."
        self.chronic_dispute.action_reject()
        self.assertEqual(self.chronic_10.dunning_pause_reason, "dispute")
        self.env["res.partner"]._dunning_refresh_segmentation(
            companies=self.company_a, partners=self.chronic
        )
        self.assertEqual(self.chronic.dunning_open_disputes, 0)
        self.assertEqual(self.chronic.dunning_score, 0 + 8 + 15 + 10 + 4)

    def test_values_are_per_company(self):
        other = self.chronic.with_company(self.company_b)
        self.assertFalse(other.dunning_profile)
        self.assertEqual(other.dunning_overdue_amount, 0.0)

    def test_kept_current_when_invoices_are_paid(self):
        self._dunning_pay(self.chronic_70, TODAY)
        self._dunning_pay(self.chronic_10, TODAY)
        self.env.cr.flush()  # runs the pre-commit refresh
        self.assertEqual(self.chronic.dunning_overdue_amount, 0.0)
        self.assertEqual(self.chronic.dunning_aging_bucket, "not_due")

    def test_kept_current_when_an_invoice_is_posted(self):
        late = self._dunning_customer("Late newcomer")
        self._dunning_invoice(late, date(2026, 6, 1), 80.0)
        self.env.cr.flush()
        self.assertEqual(late.dunning_max_days_overdue, 29)
        self.assertEqual(late.dunning_aging_bucket, "1_30")
        self.assertAlmostEqual(late.dunning_overdue_amount, 80.0)

    def test_refresh_is_set_based(self):
        Partner = self.env["res.partner"]
        Partner._dunning_refresh_segmentation(companies=self.company_a)
        for _i in range(3):
            self._dunning_invoice(self._dunning_customer(f"More {_i}"), TODAY)
        self.env.cr.flush()
        # The facts between JIT off and JIT back as it was (the setting read
        # and set in one query, restored in another), broken promises,
        # segments, attributes, stale rows, new rows, and next dates again for
        # customers whose new segment has another policy (none here).
        with self.assertQueryCount(8):
            Partner._dunning_refresh_segmentation(companies=self.company_a)

    def _stored(self, partner, column):
        """What the database holds for ``partner``'s ``column`` in company A,
        whatever the ORM has in its cache."""
        self.env.cr.execute(
            SQL(
                "SELECT %s ->> %s FROM res_partner WHERE id = %s",
                SQL.identifier(column),
                str(self.company_a.id),
                partner.id,
            )
        )
        return self.env.cr.fetchone()[0]

    def test_refresh_wins_over_a_pending_orm_write(self):
        """A segmentation value written through the ORM and not yet flushed
        is flushed before the refresh stores its own, not over it after."""
        self.assertEqual(self.chronic.dunning_profile, "chronic")
        self.chronic.dunning_profile = "reliable"  # pending in the ORM
        self.env["res.partner"]._dunning_refresh_segmentation(companies=self.company_a)
        self.assertEqual(self.chronic.dunning_profile, "chronic")
        self.env.flush_all()
        self.assertEqual(self._stored(self.chronic, "dunning_profile"), "chronic")
        self.env.invalidate_all()
        self.assertEqual(self.chronic.dunning_profile, "chronic")

    def test_next_dates_refresh_wins_over_a_pending_orm_write(self):
        expected = self.chronic.dunning_next_date
        self.assertTrue(expected)
        self.chronic.dunning_next_date = date(2030, 1, 1)  # pending in the ORM
        self.env["res.partner"]._dunning_refresh_next_dates(
            self.company_a, self.chronic.ids
        )
        self.assertEqual(self.chronic.dunning_next_date, expected)
        self.env.flush_all()
        self.assertEqual(
            self._stored(self.chronic, "dunning_next_date"), expected.isoformat()
        )

    def _row_versions(self, partners):
        """PostgreSQL's row version (xmin) of each partner: it changes
        whenever the row is rewritten, even with the same values."""
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT id, xmin::text FROM res_partner WHERE id = ANY(%s)", [partners.ids]
        )
        return dict(self.env.cr.fetchall())

    def test_an_unchanged_customer_is_not_rewritten(self):
        Partner = self.env["res.partner"]
        customers = self.reliable | self.occasional | self.chronic
        Partner._dunning_refresh_segmentation(companies=self.company_a)
        before = self._row_versions(customers)
        self._dunning_pay(self.chronic_70, TODAY)
        Partner._dunning_refresh_segmentation(companies=self.company_a)
        after = self._row_versions(customers)
        # Only the customer whose invoice got paid gets a new row version.
        self.assertEqual(after[self.reliable.id], before[self.reliable.id])
        self.assertEqual(after[self.occasional.id], before[self.occasional.id])
        self.assertNotEqual(after[self.chronic.id], before[self.chronic.id])
        self.assertEqual(self.chronic.dunning_aging_bucket, "1_30")

    def test_changing_values_are_not_indexed(self):
        """An index on a column the refresh changes every day would keep
        PostgreSQL from updating the rows in place (HOT updates)."""
        self.env.cr.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'res_partner' "
            "AND indexname LIKE 'res_partner__dunning%%'"
        )
        indexed = {name for [name] in self.env.cr.fetchall()}
        self.assertFalse(
            indexed
            & {
                "res_partner__dunning_overdue_amount_index",
                "res_partner__dunning_max_days_overdue_index",
                "res_partner__dunning_score_index",
                "res_partner__dunning_next_date_index",
            }
        )
        self.assertIn("res_partner__dunning_segment_id_index", indexed)
