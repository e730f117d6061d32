from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _dunning_early_discounts(self, today):
        """``{move: {"date", "discount", "amount"}}`` for the invoices of
        ``self`` whose early-payment discount still holds on ``today``: the
        last day to take it, the saving and the discounted amount to pay,
        in the invoice's currency. Odoo decides and computes them
        (``_get_installments_data``), as it does when it books a payment
        of that amount with the discount."""
        discounts = {}
        for move in self.filtered("invoice_payment_term_id.early_discount"):
            terms = move.line_ids.filtered(
                lambda line: line.display_type == "payment_term"
            )
            installment = next(
                (
                    installment
                    for installment in terms._get_installments_data(payment_date=today)
                    if installment["type"] == "early_payment_discount"
                ),
                None,
            )
            if installment:
                discounts[move] = {
                    "date": installment["line"].discount_date,
                    "discount": installment["discount_amount_currency"],
                    "amount": installment["amount_residual_currency_unsigned"],
                }
        return discounts

    def _dunning_early_discount_text(self, discount, format_date, format_amount):
        """The sentence offering ``discount`` (a value of
        ``_dunning_early_discounts``) in the language of ``self.env``, the
        date and amount written by ``format_date`` and ``format_amount``."""
        return self.env._(
            "Pay by %(date)s and save %(amount)s.",
            date=format_date(discount["date"]),
            amount=format_amount(discount["discount"]),
        )
