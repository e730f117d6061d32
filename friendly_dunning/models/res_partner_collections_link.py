"""The collections link: the signed URL of a customer's collections page.

``/collections/<partner>-<company>-<expiry>-<signature>`` opens one commercial
partner's page with one company's invoices, without logging in, until its
expiry; revoking a customer's links changes the secret their signature uses.
Only the company issues and revokes links: its own processes (sudo) and its
collections team. A link's expiry is final: nothing reached through a link
signs a new one.
"""

import hmac
import re
import secrets
import time

from odoo import api, models
from odoo.exceptions import AccessError
from odoo.tools.misc import hmac as database_hmac

from .res_partner import COLLECTIONS_TEAM

PORTAL_TOKEN_SCOPE = "friendly_dunning.collections_link"
# ``<partner>-<company>-<expiry>-<signature>``: a collections link's token,
# and the session value it is exchanged for (signed with another scope).
SIGNED_VALUE_PATTERN = re.compile(r"^(\d{1,12})-(\d{1,12})-(\d{1,12})-([0-9a-f]{64})$")
# A signed link inside a text, for masking it where it would be read by others.
PORTAL_LINK_IN_TEXT = re.compile(
    r"(/collections/)\d{1,12}-\d{1,12}-\d{1,12}-[0-9a-f]{64}"
)
MASKED_TOKEN = "••••"


def mask_portal_links(text):
    """``text`` with the token of every collections link in it masked: the
    link still says where it leads, but opens nothing."""
    return PORTAL_LINK_IN_TEXT.sub(rf"\g<1>{MASKED_TOKEN}", text or "")


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _dunning_portal_token(self, company=None, now=None):
        """A signed token opening the collections page of this commercial
        partner with ``company``'s invoices, valid for the company's link
        lifetime from ``now`` (epoch seconds)."""
        self.ensure_one()
        return self._dunning_portal_tokens(company, now)[self.commercial_partner_id.id]

    def _dunning_portal_tokens(self, company=None, now=None):
        """``{commercial partner id: token}`` (see ``_dunning_portal_token``)
        for these partners, with the expiry worked out once."""
        self._dunning_check_link_rights()
        company = (company or self.env.company).sudo()
        expiry = int(now or time.time()) + 86400 * max(
            1, company.dunning_portal_link_days
        )
        return {
            partner.id: partner._dunning_signed_value(
                PORTAL_TOKEN_SCOPE, company.id, expiry
            )
            for partner in self.commercial_partner_id.sudo()
        }

    def _dunning_portal_urls(self, company=None):
        """``{commercial partner id: absolute signed URL}`` of these partners'
        collections pages (see ``_dunning_portal_url``)."""
        return {
            partner_id: f"{self.browse(partner_id).get_base_url()}/collections/{token}"
            for partner_id, token in self._dunning_portal_tokens(company).items()
        }

    def _dunning_signed_value(self, scope, company_id, expiry):
        """``<partner>-<company>-<expiry>-<signature>`` for this commercial
        partner, signed for ``scope`` over the customer's revocation nonce, so
        that revoking ends every value signed so far."""
        self.ensure_one()
        signature = database_hmac(
            self.env(su=True),
            scope,
            # No nonce yet: no link of this customer was ever revoked.
            f"{self.id}|{company_id}|{expiry}|{self.sudo().dunning_portal_nonce or ''}",
        )
        return f"{self.id}-{company_id}-{expiry}-{signature}"

    @api.model
    def _dunning_check_signed_value(self, scope, value, now=None):
        """``(commercial partner, company)`` (sudo) a value signed for
        ``scope`` opens, or ``None`` for a malformed, tampered, revoked or
        expired one."""
        match = SIGNED_VALUE_PATTERN.match(value or "")
        if not match:
            return None
        partner_id, company_id, expiry = (int(part) for part in match.groups()[:3])
        if expiry < (now or time.time()):
            return None
        partner = self.sudo().browse(partner_id).exists()
        company = self.env["res.company"].sudo().browse(company_id).exists()
        if not partner or not company or partner.commercial_partner_id != partner:
            return None
        expected = partner._dunning_signed_value(scope, company.id, expiry)
        if not hmac.compare_digest(expected, value):
            return None
        return partner, company

    def _dunning_portal_url(self):
        """The absolute signed URL of the customer's collections page."""
        self.ensure_one()
        return self._dunning_portal_urls()[self.commercial_partner_id.id]

    @api.model
    def _dunning_portal_check_token(self, token, now=None):
        """``(commercial partner, company)`` (sudo) the token opens, or
        ``None`` for a malformed, tampered, revoked or expired token."""
        return self._dunning_check_signed_value(PORTAL_TOKEN_SCOPE, token, now)

    @api.model
    def _dunning_may_issue_links(self):
        """Whether this environment may sign or revoke collections links: the
        company's own processes (sudo) and its collections team."""
        return self.env.su or self.env.user.has_group(COLLECTIONS_TEAM)

    @api.model
    def _dunning_check_link_rights(self):
        if not self._dunning_may_issue_links():
            raise AccessError(
                self.env._(
                    "Only the collections team issues and revokes customers' "
                    "collections links."
                )
            )

    def action_dunning_revoke_portal_link(self):
        """Invalidate every collections link sent to these customers."""
        self._dunning_check_link_rights()
        # Customers of the user's companies only (record rules).
        self.check_access("read")
        partners = self.commercial_partner_id.sudo()
        for partner in partners:
            partner.dunning_portal_nonce = secrets.token_hex(16)
        partners._dunning_portal_forget_invoice_access()
        partners._message_log_batch(
            bodies=dict.fromkeys(
                partners.ids,
                self.env._(
                    "Collections links revoked: the links sent so far no longer "
                    "open the customer's page."
                ),
            )
        )
        return True
