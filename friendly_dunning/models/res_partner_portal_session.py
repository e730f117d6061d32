"""The short session a collections link is exchanged for.

The first visit of ``/collections/<token>`` checks the link and hands the
browser a session value in an HttpOnly cookie instead, so that the token
leaves the address bar, the history and the logs of the pages that follow.
The value ``<partner>-<company>-<expiry>-<signature>`` is signed with a scope
of its own (a session value never opens anything as a link) over the
customer's revocation nonce: revoking the customer's links ends their
sessions too. A session never outlives the link it came from.
"""

import time

from odoo import api, models

PORTAL_SESSION_SCOPE = "friendly_dunning.collections_session"
PORTAL_SESSION_SECONDS = 2 * 3600


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _dunning_portal_session(self, company, link_token, now=None):
        """``(value, expiry)`` of a session on this commercial partner's page
        with ``company``'s invoices, for the visitor of the valid collections
        link ``link_token``: it ends with the link at the latest."""
        self.ensure_one()
        link_expiry = int(link_token.split("-")[2])
        expiry = min(int(now or time.time()) + PORTAL_SESSION_SECONDS, link_expiry)
        value = self._dunning_signed_value(PORTAL_SESSION_SCOPE, company.id, expiry)
        return value, expiry

    @api.model
    def _dunning_portal_check_session(self, value, now=None):
        """``(commercial partner, company)`` (sudo) of a session value, or
        ``None`` for a malformed, tampered, revoked or ended one."""
        return self._dunning_check_signed_value(PORTAL_SESSION_SCOPE, value, now)

    def _dunning_portal_forget_invoice_access(self):
        """Give these customers' invoices new portal access tokens, so that
        ``/my/invoices/<id>?access_token=...`` links handed out before (in
        reminders or invoice e-mails, and forwarded from there) stop opening
        them. Called when the customer's collections links are
        revoked; Odoo makes a fresh token when it next sends an invoice."""
        invoices = (
            self.env["account.move"]
            .sudo()
            .search(
                [
                    ("commercial_partner_id", "in", self.commercial_partner_id.ids),
                    ("move_type", "in", ("out_invoice", "out_refund")),
                    ("access_token", "!=", False),
                ]
            )
        )
        invoices.access_token = False
        return True
