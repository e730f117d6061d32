from datetime import datetime

from odoo.tests import freeze_time, tagged

from ..models.res_partner_best_hour import best_hour
from .common import NOW, DunningCommon


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestBestHour(DunningCommon):
    """Each customer's best hour to be contacted, learnt from when they read,
    write, use their page and pay, in their time zone; reminders wait for it
    inside the sending window."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lupe = cls._dunning_customer("Lupe", tz="America/Mexico_City")
        cls.Log = cls.env["dunning.portal.log"].sudo()

    def _visit(self, partner, at, company=None):
        self.Log.create(
            {
                "partner_id": partner.id,
                "company_id": (company or self.company_a).id,
                "action": "preferences",
                "date": at,
            }
        )

    def _learn(self, company=None):
        return self.env["res.partner"]._dunning_learn_best_hours(
            company or self.company_a
        )

    def test_best_hour_counts_neighbours_half(self):
        self.assertEqual(best_hour([]), (None, 0))
        self.assertEqual(best_hour([19, 19, 9]), (19, 3))
        # 18 and 20 count half for 19: 19 wins over a lone 9; the earliest
        # of a tie wins.
        self.assertEqual(best_hour([18, 19, 20, 9]), (19, 4))
        self.assertEqual(best_hour([9, 15]), (9, 2))
        # Midnight's neighbours wrap around.
        self.assertEqual(best_hour([23, 0, 1, 12]), (0, 4))

    def test_learnt_in_the_customers_time_zone(self):
        # 01:00 UTC is 19:00 in Mexico City (UTC-6).
        for day in (1, 8, 15):
            self._visit(self.lupe, datetime(2026, 6, day, 1, 10))
        self._visit(self.lupe, datetime(2026, 6, 2, 16, 0))
        self.assertEqual(self._learn(), 1)
        lupe = self.lupe.with_company(self.company_a)
        self.assertEqual(lupe.dunning_best_hour, 19)
        self.assertEqual(lupe.dunning_best_hour_moments, 4)
        self.assertEqual(lupe.dunning_best_hour_label, "19:00-21:00 (from 4 moments)")
        # Reminders wait for it, inside the company's window (8:00-21:00).
        self.assertEqual(lupe._dunning_contact_hours(8, 21), (19, 21))
        # What the customer chose on their page wins.
        self.lupe.dunning_best_time = "morning"
        self.assertEqual(lupe._dunning_contact_hours(8, 21), (8, 12))

    def test_not_learnt_from_too_few_moments_or_old_ones(self):
        self._visit(self.lupe, datetime(2026, 6, 1, 1, 0))
        self._visit(self.lupe, datetime(2026, 6, 8, 1, 0))
        # Older than six months: not counted.
        self._visit(self.lupe, datetime(2025, 11, 1, 1, 0))
        self._learn()
        lupe = self.lupe.with_company(self.company_a)
        self.assertEqual(lupe.dunning_best_hour_moments, 2)
        self.assertFalse(lupe.dunning_best_hour_label)
        self.assertEqual(lupe._dunning_contact_hours(8, 21), (8, 21))

    def test_a_best_hour_outside_the_window_leaves_the_window(self):
        # 05:00 UTC is 23:00 in Mexico City: outside 8:00-21:00.
        for day in (1, 8, 15):
            self._visit(self.lupe, datetime(2026, 6, day, 5, 0))
        self._learn()
        lupe = self.lupe.with_company(self.company_a)
        self.assertEqual(lupe.dunning_best_hour, 23)
        self.assertEqual(lupe._dunning_contact_hours(8, 21), (8, 21))

    def test_the_planner_holds_until_the_best_hour(self):
        for day in (1, 8, 15):
            self._visit(self.lupe, datetime(2026, 6, day, 1, 10))
        self._learn()
        from ..models.dunning_decision import SendingLimits
        from ..models.dunning_planner import DunningPlanner

        limits = SendingLimits(quiet_day=None, sent_today={}, sent_week={})
        lupe = self.lupe.with_company(self.company_a)
        # NOW is 10:00 UTC, 04:00 in Mexico City; 02:00 UTC next day is 20:00.
        for now, expected in (
            (NOW, "quiet_hours"),
            (datetime(2026, 7, 1, 2, 0), None),
        ):
            planner = DunningPlanner(self.env, self.company_a, now)
            hold, unreachable = planner.hold_reasons(lupe, lupe, limits)
            self.assertEqual(hold, expected, now)
            self.assertIsNone(unreachable)
