"""SQL expressions over the receivable ledger that the reports and the KPIs
share.

Every figure counts what customers owe on their invoices, instalment by
instalment: the receivable lines of posted customer invoices, each with its
own due date (``date_maturity``) and residual. A payment or a credit note
counts once applied to (reconciled with) an instalment, from the
reconciliation's date (Odoo's ``max_date``: the later of the two documents'
dates), and lowers that instalment's residual from then on; not applied, it
lowers no figure and is shown apart as an unapplied credit (see
docs/DESIGN.md)."""

from odoo.tools import SQL


def aging_bucket(days_overdue):
    """SQL: the aging bucket of ``days_overdue`` (an SQL expression)."""
    return SQL(
        """CASE WHEN %(days)s <= 0 THEN 'not_due'
                WHEN %(days)s <= 30 THEN '1_30'
                WHEN %(days)s <= 60 THEN '31_60'
                WHEN %(days)s <= 90 THEN '61_90'
                ELSE 'over_90'
           END""",
        days=days_overdue,
    )


def invoice_instalment(line, move):
    """SQL: ``line`` (an alias of account_move_line) is an instalment of a
    customer invoice, open or not: a receivable line of ``move`` (an alias of
    account_move joined on ``line.move_id``). The open ones today are
    ``open_instalment_sql(line, move)``; this one also holds the paid ones,
    whose payments the KPIs date."""
    return SQL(
        "%s.move_type = 'out_invoice' AND %s.display_type = 'payment_term'",
        SQL.identifier(move),
        SQL.identifier(line),
    )


def payment_entry(alias):
    """SQL: the journal entry or item ``alias`` (a table alias) moves money:
    it is booked in a bank, cash or credit card journal. That covers
    Odoo's payments, bank statement lines and bank entries an accountant
    books by hand, and leaves out credit notes and exchange differences."""
    return SQL(
        "%s.journal_id IN (SELECT id FROM account_journal "
        "WHERE type IN ('bank', 'cash', 'credit'))",
        SQL.identifier(alias),
    )
