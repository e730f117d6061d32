from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.dunning_segment import partner_segment_sql
from ..tools.kpi import PAID_WITHIN_DAYS
from .ledger_sql import payment_entry


class DunningReportChannel(models.Model):
    """The channel funnel: one row per message sent to a customer, with how far
    it got and whether a payment followed within a week."""

    _name = "dunning.report.channel"
    _description = "Collections Channel Funnel"
    _auto = False
    _order = "date desc, id desc"
    _rec_name = "partner_id"

    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date(string="Sent on", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    segment_id = fields.Many2one("dunning.segment", readonly=True)
    step_id = fields.Many2one("dunning.step", readonly=True)
    policy_id = fields.Many2one("dunning.policy", readonly=True)
    template_id = fields.Many2one(
        "dunning.whatsapp.template", string="WhatsApp template", readonly=True
    )
    channel = fields.Selection(
        [
            ("whatsapp", "WhatsApp"),
            ("sms", "SMS"),
            ("email", "E-mail"),
            ("sandbox", "Sandbox"),
        ],
        readonly=True,
    )
    kind = fields.Selection(
        [("reminder", "Reminder"), ("manual", "Sent by an accountant")],
        readonly=True,
    )
    sent_count = fields.Integer(
        string="Sent", readonly=True, help="Messages handed to the channel."
    )
    delivered_count = fields.Integer(
        string="Delivered",
        readonly=True,
        help="Messages the provider confirmed as delivered; e-mail messages "
        "count as delivered once sent (unless the mail server refused). The "
        "sandbox delivers nothing.",
    )
    read_count = fields.Integer(
        string="Read", readonly=True, help="Messages the customer opened."
    )
    replied_count = fields.Integer(
        string="Replied", readonly=True, help="Messages the customer answered."
    )
    paid_count = fields.Integer(
        string="Paid within 7 days",
        readonly=True,
        help="Delivered messages followed by a payment on one of their invoices "
        "within 7 days.",
    )
    cost = fields.Monetary(
        readonly=True,
        help="What the provider charges for the message: a delivered WhatsApp "
        "template at the rate card's price, 0 for a free or undelivered one; an "
        "SMS at the provider's price when it gives one; e-mail and the sandbox "
        "nothing.",
    )
    amount_due = fields.Monetary(
        string="Amount covered",
        readonly=True,
        help="Residual of the covered invoices when the message was sent.",
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
            CREATE VIEW %(table)s AS (
                WITH message AS (
                    SELECT c.id, c.company_id, comp.currency_id,
                           c.sent_date::date AS date,
                           c.partner_id, c.step_id, c.policy_id, c.kind,
                           c.wa_template_id AS template_id,
                           COALESCE(ch.channel_type, c.channel) AS channel,
                           -- The sandbox sends nothing, so it costs nothing.
                           CASE WHEN COALESCE(ch.channel_type, c.channel) = 'sandbox'
                                THEN 0 ELSE COALESCE(c.cost, 0) END AS cost,
                           COALESCE(c.amount_due, 0) AS amount_due,
                           c.read_date IS NOT NULL OR c.state IN ('read', 'replied')
                               AS is_read,
                           c.state = 'replied' AS is_replied,
                           CASE WHEN COALESCE(ch.channel_type, c.channel)
                                     = 'email'
                                THEN COALESCE(mm.state, 'sent')
                                     NOT IN ('exception', 'cancel')
                                ELSE c.delivered_date IS NOT NULL
                                     OR c.state IN ('delivered', 'read', 'replied')
                           END AS is_delivered
                      FROM dunning_communication c
                      JOIN res_company comp ON comp.id = c.company_id
                 LEFT JOIN dunning_channel ch ON ch.id = c.channel_id
                 LEFT JOIN mail_mail mm ON mm.id = c.mail_id
                     WHERE c.kind IN ('reminder', 'manual')
                       AND c.sent_date IS NOT NULL
                )
                SELECT message.id, message.company_id, message.currency_id,
                       message.date, message.partner_id,
                       %(segment)s AS segment_id,
                       message.step_id, message.policy_id, message.template_id,
                       message.channel,
                       message.kind, 1 AS sent_count,
                       message.is_delivered::int AS delivered_count,
                       message.is_read::int AS read_count,
                       message.is_replied::int AS replied_count,
                       (message.is_delivered AND EXISTS (
                           SELECT 1
                             FROM dunning_communication_account_move_rel rel
                             JOIN account_move_line l
                               ON l.move_id = rel.move_id AND l.balance > 0
                             JOIN account_partial_reconcile pr
                               ON pr.debit_move_id = l.id
                             JOIN account_move_line pl ON pl.id = pr.credit_move_id
                            WHERE rel.communication_id = message.id
                              AND pr.max_date BETWEEN message.date
                                                  AND message.date + %(window)s
                              AND %(payment)s
                       ))::int AS paid_count,
                       message.cost, message.amount_due
                  FROM message
             LEFT JOIN res_partner p ON p.id = message.partner_id
            )
                """,
                table=SQL.identifier(self._table),
                window=PAID_WITHIN_DAYS,
                payment=payment_entry("pl"),
                segment=partner_segment_sql(SQL("p"), SQL("message.company_id")),
            )
        )
