from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

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
    dunning_autopay_retry_days = fields.Char(
        string="Retry declined automatic payments after",
        default="1,3,7",
        help="Days after a declined automatic payment when it is tried again, "
        "separated by commas, each counted from the try before. After the last "
        "try the instalment gets the normal reminders.",
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

    dunning_auto_send = fields.Boolean(
        string="Automatic sending",
        readonly=True,
        help="When on, the hourly run sends the reminders it decides. Off until a "
        "collections administrator turns it on from the preview of the next run; "
        "while off, the run only keeps the customers' figures up to date and "
        "accountants send reminders themselves.",
    )
    dunning_auto_send_user_id = fields.Many2one(
        "res.users",
        string="Automatic sending changed by",
        readonly=True,
        help="Who last turned automatic sending on or off.",
    )
    dunning_auto_send_date = fields.Datetime(
        string="Automatic sending changed on", readonly=True
    )
    dunning_due_customer_count = fields.Integer(
        string="Customers due a reminder",
        readonly=True,
        help="How many customers the next run would remind, counted by the "
        "hourly job while automatic sending is off.",
    )
    dunning_due_counted_on = fields.Datetime(
        string="Customers due counted on", readonly=True
    )

    dunning_interest_rule = fields.Selection(
        [
            ("none", "No interest"),
            ("fixed", "Fixed annual rate"),
            ("eu_statutory", "EU statutory (reference rate + points)"),
        ],
        string="Late-payment interest",
        default="none",
        required=True,
        help="How late-payment interest and the recovery fee are computed. "
        "Fixed: a fixed annual rate. EU statutory: the reference rate in force "
        "on 1 January or 1 July of each half-year, plus the points below "
        "(Late Payment Directive 2011/7/EU). No interest: neither interest nor "
        "fee.",
    )
    dunning_interest_rate = fields.Float(
        string="Annual interest rate (%)",
        digits=(16, 4),
        help="The fixed annual rate, in percent.",
    )
    dunning_interest_points = fields.Float(
        string="Points above the reference rate",
        digits=(16, 4),
        default=8.0,
        help="Percentage points added to the reference rate: 8 in the "
        "directive; some member states set more.",
    )
    dunning_recovery_fee = fields.Float(
        string="Recovery fee",
        default=40.0,
        help="Charged once per late invoice, converted to the invoice's currency "
        "at its due date. 0: no fee.",
    )
    dunning_recovery_fee_currency_id = fields.Many2one(
        "res.currency",
        string="Recovery fee currency",
        default=lambda self: self.env.ref("base.EUR", raise_if_not_found=False),
    )
    dunning_interest_consumers = fields.Boolean(
        string="Charge consumers too",
        help="When off, interest and the fee are charged to business customers "
        "only (a customer whose company is marked as a company).",
    )

    dunning_interest_use = fields.Selection(
        [
            ("shown", "Shown to the customer"),
            ("invoiced", "Invoiced at a step"),
        ],
        string="Use of the charges",
        default="shown",
        required=True,
        help="Shown: the customer's page and the invoice show the charges, "
        'nothing is invoiced. Invoiced: the steps marked "Invoice the '
        'late-payment charges" raise a separate interest invoice for what the '
        "invoice owes by then; the late invoice itself is never changed.",
    )
    dunning_waiver_days = fields.Integer(
        string="Days to pay for a waiver",
        default=7,
        help="A step that offers to waive the charges gives the customer this "
        "many days: paid in full by then, the invoice's interest and fee are "
        "waived, and interest invoices already raised for it are credited.",
    )

    _dunning_interest_figures_valid = models.Constraint(
        "CHECK(dunning_interest_rate >= 0 AND dunning_interest_points >= 0 "
        "AND dunning_recovery_fee >= 0)",
        "Interest rates, points and the recovery fee cannot be negative.",
    )
    _dunning_waiver_days_positive = models.Constraint(
        "CHECK(dunning_waiver_days >= 1)",
        "A waiver offer must give the customer at least one day to pay.",
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

    @api.constrains("dunning_autopay_retry_days")
    def _check_dunning_autopay_retry_days(self):
        for company in self:
            company._dunning_autopay_retry_days()

    def _dunning_autopay_retry_days(self):
        """The retry days of declined automatic payments, as integers."""
        self.ensure_one()
        text = (self.dunning_autopay_retry_days or "").replace(" ", "")
        try:
            days = [int(part) for part in text.split(",") if part]
        except ValueError:
            days = None
        if days is None or any(day < 1 or day > 60 for day in days) or len(days) > 10:
            raise ValidationError(
                self.env._(
                    "Retry days are up to ten whole numbers of days between 1 and 60, "
                    "separated by commas, such as 1,3,7."
                )
            )
        return days

    @api.constrains(
        "dunning_interest_rule",
        "dunning_interest_rate",
        "dunning_recovery_fee",
        "dunning_recovery_fee_currency_id",
    )
    def _check_dunning_late_charges(self):
        for company in self:
            if (
                company.dunning_interest_rule == "fixed"
                and company.dunning_interest_rate <= 0
            ):
                raise ValidationError(
                    self.env._(
                        "%(company)s: a fixed late-payment interest rule needs an "
                        "annual rate above 0%%.",
                        company=company.name,
                    )
                )
            if (
                company.dunning_recovery_fee
                and not company.dunning_recovery_fee_currency_id
            ):
                raise ValidationError(
                    self.env._(
                        "%(company)s: choose the currency of the recovery fee.",
                        company=company.name,
                    )
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
        channel_types = {}
        for company, channel_type in Channel._read_group(
            [("company_id", "in", self.ids)], ["company_id", "channel_type"]
        ):
            channel_types.setdefault(company, set()).add(channel_type)
        has_policy = {
            company
            for [company] in Policy._read_group(
                [("company_id", "in", self.ids)], ["company_id"]
            )
        }
        channel_vals = []
        for company in self:
            # Every company has a sandbox, even one that already has channels
            # (the demo's archived ones, say): its runs show what they would
            # send until a real channel carries them.
            types = channel_types.get(company, set())
            channel_vals += [
                values
                for values in Channel._dunning_default_channel_values(company)
                if not types
                or (values["channel_type"] == "sandbox" and "sandbox" not in types)
            ]
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

    # -- automatic sending ----------------------------------------------

    def _dunning_set_auto_send(self, enabled):
        """Turn automatic sending on or off for these companies, recording who
        and when. Only a collections administrator may; turning it on is done
        from the preview of the next run (``dunning.run.preview``)."""
        if not self.env.user.has_group("friendly_dunning.group_dunning_manager"):
            raise AccessError(
                self.env._(
                    "Only a collections administrator can turn automatic sending "
                    "on or off."
                )
            )
        self.sudo().write(
            {
                "dunning_auto_send": enabled,
                "dunning_auto_send_user_id": self.env.uid,
                "dunning_auto_send_date": fields.Datetime.now(),
            }
        )
        if not enabled:
            # Reminders the run queued and nobody approved stay unsent.
            self.env["dunning.communication"].sudo().search(
                [
                    ("company_id", "in", self.ids),
                    ("state", "=", "queued"),
                    ("kind", "in", ("reminder", "thank_you", "reliable_thanks")),
                    ("needs_review", "=", False),
                ]
            ).write(
                {
                    "state": "cancelled",
                    "error_message": self.env._(
                        "Automatic sending was turned off before it was sent."
                    ),
                }
            )

    def _dunning_sandbox_carried_channels(self):
        """``{company: [channel types]}``: for each of these companies whose
        sandbox is active, the channel types that no real active channel
        carries, so that their messages go to the sandbox and nobody
        receives them."""
        channels = (
            self.env["dunning.channel"]
            .sudo()
            .search([("company_id", "in", self.ids), ("active", "=", True)])
        )
        carried = {}
        for company in self:
            own = channels.filtered(lambda c, company=company: c.company_id == company)
            if "sandbox" not in own.mapped("channel_type"):
                continue
            real = {
                c.channel_type
                for c in own
                if c.channel_type != "sandbox"
                and not (c.channel_type == "whatsapp" and c.wa_token_state == "expired")
            }
            types = [t for t in ("whatsapp", "sms", "email") if t not in real]
            if types:
                carried[company] = types
        return carried

    @api.model
    def dunning_notices(self):
        """What the collections screens warn about, for the companies the user
        works in: automatic sending off, and the sandbox carrying messages that
        nobody receives. A list of ``{"id", "type", "message", "button",
        "action"}``; ``action`` (an action's XML id) only for administrators."""
        if not self.env.user.has_group("friendly_dunning.group_dunning_user"):
            return []
        companies = self.env.companies.sudo()
        manager = self.env.user.has_group("friendly_dunning.group_dunning_manager")
        labels = dict(
            self.env["dunning.communication"]
            ._fields["channel"]
            ._description_selection(self.env)
        )
        several = len(companies) > 1
        notices = []
        for company in companies.filtered(lambda c: not c.dunning_auto_send):
            message = self.env._(
                "Automatic sending is off: the hourly run sends no reminder; "
                "reminders go out only when an accountant sends them."
            )
            if company.dunning_due_counted_on:
                message += " " + self.env._(
                    "The next run would remind %(count)s customers.",
                    count=company.dunning_due_customer_count,
                )
            if not manager:
                message += " " + self.env._(
                    "A collections administrator can review the next run and turn "
                    "automatic sending on."
                )
            notices.append(
                {
                    "id": f"auto_send_{company.id}",
                    "type": "warning",
                    "message": f"{company.name}: {message}" if several else message,
                    "button": self.env._("Review the next run and turn it on"),
                    "action": manager and "friendly_dunning.action_dunning_run_preview",
                }
            )
        for company, types in companies._dunning_sandbox_carried_channels().items():
            message = self.env._(
                "The sandbox is active: %(channels)s messages are recorded but not "
                "sent, and no customer receives them. Set up a channel for them or "
                "archive the sandbox.",
                channels=", ".join(labels[t] for t in types),
            )
            notices.append(
                {
                    "id": f"sandbox_{company.id}",
                    "type": "info",
                    "message": f"{company.name}: {message}" if several else message,
                    "button": self.env._("Channels"),
                    "action": manager and "friendly_dunning.action_dunning_channel",
                }
            )
        return notices
