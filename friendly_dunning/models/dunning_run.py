from odoo import api, fields, models

from .dunning_planner import DunningPlanner
from .dunning_thank_you import queue_reliable_thanks, queue_thank_you

# Customers decided and queued per transaction.
PLAN_BATCH = 1000


class DunningRun(models.Model):
    """One pass of the scheduled follow-up for one company: what it decided,
    kept so that an accountant can see what happened and why."""

    _name = "dunning.run"
    _description = "Collections Run"
    _order = "id desc"

    company_id = fields.Many2one("res.company", required=True, index=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now)
    end_date = fields.Datetime(readonly=True)
    state = fields.Selection(
        [("running", "Running"), ("done", "Done")], default="running", required=True
    )
    queued_count = fields.Integer(string="Messages queued", readonly=True)
    unreachable_count = fields.Integer(
        string="Customers unreachable",
        readonly=True,
        help="Customers due a reminder that no channel of the step could reach.",
    )
    held_count = fields.Integer(
        string="Customers held",
        readonly=True,
        help="Customers due a reminder but held by quiet hours, quiet days, the "
        "frequency cap or their country's compliance pack; a later run reaches them.",
    )

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------

    @api.model
    def _cron_dunning(self):
        """The hourly job: bring every company's segmentation up to date (days
        overdue grow every day, and the segment picks the policy), plan its
        reminders, then send them. A company whose automatic sending is off
        (until a collections administrator turns it on from the preview of
        the next run) gets its figures refreshed and nothing planned."""
        companies = (
            self.env["res.company"].sudo().search([("dunning_policy_id", "!=", False)])
        )
        for company in companies:
            self.env["res.partner"].sudo()._dunning_refresh_segmentation(
                companies=company
            )
            self._commit_progress(0, None)
            if company.dunning_auto_send:
                self.sudo()._run_company(company)
            else:
                self.sudo()._count_due_customers(company)
        # What accountants sent or approved, whatever the companies' setting.
        self.env["dunning.communication"].sudo()._dunning_send_queued()

    @api.model
    def _count_due_customers(self, company, now=None):
        """Keep, for the notice of the collections screens, how many
        customers the next run would remind; end the pauses whose date has
        passed, honour the waivers paid for and invoice the late charges
        steps asked for, as a run does. Plans and sends nothing."""
        planner = DunningPlanner(self.env, company, now or fields.Datetime.now())
        planner.resume_expired_pauses()
        # Reminders sent by hand offer waivers and reach steps too.
        Move = self.env["account.move"]
        Move._dunning_honour_waivers(company, planner.today)
        Move._dunning_invoice_pending_charges(company, planner.today)
        company.write(
            {
                "dunning_due_customer_count": len(planner.due_partner_ids()),
                "dunning_due_counted_on": planner.now,
            }
        )
        self._commit_progress(0, None)

    @api.model
    def _run_company(self, company, now=None):
        now = now or fields.Datetime.now()
        run = self.sudo().create({"company_id": company.id, "date": now})
        planner = DunningPlanner(self.env, company, now)
        planner.resume_expired_pauses()
        # Before planning: a customer who paid in time for a waiver is not
        # told about charges that are gone.
        Move = self.env["account.move"]
        Move._dunning_honour_waivers(company, planner.today)
        partner_ids = planner.due_partner_ids()
        for start in range(0, len(partner_ids), PLAN_BATCH):
            batch = self.env["res.partner"].browse(
                partner_ids[start : start + PLAN_BATCH]
            )
            # Another worker planning the same customers holds their rows: skip
            # them, it will queue their reminders.
            locked = batch.try_lock_for_update()
            decisions = planner.decide(locked.ids)
            counts, _messages = planner.queue(decisions)
            run.write(
                {
                    "queued_count": run.queued_count + counts["queued"],
                    "unreachable_count": run.unreachable_count + counts["unreachable"],
                    "held_count": run.held_count + counts["held"],
                }
            )
            # Keep the worklist current: the next reminder of the customers
            # whose invoices moved on a step (amounts and aging did not change).
            self.env["res.partner"]._dunning_refresh_next_dates(
                company, [d.partner.id for d in decisions if not d.is_held]
            )
            self._commit_progress(len(batch), len(partner_ids) - start - len(batch))
        thanked = queue_thank_you(planner) + queue_reliable_thanks(planner)
        Move._dunning_invoice_pending_charges(company, planner.today)
        run.write(
            {
                "state": "done",
                "end_date": fields.Datetime.now(),
                "queued_count": run.queued_count + thanked,
            }
        )
        return run

    @api.model
    def _preview(self, company, now=None):
        """What the next run would send now (its decisions, with the variant
        each running experiment gives its customers), without sending or
        changing anything: nobody is assigned to an experiment."""
        planner = DunningPlanner(self.env, company, now or fields.Datetime.now())
        decisions = planner.decide(planner.due_partner_ids())
        return self.env["dunning.experiment"]._dunning_variants(planner, decisions)[0]

    def _commit_progress(self, done, remaining):
        """Commit a finished batch when running as the scheduled job, so that a
        crash later in the run loses nothing already decided."""
        if self.env.context.get("cron_id"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)
