from odoo import api, fields, models

PAUSE_REASONS = [
    ("dispute", "Disputed"),
    ("promise", "Promise to pay"),
    ("plan", "Payment plan"),
    ("payment_reported", "Payment reported"),
    ("manual", "Paused by an accountant"),
]


class AccountMove(models.Model):
    _inherit = "account.move"

    dunning_step_id = fields.Many2one(
        "dunning.step",
        string="Last reminder step",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The last step of the collections policy done for this invoice.",
    )
    dunning_last_date = fields.Date(string="Last reminder", readonly=True, copy=False)
    dunning_next_date = fields.Date(
        string="Next reminder",
        readonly=True,
        copy=False,
        help="When the next step of the customer's policy is due for this invoice.",
    )
    dunning_pause_reason = fields.Selection(
        PAUSE_REASONS,
        string="Reminders paused",
        copy=False,
        tracking=True,
        help="While set, no reminder covers this invoice.",
    )
    dunning_pause_until = fields.Date(
        string="Paused until",
        copy=False,
        tracking=True,
        help="Reminders resume by themselves after this date. Empty: until "
        "someone resumes them.",
    )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        invoices = posted.filtered(lambda move: move.move_type == "out_invoice")
        if invoices:
            self.env["res.partner"]._dunning_schedule_refresh(invoices)
        return posted

    def action_dunning_pause(self, reason="manual", until=None):
        self.write({"dunning_pause_reason": reason, "dunning_pause_until": until})
        self.env["res.partner"]._dunning_schedule_refresh(self)
        return True

    def action_dunning_resume(self):
        self.write({"dunning_pause_reason": False, "dunning_pause_until": False})
        self.env["res.partner"]._dunning_schedule_refresh(self)
        return True

    @api.model
    def _dunning_is_paused_domain(self, today):
        """Invoices whose reminders are paused on ``today``."""
        return [
            ("dunning_pause_reason", "!=", False),
            "|",
            ("dunning_pause_until", "=", False),
            ("dunning_pause_until", ">=", today),
        ]
