from odoo import api, fields, models
from odoo.tools import SQL

from .dunning_step import CHANNELS

SOURCES = [
    ("portal", "Customer's page"),
    ("reply", "Reply to a message"),
    ("import", "Import"),
    ("manual", "Recorded by an accountant"),
]


class DunningConsent(models.Model):
    """The consent ledger: every opt-in and opt-out of a customer for a channel,
    never edited, so that the latest entry is the customer's current choice and
    the history is the audit trail."""

    _name = "dunning.consent"
    _description = "Collections Contact Consent"
    _order = "date desc, id desc"

    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, ondelete="cascade"
    )
    channel = fields.Selection(CHANNELS, required=True)
    state = fields.Selection(
        [("opted_in", "Opted in"), ("opted_out", "Opted out")], required=True
    )
    source = fields.Selection(SOURCES, required=True, default="manual")
    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)
    note = fields.Char(help="How or where the customer said it.")
    user_id = fields.Many2one(
        "res.users", string="Recorded by", default=lambda self: self.env.user
    )

    @api.model
    def _current_states(self, partners):
        """``{(partner_id, channel): 'opted_in' | 'opted_out'}`` from each
        partner's latest entry per channel; no entry, no key."""
        if not partners:
            return {}
        self.flush_model()
        rows = self.env.execute_query(
            SQL(
                """
            SELECT DISTINCT ON (partner_id, channel) partner_id, channel, state
              FROM dunning_consent
             WHERE partner_id = ANY(%s)
          ORDER BY partner_id, channel, date DESC, id DESC
                """,
                partners.ids,
            )
        )
        return {(partner_id, channel): state for partner_id, channel, state in rows}

    @api.model
    def _record(self, partners, channel, state, source, note=None, date=None):
        """Add one ledger entry per partner and log it in their chatter.

        ``date`` is when the customer said it by a provider's clock (now when
        not given). A partner whose ledger already holds a later entry for
        ``channel`` gets none then: a message delivered late never undoes a
        newer choice. Returns the entries added."""
        superseded = set()
        if date:
            superseded = {
                partner
                for [partner] in self.sudo()._read_group(
                    [
                        ("partner_id", "in", partners.ids),
                        ("channel", "=", channel),
                        ("date", ">", date),
                    ],
                    ["partner_id"],
                )
            }
        date = date or fields.Datetime.now()
        entries = self.sudo().create(
            [
                {
                    "partner_id": partner.id,
                    "channel": channel,
                    "state": state,
                    "source": source,
                    "note": note,
                    "date": date,
                }
                for partner in partners
                if partner not in superseded
            ]
        )
        entries.partner_id._message_log_batch(
            bodies={entry.partner_id.id: entry._chatter_text() for entry in entries}
        )
        return entries

    def _chatter_text(self):
        self.ensure_one()
        channels = dict(self._fields["channel"]._description_selection(self.env))
        sources = dict(self._fields["source"]._description_selection(self.env))
        if self.state == "opted_in":
            return self.env._(
                "Agreed to receive collections messages by %(channel)s (%(how)s).",
                channel=channels[self.channel],
                how=sources[self.source],
            )
        return self.env._(
            "Asked not to receive collections messages by %(channel)s (%(how)s).",
            channel=channels[self.channel],
            how=sources[self.source],
        )
