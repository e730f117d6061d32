from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain


class DunningFeedback(models.Model):
    """How a customer rated the way we followed up a case, once it is settled:
    one rating per case (the reminders up to the last one)."""

    _name = "dunning.feedback"
    _description = "Collections Customer Rating"
    _order = "date desc, id desc"

    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, index=True)
    communication_id = fields.Many2one(
        "dunning.communication",
        string="Last reminder of the case",
        ondelete="set null",
        help="The case rated: the reminders up to this one.",
    )
    rating = fields.Integer(required=True, help="From 1 (unhappy) to 5 (very happy).")
    comment = fields.Text()
    source = fields.Selection(
        [("portal", "Customer's page"), ("reply", "Reply to a message")],
        required=True,
        default="portal",
    )
    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)

    _rating_range = models.Constraint(
        "CHECK(rating BETWEEN 1 AND 5)", "A rating goes from 1 to 5."
    )
    _one_per_case = models.UniqueIndex(
        "(communication_id) WHERE communication_id IS NOT NULL",
        "This case has already been rated.",
    )

    @api.model
    def _dunning_case(self, partner, company=None):
        """The last reminder of ``partner``'s settled case that is still to be
        rated, or an empty recordset: nothing overdue any more, at least one
        reminder sent, and no rating since."""
        company = company or self.env.company
        partner = partner.commercial_partner_id
        Move = self.env["account.move"].sudo()
        overdue = Move.search_count(
            Move._dunning_open_invoice_domain()
            & Domain(
                [
                    ("commercial_partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("invoice_date_due", "<", fields.Date.context_today(self)),
                ]
            ),
            limit=1,
        )
        if overdue:
            return self.env["dunning.communication"]
        last = (
            self.env["dunning.communication"]
            .sudo()
            .search(
                [
                    ("partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("kind", "in", ("reminder", "manual")),
                ],
                order="date desc, id desc",
                limit=1,
            )
        )
        if not last or self.sudo().search_count(
            [("communication_id", "=", last.id)], limit=1
        ):
            return self.env["dunning.communication"]
        return last

    @api.model
    def _dunning_rate(self, partner, rating, comment="", source="portal"):
        """Store the customer's rating of their settled case, once per case, and
        log it on the customer."""
        try:
            rating = int(rating)
        except (TypeError, ValueError):
            rating = 0
        if not 1 <= rating <= 5:
            raise UserError(self.env._("Please pick between 1 and 5 stars."))
        partner = partner.commercial_partner_id
        case = self._dunning_case(partner)
        if not case:
            raise UserError(
                self.env._(
                    "Thank you! There is nothing to rate right now: you can rate "
                    "us once everything is settled, once per case."
                )
            )
        feedback = self.sudo().create(
            {
                "partner_id": partner.id,
                "company_id": case.company_id.id,
                "communication_id": case.id,
                "rating": rating,
                "comment": (comment or "").strip()[:2000],
                "source": source,
            }
        )
        partner.sudo()._message_log(
            body=self.env._(
                "Rated our follow-up %(rating)s/5. %(comment)s",
                rating=rating,
                comment=feedback.comment or "",
            ),
            author_id=partner.id,
        )
        return feedback
