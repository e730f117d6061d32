"""Each customer's best hour to be contacted, learnt from when they act.

When a customer reads a reminder, writes to us, uses their collections page or
pays on it tells when they pay attention. The hours of those moments over the
last months, in the customer's time zone, are counted; the best hour is the one
with the most of them and their neighbours (an hour's count plus half of each
adjacent hour's, so that 18:55 and 19:05 agree). Reminders then wait for that
hour, inside the company's sending window and the compliance pack's hours.
"""

from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.tools import SQL

from .raw_sql import run_sql
from .res_partner import RECEIVABLES_READERS

# How far back the moments are read.
BEST_HOUR_DAYS = 180
# Moments needed before an hour is trusted.
BEST_HOUR_MIN_EVENTS = 3
# How long the window around the best hour lasts.
BEST_HOUR_SPAN = 2

# The moments a customer acted, as (commercial partner, UTC timestamp).
MOMENTS_SQL = """
    SELECT partner.commercial_partner_id, moment.at
      FROM (
            SELECT partner_id, read_date AS at
              FROM dunning_communication
             WHERE read_date >= %(since)s AND company_id = %(company)s
            UNION ALL
            SELECT partner_id, date
              FROM dunning_portal_log
             WHERE date >= %(since)s AND company_id = %(company)s
               AND refused IS NOT TRUE
            UNION ALL
            SELECT DISTINCT ON (inbound.id) conversation.partner_id,
                   inbound.sent_date
              FROM dunning_inbound inbound
              JOIN dunning_conversation conversation
                ON conversation.number = inbound.sender
               AND conversation.company_id = inbound.company_id
             WHERE inbound.sent_date >= %(since)s
               AND inbound.company_id = %(company)s
            UNION ALL
            SELECT partner_id, create_date
              FROM payment_transaction
             WHERE create_date >= %(since)s AND company_id = %(company)s
               AND state = 'done' AND operation != 'offline'
           ) moment
      JOIN res_partner partner ON partner.id = moment.partner_id
"""
MOMENTS_READS = {
    "dunning.communication": ["partner_id", "read_date", "company_id"],
    "dunning.portal.log": ["partner_id", "date", "company_id", "refused"],
    "dunning.inbound": ["sender", "sent_date", "company_id"],
    "dunning.conversation": ["partner_id", "number", "company_id"],
    "payment.transaction": [
        "partner_id",
        "create_date",
        "company_id",
        "state",
        "operation",
    ],
    "res.partner": ["commercial_partner_id"],
}


def best_hour(hours):
    """``(hour, moments)``: the local hour (0-23) with the most ``hours`` of
    moments, each hour's count plus half of each neighbour's; the earliest
    on a tie. ``(None, 0)`` without any."""
    counts = [0] * 24
    for hour in hours:
        counts[hour] += 1
    total = sum(counts)
    if not total:
        return None, 0
    scores = [
        counts[hour] + (counts[hour - 1] + counts[(hour + 1) % 24]) / 2
        for hour in range(24)
    ]
    best = max(range(24), key=lambda hour: (scores[hour], -hour))
    return best, total


class ResPartner(models.Model):
    _inherit = "res.partner"

    dunning_best_hour = fields.Integer(
        string="Best hour to reach",
        readonly=True,
        help="The hour of the day (in the customer's time zone) they most often "
        "read our messages, write to us, open their page or pay; reminders "
        "wait for it. Learnt when there are enough such moments.",
        groups=RECEIVABLES_READERS,
    )
    dunning_best_hour_moments = fields.Integer(
        string="Moments learnt from",
        readonly=True,
        help="How many reads, replies, page visits and payments of the last six "
        "months the best hour was learnt from.",
        groups=RECEIVABLES_READERS,
    )
    dunning_best_hour_label = fields.Char(
        string="Best hour",
        compute="_compute_dunning_best_hour_label",
        groups=RECEIVABLES_READERS,
    )

    @api.depends("dunning_best_hour", "dunning_best_hour_moments")
    def _compute_dunning_best_hour_label(self):
        for partner in self:
            partner.dunning_best_hour_label = (
                self.env._(
                    "%(start)02d:00-%(end)02d:00 (from %(count)s moments)",
                    start=partner.dunning_best_hour,
                    end=(partner.dunning_best_hour + BEST_HOUR_SPAN) % 24,
                    count=partner.dunning_best_hour_moments,
                )
                if partner.dunning_best_hour_moments >= BEST_HOUR_MIN_EVENTS
                else False
            )

    @api.model
    def _dunning_learn_best_hours(self, company, now=None):
        """Learn the best hour of every customer of ``company`` who acted in
        the last six months; those who did not keep what they had."""
        now = now or fields.Datetime.now()
        rows = run_sql(
            self.env,
            SQL(
                MOMENTS_SQL,
                since=now - timedelta(days=BEST_HOUR_DAYS),
                company=company.id,
            ),
            reads=MOMENTS_READS,
        )
        moments = {}
        for partner_id, at in rows:
            moments.setdefault(partner_id, []).append(at)
        partners = self.browse(list(moments)).sudo()
        default_tz = company.partner_id.tz or "UTC"
        learnt = []
        for partner in partners:
            zone = pytz.timezone(partner.tz or default_tz)
            hour, count = best_hour(
                pytz.utc.localize(at).astimezone(zone).hour
                for at in moments[partner.id]
            )
            learnt.append((partner.id, hour, count))
        if learnt:
            ids, hours, counts = zip(*learnt, strict=True)
            run_sql(
                self.env,
                SQL(
                    "UPDATE res_partner p SET dunning_best_hour = v.hour, "
                    "dunning_best_hour_moments = v.moments "
                    "FROM unnest(%s::int4[], %s::int4[], %s::int4[]) "
                    "AS v(id, hour, moments) WHERE p.id = v.id "
                    "AND (p.dunning_best_hour IS DISTINCT FROM v.hour "
                    "OR p.dunning_best_hour_moments IS DISTINCT FROM v.moments)",
                    list(ids),
                    list(hours),
                    list(counts),
                ),
                writes={
                    "res.partner": ["dunning_best_hour", "dunning_best_hour_moments"]
                },
            )
        return len(learnt)

    def _dunning_learnt_window(self):
        """``(start, end)`` hours around the customer's learnt best hour, or
        None when not learnt yet."""
        partner = self.commercial_partner_id.sudo()
        if partner.dunning_best_hour_moments < BEST_HOUR_MIN_EVENTS:
            return None
        return partner.dunning_best_hour, partner.dunning_best_hour + BEST_HOUR_SPAN
