from odoo import api, fields, models

# What every new company starts with, copied from the main company's records.
SHIPPED_POLICIES = (
    "friendly_dunning.dunning_policy_default",
    "friendly_dunning.dunning_policy_close",
)
SHIPPED_SEGMENTS = (
    "friendly_dunning.dunning_segment_chronic",
    "friendly_dunning.dunning_segment_occasional",
    "friendly_dunning.dunning_segment_reliable",
    "friendly_dunning.dunning_segment_new",
)


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
    dunning_attach_statement = fields.Boolean(
        string="Attach the statement to e-mail reminders",
        default=True,
        help="E-mail reminders carry the customer's statement (PDF) beside the "
        "invoices: everything open, the aging and the total due.",
    )

    dunning_portal_link_days = fields.Integer(
        string="Collections link lifetime (days)",
        default=30,
        help="How long the link to the customer's collections page, sent with "
        "every message, keeps working.",
    )

    _dunning_portal_link_days_positive = models.Constraint(
        "CHECK(dunning_portal_link_days >= 1)",
        "A collections link must stay valid for at least one day.",
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
        """Give each company the channels, policies and segments it starts with.

        A company without any policy gets copies of the policies and segments
        shipped for the main company, so that every company starts with the same
        playbook, which it can then tune on its own.
        """
        Channel = self.env["dunning.channel"].sudo().with_context(active_test=False)
        Policy = self.env["dunning.policy"].sudo().with_context(active_test=False)
        has_channel = {
            company
            for [company] in Channel._read_group(
                [("company_id", "in", self.ids)], ["company_id"]
            )
        }
        has_policy = {
            company
            for [company] in Policy._read_group(
                [("company_id", "in", self.ids)], ["company_id"]
            )
        }
        channel_vals = []
        for company in self:
            if company not in has_channel:
                channel_vals += Channel._dunning_default_channel_values(company)
            if company not in has_policy:
                self._dunning_copy_shipped_playbook(company)
            if not company.dunning_policy_id:
                company.sudo().dunning_policy_id = Policy.search(
                    [("company_id", "=", company.id)], limit=1
                )
        Channel.create(channel_vals)

    def _dunning_copy_shipped_playbook(self, company):
        env = self.env(su=True)  # the shipped records belong to another company
        copies = {}
        for xmlid in SHIPPED_POLICIES:
            policy = env.ref(xmlid, raise_if_not_found=False)
            if policy:
                copies[policy] = policy.copy({"company_id": company.id})
        for xmlid in SHIPPED_SEGMENTS:
            segment = env.ref(xmlid, raise_if_not_found=False)
            if segment and segment.policy_id in copies:
                segment.copy(
                    {
                        "company_id": company.id,
                        "policy_id": copies[segment.policy_id].id,
                    }
                )
