"""Message experiments: a step's message against a challenger or a hold-out.

While an experiment of a step runs, each customer the step is sent to is
assigned once, at random, to the champion (the step's own message) or to the
challenger (another message, or nothing at all for a hold-out), and the
assignment is recorded with the invoices the step covered. The draw is a hash
of the experiment's salt and the customer, so that the preview of a run shows
the variant the run will send without recording anything. The report compares
the two groups on the share that paid within 7 and 30 days and the days they
took (tools/experiments.py), says when one is better with statistical
confidence, and a better challenger message can be promoted to the step.
"""

import dataclasses
import hashlib
import secrets

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools import experiments as stats
from .raw_sql import run_sql

VARIANTS = [
    ("champion", "Champion"),
    ("challenger", "Challenger"),
]


class DunningExperiment(models.Model):
    _name = "dunning.experiment"
    _description = "Message Experiment"
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(required=True)
    step_id = fields.Many2one(
        "dunning.step",
        required=True,
        index=True,
        ondelete="cascade",
        check_company=True,
    )
    company_id = fields.Many2one(
        related="step_id.company_id", store=True, index=True, precompute=True
    )
    kind = fields.Selection(
        [
            ("message", "Another message"),
            ("holdout", "A hold-out that receives nothing"),
        ],
        string="Challenger",
        required=True,
        default="message",
    )
    challenger_subject = fields.Char(
        string="Challenger subject",
        translate=True,
        help="The challenger's e-mail subject.",
    )
    challenger_body = fields.Text(
        string="Challenger message",
        translate=True,
        help="What the challenger group reads instead of the step's message. "
        "Same placeholders as the step's.",
    )
    challenger_share = fields.Integer(
        string="Share of customers for the challenger (%)",
        default=50,
        help="The share of customers assigned, at random, to the challenger.",
    )
    draw_salt = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        default=lambda self: secrets.token_hex(16),
        help="Random, set at creation: with the customer, it draws their variant.",
    )
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("done", "Ended")],
        default="draft",
        required=True,
        readonly=True,
    )
    date_start = fields.Datetime(string="Started", readonly=True)
    date_end = fields.Datetime(string="Ended", readonly=True)
    assignment_ids = fields.One2many(
        "dunning.experiment.assignment", "experiment_id", string="Assignments"
    )
    assignment_count = fields.Integer(string="Customers", compute="_compute_results")
    results = fields.Html(compute="_compute_results", sanitize=False)
    better = fields.Selection(
        VARIANTS,
        string="Better with confidence",
        compute="_compute_results",
        help="The variant whose customers paid within 30 days more often, "
        "with 95 % confidence; empty while the difference could be chance.",
    )

    _one_running_per_step = models.UniqueIndex(
        "(step_id) WHERE state = 'running'",
        "A step runs one experiment at a time.",
    )

    @api.constrains("challenger_share")
    def _check_challenger_share(self):
        for experiment in self:
            if not 1 <= experiment.challenger_share <= 99:
                raise UserError(
                    self.env._("The challenger's share is between 1 and 99 %.")
                )

    def action_start(self):
        for experiment in self:
            if experiment.kind == "message" and not experiment.challenger_body:
                raise UserError(
                    self.env._(
                        "Experiment %s: write the challenger's message first.",
                        experiment.name,
                    )
                )
        self.filtered(lambda e: e.state == "draft").write(
            {"state": "running", "date_start": fields.Datetime.now()}
        )

    def action_stop(self):
        self.filtered(lambda e: e.state == "running").write(
            {"state": "done", "date_end": fields.Datetime.now()}
        )

    def action_promote(self):
        """The challenger's message becomes the step's (in every language it
        was written in), and the experiment ends."""
        for experiment in self:
            if experiment.kind != "message" or experiment.better != "challenger":
                raise UserError(
                    self.env._(
                        "Experiment %s: only a challenger message that did better "
                        "with statistical confidence can be promoted.",
                        experiment.name,
                    )
                )
            step = experiment.step_id
            for source, target in (
                ("challenger_subject", "subject"),
                ("challenger_body", "body"),
            ):
                translations = experiment.get_field_translations(source)[0]
                step.update_field_translations(
                    target,
                    {row["lang"]: row["value"] for row in translations if row["value"]},
                )
        self.action_stop()

    # ------------------------------------------------------------------
    # Assignment: drawn for the preview, recorded when the outbox queues
    # ------------------------------------------------------------------

    def _dunning_position(self, partner_id):
        """Where the customer ``partner_id`` falls in this experiment's draw,
        in [0, 100): the same at every call, so that the preview shows what
        the run sends, and independent from one customer (and one
        experiment) to the next."""
        self.ensure_one()
        # The id too: the salt filled in on existing rows when the field was
        # added is the same for all of them.
        seed = f"{self.draw_salt}:{self.id}:{partner_id}".encode()
        return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") / 2**64 * 100

    def _dunning_draw(self, partner_id):
        """The variant the customer ``partner_id`` draws in this experiment
        (their recorded one, once assigned, wins): under the challenger's
        share, the challenger."""
        self.ensure_one()
        if self._dunning_position(partner_id) < self.challenger_share:
            return "challenger"
        return "champion"

    @api.model
    def _dunning_variants(self, planner, decisions):
        """``(decisions, new)``: ``decisions`` as the running experiments of
        their steps have them, each with its ``experiment`` and ``variant``
        (recorded, else drawn), a challenger's text rendered, a hold-out's
        decision marked ``held_out`` (the step done, no message); and the
        values of the assignments not recorded yet. Records nothing."""
        reminders = [d for d in decisions if d.kind == "reminder" and d.is_sendable]
        if not reminders:
            return decisions, []
        running = self.sudo().search(
            [
                ("state", "=", "running"),
                ("step_id", "in", list({d.step.id for d in reminders})),
            ]
        )
        if not running:
            return decisions, []
        by_step = {experiment.step_id.id: experiment for experiment in running}
        known = {
            (a.experiment_id.id, a.partner_id.id): a.variant
            for a in self.env["dunning.experiment.assignment"]
            .sudo()
            .search(
                [
                    ("experiment_id", "in", running.ids),
                    (
                        "partner_id",
                        "in",
                        list({d.partner.id for d in reminders}),
                    ),
                ]
            )
        }
        new = []
        result = list(decisions)
        challengers = []
        for index, decision in enumerate(decisions):
            experiment = (
                by_step.get(decision.step.id)
                if decision.kind == "reminder" and decision.is_sendable
                else None
            )
            if not experiment:
                continue
            key = (experiment.id, decision.partner.id)
            variant = known.get(key)
            if variant is None:
                variant = known[key] = experiment._dunning_draw(decision.partner.id)
                new.append(
                    {
                        "experiment_id": experiment.id,
                        "partner_id": decision.partner.id,
                        "variant": variant,
                        "date": planner.now,
                        "move_ids": [fields.Command.set(decision.invoices.ids)],
                        "amount": sum(line.residual_signed for line in decision.lines),
                    }
                )
            decision = result[index] = dataclasses.replace(
                decision, experiment=experiment, variant=variant
            )
            if variant != "challenger":
                continue
            if experiment.kind == "holdout":
                result[index] = dataclasses.replace(decision, held_out=True)
            else:
                challengers.append(index)
                result[index] = dataclasses.replace(
                    decision,
                    texts=(experiment, "challenger_subject", "challenger_body"),
                )
        if challengers:
            rendered = planner.render([result[i] for i in challengers])
            for index, decision in zip(challengers, rendered, strict=True):
                result[index] = decision
        return result, new

    @api.model
    def _dunning_assign(self, planner, decisions):
        """``decisions`` as the running experiments of their steps have them
        (see :meth:`_dunning_variants`), the customers not assigned yet
        recorded with their variant."""
        decisions, new = self._dunning_variants(planner, decisions)
        if new:
            self.env["dunning.experiment.assignment"].sudo().create(new)
        return decisions

    # ------------------------------------------------------------------
    # The report
    # ------------------------------------------------------------------

    @api.depends("assignment_ids", "kind")
    @api.depends_context("lang")
    def _compute_results(self):
        outcomes = self._dunning_outcomes()
        labels = {
            "champion": self.env._("Champion: the step's message"),
            "challenger": self.env._("Challenger: another message"),
            "holdout": self.env._("Hold-out: no message"),
        }
        for experiment in self:
            groups = outcomes.get(experiment.id, {})
            experiment.assignment_count = sum(len(rows) for rows in groups.values())
            figures = {
                variant: self._dunning_figures(groups.get(variant, []))
                for variant in ("champion", "challenger")
            }
            better, p_value = stats.verdict(
                figures["champion"]["paid_30"], figures["challenger"]["paid_30"]
            )
            experiment.better = better
            challenger_label = (
                labels["holdout"]
                if experiment.kind == "holdout"
                else labels["challenger"]
            )
            experiment.results = self._dunning_results_html(
                figures,
                {"champion": labels["champion"], "challenger": challenger_label},
                better,
                p_value,
            )

    def _dunning_outcomes(self):
        """``{experiment id: {variant: [(days since assignment, days to pay
        or None)]}}``: an assignment is paid when every invoice it covered
        is, on the day of the last reconciliation that paid them."""
        experiments = self.filtered("id")
        if not experiments:
            return {}
        rows = run_sql(
            self.env,
            SQL(
                """
            SELECT assignment.experiment_id, assignment.variant,
                   %(now)s::date - assignment.date::date,
                   CASE WHEN bool_and(line.reconciled)
                        THEN max(partial.max_date) - assignment.date::date END
              FROM dunning_experiment_assignment assignment
              JOIN account_move_dunning_experiment_assignment_rel rel
                ON rel.dunning_experiment_assignment_id = assignment.id
              JOIN account_move_line line
                ON line.move_id = rel.account_move_id
               AND line.display_type = 'payment_term'
         LEFT JOIN account_partial_reconcile partial
                ON partial.debit_move_id = line.id
             WHERE assignment.experiment_id = ANY(%(ids)s)
          GROUP BY assignment.id
                """,
                now=fields.Datetime.now(),
                ids=experiments.ids,
            ),
            reads={
                "dunning.experiment.assignment": None,
                "account.move.line": ["move_id", "display_type", "reconciled"],
                "account.partial.reconcile": None,
            },
        )
        outcomes = {}
        for experiment_id, variant, age, days in rows:
            outcomes.setdefault(experiment_id, {}).setdefault(variant, []).append(
                (age, days)
            )
        return outcomes

    @staticmethod
    def _dunning_figures(rows):
        """A variant's shares paid within 7 and 30 days, among the
        assignments at least that old, and its days to pay."""

        def paid_within(horizon):
            ripe = [days for age, days in rows if age >= horizon]
            return stats.share(
                sum(1 for days in ripe if days is not None and days <= horizon),
                len(ripe),
            )

        return {
            "customers": len(rows),
            "paid_7": paid_within(7),
            "paid_30": paid_within(30),
            "days": stats.mean(days for _age, days in rows if days is not None),
        }

    def _dunning_results_html(self, figures, labels, better, p_value):
        def percent(value):
            return "–" if value is None else f"{round(100 * value)} %"

        def share_cell(result):
            if not result.total:
                return Markup("<td class='text-muted'>%s</td>") % self.env._("not yet")
            return Markup("<td>%s <span class='text-muted'>(%s-%s, %s)</span></td>") % (
                percent(result.value),
                percent(result.low),
                percent(result.high),
                self.env._("%(count)s customers", count=result.total),
            )

        def days_cell(result):
            if result.value is None:
                return Markup("<td class='text-muted'>–</td>")
            if result.low is None:
                return Markup("<td>%s</td>") % round(result.value, 1)
            return Markup("<td>%s <span class='text-muted'>(%s-%s)</span></td>") % (
                round(result.value, 1),
                round(max(result.low, 0), 1),
                round(result.high, 1),
            )

        rows = Markup().join(
            Markup("<tr><td>%s</td><td>%s</td>%s%s%s</tr>")
            % (
                labels[variant],
                figures[variant]["customers"],
                share_cell(figures[variant]["paid_7"]),
                share_cell(figures[variant]["paid_30"]),
                days_cell(figures[variant]["days"]),
            )
            for variant in ("champion", "challenger")
        )
        if better:
            conclusion = self.env._(
                "%(variant)s: more customers paid within 30 days, with 95 %% "
                "confidence (p = %(p)s).",
                variant=labels[better],
                p=round(p_value, 3),
            )
        elif p_value is not None:
            conclusion = self.env._(
                "No difference with statistical confidence yet (p = %(p)s): "
                "it may be chance.",
                p=round(p_value, 3),
            )
        else:
            conclusion = self.env._(
                "Not enough customers 30 days after the step yet to compare."
            )
        return Markup(
            "<table class='table table-sm'><thead><tr><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>%s</tbody>"
            "</table><p>%s</p><p class='text-muted small'>%s</p>"
        ) % (
            self.env._("Variant"),
            self.env._("Customers"),
            self.env._("Paid within 7 days"),
            self.env._("Paid within 30 days"),
            self.env._("Days to pay (those who paid)"),
            rows,
            conclusion,
            self.env._(
                "Shares count the customers assigned at least 7 (or 30) days "
                "ago; in brackets, the 95 % confidence interval."
            ),
        )


class DunningExperimentAssignment(models.Model):
    _name = "dunning.experiment.assignment"
    _description = "Message Experiment Assignment"
    _order = "date desc, id desc"

    experiment_id = fields.Many2one(
        "dunning.experiment", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        related="experiment_id.company_id", store=True, index=True
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True
    )
    variant = fields.Selection(VARIANTS, required=True)
    date = fields.Datetime(required=True, help="When the step was sent (or held out).")
    move_ids = fields.Many2many("account.move", string="Invoices")
    amount = fields.Float(help="What the step covered, in company currency.")

    _one_per_customer = models.UniqueIndex(
        "(experiment_id, partner_id)",
        "A customer is assigned once per experiment.",
    )
