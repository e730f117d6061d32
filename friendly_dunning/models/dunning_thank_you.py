"""Thank-you messages: a customer whose reminded, late invoices got paid is
thanked once nothing of theirs is overdue any more."""

from odoo.fields import Domain
from odoo.tools import SQL

from .dunning_decision import Decision
from .raw_sql import run_sql


def queue_thank_you(planner):
    """Queue the thank-you messages due in ``planner``'s company now, and
    mark their invoices thanked. Returns how many were queued.

    A customer held by quiet hours, a quiet day or the frequency cap is
    thanked in a later run; one no channel reaches is not thanked."""
    env, company = planner.env, planner.company
    Move = env["account.move"].sudo()
    # From the narrow progress table to the invoices by primary key: the
    # reminded invoices are usually few beside the paid ones, which a search
    # by state would scan.
    rows = run_sql(
        env,
        SQL(
            """
        SELECT m.id FROM account_move m
         WHERE m.id = ANY(ARRAY(
                SELECT progress.move_id
                  FROM dunning_invoice_progress progress
                  JOIN dunning_step step ON step.id = progress.step_id
                 WHERE progress.company_id = %s AND step.offset_days > 0))
           AND m.move_type = 'out_invoice'
           AND m.payment_state IN ('paid', 'in_payment')
           AND m.dunning_thanked IS NOT TRUE
      ORDER BY m.id
            """,
            company.id,
        ),
        reads={
            "account.move": ["move_type", "payment_state", "dunning_thanked"],
            "dunning.invoice.progress": None,
            "dunning.step": ["offset_days"],
        },
    )
    paid = Move.browse([row[0] for row in rows]).try_lock_for_update()
    if not paid:
        return 0
    # Overdue by any instalment, not by the invoice's last due date.
    overdue_instalments = (
        env["account.move.line"]
        .sudo()
        .search(
            Move._dunning_open_instalment_domain()
            & Domain("company_id", "=", company.id)
            & Domain("date_maturity", "<", planner.today)
            & Domain(
                "move_id.commercial_partner_id", "in", paid.commercial_partner_id.ids
            )
        )
    )
    still_overdue = set(overdue_instalments.move_id.commercial_partner_id.ids)
    partners = paid.commercial_partner_id
    reach = planner.reach(partners)
    limits = planner.sending_limits(partners)
    paid_by_partner = paid.grouped("commercial_partner_id")
    decisions = []
    for partner in partners:
        moves = paid_by_partner[partner]
        step = max(moves.dunning_step_id, key=lambda s: s.offset_days)
        policy = step.policy_id
        if partner.id in still_overdue or not policy.thank_you:
            continue
        contact = reach.contacts[partner.id]
        if any(planner.hold_reasons(partner, contact, limits)):
            continue
        decision = Decision(
            partner=partner,
            contact=contact,
            step=step,
            invoices=moves,
            kind="thank_you",
            texts=(policy, "thank_you_subject", "thank_you_body"),
        )
        decisions.append(decision.routed(planner.route(step, partner, reach)))
    decisions = [d for d in planner.render(decisions) if d.is_sendable]
    planner.queue(decisions)
    thanked = Move.browse([move.id for d in decisions for move in d.invoices])
    thanked._dunning_mark_thanked()
    return len(decisions)
