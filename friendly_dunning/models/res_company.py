from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        string="Default collections policy",
        domain="[('company_id', '=', id)]",
        help="Policy used for customers that no segment assigns another one to.",
    )
    dunning_quiet_hour_start = fields.Float(
        string="Send reminders from",
        default=8.0,
        help="No message is sent before this hour, in the customer's time zone.",
    )
    dunning_quiet_hour_end = fields.Float(
        string="Send reminders until",
        default=21.0,
        help="No message is sent after this hour, in the customer's time zone.",
    )
    dunning_max_per_day = fields.Integer(
        string="Messages per customer per day",
        default=1,
        help="At most this many collections messages reach one customer in a day.",
    )
    dunning_max_per_week = fields.Integer(
        string="Messages per customer per 7 days",
        default=3,
        help="At most this many collections messages reach one customer in any 7 days.",
    )
    dunning_hold_weekends = fields.Boolean(
        string="Hold messages on weekends",
        help="When set, messages due on a Saturday or Sunday wait for Monday.",
    )
    dunning_hold_holidays = fields.Boolean(
        string="Hold messages on public holidays",
        help="When set, messages due on a public holiday of the company's "
        "working calendar wait for the next working day.",
    )

    _dunning_quiet_hours_valid = models.Constraint(
        "CHECK(dunning_quiet_hour_start >= 0 AND dunning_quiet_hour_end <= 24 "
        "AND dunning_quiet_hour_start < dunning_quiet_hour_end)",
        "The sending window must start before it ends, within the day (0 to 24).",
    )
    _dunning_caps_valid = models.Constraint(
        "CHECK(dunning_max_per_day >= 1 "
        "AND dunning_max_per_week >= dunning_max_per_day)",
        "Allow at least one message a day, and no fewer per week than per day.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._dunning_ensure_defaults()
        return companies

    def _dunning_ensure_defaults(self):
        """Give each company the channels and the default policy it starts with.

        New companies copy the policy shipped as data for the main company, so
        that an accountant who tuned it sees the same steps everywhere.
        """
        Channel = self.env["dunning.channel"].sudo().with_context(active_test=False)
        Policy = self.env["dunning.policy"].sudo().with_context(active_test=False)
        template = self.env.ref(
            "friendly_dunning.dunning_policy_default", raise_if_not_found=False
        )
        has_channel = {
            company
            for [company] in Channel._read_group(
                [("company_id", "in", self.ids)], ["company_id"]
            )
        }
        channel_vals = []
        for company in self:
            if company not in has_channel:
                channel_vals += Channel._dunning_default_channel_values(company)
            if company.dunning_policy_id:
                continue
            policy = Policy.search([("company_id", "=", company.id)], limit=1)
            if not policy and template:
                policy = template.sudo().copy({"company_id": company.id})
            company.sudo().dunning_policy_id = policy
        Channel.create(channel_vals)
