"""SQL expressions over the receivable ledger that the reports and the KPIs
share."""

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
