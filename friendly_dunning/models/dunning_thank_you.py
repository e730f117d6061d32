"""Thank-you messages: a customer whose reminded, late invoices got paid is
thanked once nothing of theirs is overdue any more; a reliable payer who paid
on time is thanked with the words the company chose."""

from datetime import timedelta

from odoo.fields import Domain
from odoo.tools import SQL

from .account_move import open_instalment_sql
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


# Invoices paid on time count for a thank-you while their due date is this
# recent: the run reaches them the day they are paid, or a few days later.
RELIABLE_PAID_WITHIN_DAYS = 30


def queue_reliable_thanks(planner):
    """Queue the thanks to the reliable payers of ``planner``'s company: a
    customer whose policy thanks reliable payers, whose payer score reaches
    its minimum, who paid an invoice recently by each of its due dates, has
    nothing overdue, and was not thanked so within the policy's days. Returns
    how many were queued."""
    env, company, today = planner.env, planner.company, planner.today
    policies = (
        env["dunning.policy"]
        .sudo()
        .search(
            [
                ("company_id", "in", (company.id, False)),
                ("reliable_thanks", "=", True),
            ]
        )
    )
    if not policies:
        return 0
    rows = run_sql(
        env,
        SQL(
            """
        SELECT m.commercial_partner_id, array_agg(m.id ORDER BY m.id),
               max(thanked.date)
          FROM account_move m
          JOIN res_partner p ON p.id = m.commercial_partner_id
          LEFT JOIN LATERAL (
                SELECT max(c.date) AS date FROM dunning_communication c
                 WHERE c.partner_id = m.commercial_partner_id
                   AND c.company_id = m.company_id
                   AND c.kind = 'reliable_thanks'
                   AND c.state NOT IN ('failed', 'cancelled')) thanked ON TRUE
         WHERE m.company_id = %(company)s
           AND m.move_type = 'out_invoice'
           AND m.state = 'posted'
           AND m.payment_state IN ('paid', 'in_payment')
           AND m.invoice_date_due BETWEEN %(since)s AND %(today)s
           AND COALESCE((p.dunning_score ->> %(company_key)s)::int, 0)
               >= %(min_score)s
           AND NOT EXISTS (
                SELECT 1 FROM account_move_line line
                  JOIN account_partial_reconcile partial
                    ON partial.debit_move_id = line.id
                 WHERE line.move_id = m.id
                   AND line.display_type = 'payment_term'
                   AND partial.max_date > line.date_maturity)
           AND NOT EXISTS (
                SELECT 1 FROM account_move_line line
                  JOIN account_move owed ON owed.id = line.move_id
                 WHERE owed.commercial_partner_id = m.commercial_partner_id
                   AND owed.company_id = m.company_id
                   AND %(open_instalment)s
                   AND line.date_maturity < %(today)s)
      GROUP BY m.commercial_partner_id
      ORDER BY m.commercial_partner_id
            """,
            company=company.id,
            since=today - timedelta(days=RELIABLE_PAID_WITHIN_DAYS),
            today=today,
            company_key=str(company.id),
            min_score=min(policies.mapped("reliable_min_score")),
            open_instalment=open_instalment_sql("line", "owed"),
        ),
        reads={
            "account.move": None,
            "account.move.line": None,
            "account.partial.reconcile": None,
            "res.partner": ["dunning_score"],
            "dunning.communication": ["partner_id", "company_id", "kind", "state"],
        },
    )
    if not rows:
        return 0
    Partner = env["res.partner"].sudo().with_company(company)
    Move = env["account.move"].sudo()
    partners = Partner.browse([row[0] for row in rows])
    reach = planner.reach(partners)
    limits = planner.sending_limits(partners)
    decisions = []
    for partner_id, move_ids, thanked_on in rows:
        partner = Partner.browse(partner_id)
        policy = partner.dunning_policy_id
        if (
            not policy.reliable_thanks
            or partner.dunning_score < policy.reliable_min_score
            or (
                thanked_on
                and thanked_on.date()
                > today - timedelta(days=policy.reliable_thanks_days)
            )
        ):
            continue
        contact = reach.contacts[partner.id]
        if any(planner.hold_reasons(partner, contact, limits)):
            continue
        # The first step's channels, in the customer's order of preference.
        step = policy.step_ids.sorted("offset_days")[:1]
        if not step:
            continue
        decision = Decision(
            partner=partner,
            contact=contact,
            step=step,
            invoices=Move.browse(move_ids),
            kind="reliable_thanks",
            texts=(policy, "reliable_thanks_subject", "reliable_thanks_body"),
        )
        decisions.append(decision.routed(planner.route(step, partner, reach)))
    decisions = [d for d in planner.render(decisions) if d.is_sendable]
    planner.queue(decisions)
    return len(decisions)
