from collections import Counter

from odoo import api, fields, models

from ..models.dunning_step import CHANNELS
from ..tools.compliance import ALLOWED, CHANGED, HELD

OUTCOMES = [
    ("send", "Will be sent"),
    ("review", "Waits for approval"),
    ("hold", "Held for now"),
    ("unreachable", "Cannot be reached"),
    ("held_out", "Held out by an experiment"),
]

# What a line says of the message itself (empty when none is sent).
MESSAGE_FIELDS = (
    "channel",
    "recipient",
    "subject",
    "body",
    "compliance_outcome",
    "compliance_pack_id",
    "compliance_note",
)

# What a running experiment of the step gives the customer.
VARIANTS = [
    ("champion", "Champion"),
    ("challenger", "Challenger"),
    ("holdout", "Hold-out"),
]

COMPLIANCE_OUTCOMES = [
    (ALLOWED, "Allowed"),
    (CHANGED, "Changed"),
    (HELD, "Held"),
]


class DunningRunPreview(models.TransientModel):
    """Exactly what the next run would send, computed without sending or
    changing anything: how many customers, the messages per channel and per
    step, who is held or unreachable and why. Automatic sending is turned on
    from here, by a collections administrator who has seen it."""

    _name = "dunning.run.preview"
    _description = "Preview of the next collections run"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    auto_send = fields.Boolean(related="company_id.dunning_auto_send")
    line_ids = fields.One2many("dunning.run.preview.line", "preview_id")
    count_ids = fields.One2many("dunning.run.preview.count", "preview_id")
    channel_count_ids = fields.One2many(
        "dunning.run.preview.count",
        "preview_id",
        domain=[("kind", "=", "channel")],
        string="Messages per channel",
    )
    step_count_ids = fields.One2many(
        "dunning.run.preview.count",
        "preview_id",
        domain=[("kind", "=", "step")],
        string="Messages per step",
    )
    problem_count_ids = fields.One2many(
        "dunning.run.preview.count",
        "preview_id",
        domain=[("kind", "in", ("hold", "unreachable", "held_out"))],
        string="Not sent, and why",
    )
    experiment_count_ids = fields.One2many(
        "dunning.run.preview.count",
        "preview_id",
        domain=[("kind", "=", "experiment")],
        string="Customers per experiment variant",
    )
    customer_count = fields.Integer(
        string="Customers due a reminder",
        readonly=True,
        help="Customers with a reminder due now, whether it can be sent or not.",
    )
    message_count = fields.Integer(
        string="Messages",
        readonly=True,
        help="Messages the run would queue, those waiting for approval included.",
    )
    review_count = fields.Integer(string="Waiting for approval", readonly=True)
    hold_count = fields.Integer(string="Held for now", readonly=True)
    unreachable_count = fields.Integer(string="Cannot be reached", readonly=True)
    held_out_count = fields.Integer(
        string="Held out by an experiment",
        readonly=True,
        help="Customers a running experiment of their step holds out: the step "
        "counts as done for them and no message is sent.",
    )

    @api.model
    def _compute_display_name(self):
        # The breadcrumb of the lists opened from the preview.
        for preview in self:
            preview.display_name = self.env._("Next run")

    def action_open(self):
        preview = self.create({})
        preview._compute_lines()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Next run"),
            "res_model": self._name,
            "res_id": preview.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_view_lines(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Next run, customer by customer"),
            "res_model": "dunning.run.preview.line",
            "view_mode": "list,form",
            "domain": [("preview_id", "=", self.id)],
            "context": {"search_default_group_outcome": 1},
        }

    def action_turn_on_auto_send(self):
        """Turn automatic sending on for the company of this preview: the
        next hourly run sends what the preview showed, and is started now."""
        self.ensure_one()
        self.company_id._dunning_set_auto_send(True)
        self.env.ref("friendly_dunning.ir_cron_dunning").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Automatic sending is on for %(company)s: the run starts in "
                    "a moment and then every hour.",
                    company=self.company_id.name,
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _compute_lines(self):
        holds = {
            "quiet_hours": self.env._("Outside the sending window in their time zone"),
            "daily_cap": self.env._("Already received a message today"),
            "weekly_cap": self.env._("Reached the weekly message limit"),
            "weekend": self.env._("Messages are held on weekends"),
            "holiday": self.env._("Messages are held on public holidays"),
            "compliance_hours": self.env._(
                "Outside the contact hours of their country's compliance pack"
            ),
            "compliance_daily_cap": self.env._(
                "Reached the daily limit of their country's compliance pack"
            ),
            "compliance_weekly_cap": self.env._(
                "Reached the weekly limit of their country's compliance pack"
            ),
            "compliance_content": self.env._(
                "The company lacks a detail their country's compliance pack "
                "requires in every message"
            ),
        }
        for preview in self:
            decisions = self.env["dunning.run"].sudo()._preview(preview.company_id)
            lines = []
            for decision in decisions:
                if decision.is_held:
                    outcome, reason = "hold", holds[decision.hold_reason]
                elif decision.is_unreachable:
                    outcome, reason = "unreachable", decision.unreachable_reason
                elif decision.held_out:
                    outcome, reason = (
                        "held_out",
                        self.env._(
                            "Held out: no message at this step "
                            '(experiment "%(experiment)s")',
                            experiment=decision.experiment.name,
                        ),
                    )
                elif decision.step.manual_review:
                    outcome, reason = "review", False
                else:
                    outcome, reason = "send", False
                values = {
                    "preview_id": preview.id,
                    "partner_id": decision.partner.id,
                    "step_id": decision.step.id,
                    "move_count": len(decision.invoices),
                    "amount_due": sum(line.residual_signed for line in decision.lines),
                    "channel": decision.channel or False,
                    "recipient": decision.recipient or False,
                    "subject": decision.subject or False,
                    "body": decision.body or False,
                    "experiment_id": (decision.experiment and decision.experiment.id)
                    or False,
                    "variant": _variant(decision),
                    "outcome": outcome,
                    "reason": reason,
                    "compliance_outcome": decision.compliance_outcome or False,
                    "compliance_pack_id": (
                        decision.compliance_pack and decision.compliance_pack.id
                    )
                    or False,
                    "compliance_note": decision.compliance_note or False,
                }
                if decision.held_out:
                    # Nothing leaves: no channel, no text, nothing to check.
                    values |= dict.fromkeys(MESSAGE_FIELDS, False)
                lines.append(values)
            self.env["dunning.run.preview.line"].create(lines)
            preview._count(lines)

    def _count(self, lines):
        """The preview's totals and its counts per channel, per step and per
        reason for not sending, from its ``lines`` (values)."""
        outcomes = Counter(line["outcome"] for line in lines)
        queued = [line for line in lines if line["outcome"] in ("send", "review")]
        counts = []
        for kind, key in (("channel", "channel"), ("step", "step_id")):
            totals = Counter(line[key] for line in queued)
            reviews = Counter(
                line[key] for line in queued if line["outcome"] == "review"
            )
            counts += [
                {
                    "preview_id": self.id,
                    "kind": kind,
                    key: value,
                    "count": count,
                    "review_count": reviews[value],
                }
                for value, count in totals.items()
            ]
        problems = Counter(
            (line["outcome"], line["reason"])
            for line in lines
            if line["outcome"] in ("hold", "unreachable", "held_out")
        )
        counts += [
            {"preview_id": self.id, "kind": kind, "reason": reason, "count": count}
            for (kind, reason), count in problems.items()
        ]
        variants = Counter(
            (line["experiment_id"], line["variant"])
            for line in lines
            if line["experiment_id"]
        )
        counts += [
            {
                "preview_id": self.id,
                "kind": "experiment",
                "experiment_id": experiment_id,
                "variant": variant,
                "count": count,
            }
            for (experiment_id, variant), count in sorted(
                variants.items(),
                key=lambda item: (
                    item[0][0],
                    [v for v, _label in VARIANTS].index(item[0][1]),
                ),
            )
        ]
        self.env["dunning.run.preview.count"].create(counts)
        self.write(
            {
                "customer_count": len(lines),
                "message_count": len(queued),
                "review_count": outcomes["review"],
                "hold_count": outcomes["hold"],
                "unreachable_count": outcomes["unreachable"],
                "held_out_count": outcomes["held_out"],
            }
        )


def _variant(decision):
    """The preview's variant of ``decision`` (see ``VARIANTS``), or False
    outside experiments."""
    if not decision.variant:
        return False
    if decision.variant == "challenger" and decision.experiment.kind == "holdout":
        return "holdout"
    return decision.variant


class DunningRunPreviewCount(models.TransientModel):
    _name = "dunning.run.preview.count"
    _description = "How many messages the next collections run would send, by kind"
    _order = "kind, count desc, id"

    preview_id = fields.Many2one(
        "dunning.run.preview", required=True, ondelete="cascade"
    )
    kind = fields.Selection(
        [
            ("channel", "Channel"),
            ("step", "Step"),
            ("hold", "Held for now"),
            ("unreachable", "Cannot be reached"),
            ("held_out", "Held out by an experiment"),
            ("experiment", "Experiment"),
        ],
        required=True,
        readonly=True,
    )
    channel = fields.Selection(CHANNELS, readonly=True)
    step_id = fields.Many2one("dunning.step", readonly=True)
    experiment_id = fields.Many2one("dunning.experiment", readonly=True)
    variant = fields.Selection(VARIANTS, readonly=True)
    reason = fields.Char(readonly=True)
    count = fields.Integer(string="Messages", readonly=True)
    review_count = fields.Integer(string="Waiting for approval", readonly=True)


class DunningRunPreviewLine(models.TransientModel):
    _name = "dunning.run.preview.line"
    _description = "What the next collections run would do for one customer"
    _rec_name = "partner_id"
    _order = "outcome, amount_due desc"

    preview_id = fields.Many2one(
        "dunning.run.preview", required=True, ondelete="cascade"
    )
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    step_id = fields.Many2one("dunning.step", readonly=True)
    move_count = fields.Integer(string="Invoices", readonly=True)
    amount_due = fields.Float(readonly=True)
    channel = fields.Selection(CHANNELS, readonly=True)
    recipient = fields.Char(readonly=True)
    subject = fields.Char(readonly=True)
    body = fields.Text(string="Message", readonly=True)
    experiment_id = fields.Many2one(
        "dunning.experiment",
        readonly=True,
        help="The running experiment of the step this customer is in.",
    )
    variant = fields.Selection(
        VARIANTS,
        readonly=True,
        help="What the experiment gives this customer, as the run will: the "
        "champion, the step's message; the challenger, the experiment's message; "
        "a hold-out, no message at this step.",
    )
    outcome = fields.Selection(OUTCOMES, readonly=True)
    reason = fields.Char(readonly=True)
    compliance_outcome = fields.Selection(
        COMPLIANCE_OUTCOMES,
        string="Compliance",
        readonly=True,
        help="What the compliance guard did to the message: allowed it, changed "
        "it (added the required content or the opt-out line) or held it.",
    )
    compliance_pack_id = fields.Many2one(
        "dunning.compliance.pack", string="Compliance pack", readonly=True
    )
    compliance_note = fields.Char(string="Compliance note", readonly=True)
