"""The rate limits of the customer's collections page.

Hits are counted per key in fixed ten-minute windows, one row per key and
window. Counting is one ``INSERT ... ON CONFLICT DO UPDATE`` per key: two
concurrent requests on one key conflict on its row, so the second one waits
and, in Odoo's repeatable-read transactions, is retried with the first one's
count; no check-then-insert race lets a burst through.

Each request is counted first against its *party* (who asks: the link's
customer and the visitor's address) and only then, if the party is within
its share, against the *link* (the customer, whoever asks). A party over its
limit is refused before the link's count moves, so one visitor hammering the
page uses up their own share, never the customer's.
"""

import time

from odoo import api, fields, models
from odoo.tools import SQL

from .raw_sql import run_sql

WINDOW_SECONDS = 600
# kind: (hits per party, hits per link) in one window.
LIMITS = {
    "view": (120, 600),
    "download": (30, 150),
    "pay": (30, 150),
    "form": (10, 100),
}
# Tokens that open nothing, per visitor address (there is no customer yet).
BAD_LINK_LIMIT = 30


class DunningPortalRate(models.Model):
    _name = "dunning.portal.rate"
    _description = "Collections Page Rate Counter"
    _log_access = False

    key = fields.Char(required=True)
    window_index = fields.Integer(required=True)
    hits = fields.Integer(required=True, default=0)

    _key_window_unique = models.UniqueIndex("(key, window_index)")

    def _dunning_count(self, key, now=None):
        """Count one hit on ``key`` in the current window; answer the window's
        hits, this one included."""
        window_index = int((now or time.time()) // WINDOW_SECONDS)
        rows = run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_portal_rate (key, window_index, hits) "
                "VALUES (%s, %s, 1) ON CONFLICT (key, window_index) "
                "DO UPDATE SET hits = dunning_portal_rate.hits + 1 RETURNING hits",
                key[:200],
                window_index,
            ),
            writes={"dunning.portal.rate": None},
        )
        return rows[0][0]

    @api.model
    def _dunning_allow(self, kind, partner, address, now=None):
        """Whether ``address`` may make one more request of ``kind`` on
        ``partner``'s page; counts it."""
        per_party, per_link = LIMITS[kind]
        if self._dunning_count(f"{kind}:{partner.id}:{address}", now) > per_party:
            return False
        return self._dunning_count(f"{kind}:{partner.id}", now) <= per_link

    @api.model
    def _dunning_allow_bad_link(self, address, now=None):
        """Whether ``address`` still gets the expired-link page for a token
        that opens nothing (rather than a plain 429); counts it."""
        return self._dunning_count(f"bad_link:{address}", now) <= BAD_LINK_LIMIT

    @api.autovacuum
    def _gc_dunning_windows(self):
        """Drop the counters of windows that ended."""
        run_sql(
            self.env,
            SQL(
                "DELETE FROM dunning_portal_rate WHERE window_index < %s",
                int(time.time() // WINDOW_SECONDS) - 1,
            ),
            writes={"dunning.portal.rate": None},
        )
