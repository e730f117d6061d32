from .common import DunningCommon, days


class PlanCommon(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Plan = cls.env["dunning.payment.plan"]
        cls.paula = cls._dunning_customer("Paula")
        cls.paula_old = cls._dunning_invoice(cls.paula, days(-20), 300.0)
        cls.paula_new = cls._dunning_invoice(cls.paula, days(-10), 200.01)
        cls.paula_moves = cls.paula_old | cls.paula_new
        cls.oscar = cls._dunning_customer("Oscar")
        cls.oscar_invoice = cls._dunning_invoice(cls.oscar, days(-5), 80.0)

    @classmethod
    def _dunning_invoice_b(cls, partner, due, amount):
        """A posted invoice of company B."""
        journal = cls.env["account.journal"].search(
            [("company_id", "=", cls.company_b.id), ("type", "=", "sale")], limit=1
        )
        invoice = cls._create_invoice_one_line(
            price_unit=amount,
            tax_ids=[],
            partner_id=partner,
            invoice_date=due,
            invoice_date_due=due,
            invoice_payment_term_id=False,
            company_id=cls.company_b.id,
            journal_id=journal.id,
        )
        invoice.action_post()
        return invoice

    def _settle_payments(self):
        """What happens when the transaction that registered a payment commits."""
        self.env.flush_all()
        self.env.cr.precommit.run()

    def _notes(self, record):
        return " ".join(
            str(body)
            for body in self.env["mail.message"]
            .search([("model", "=", record._name), ("res_id", "=", record.id)])
            .mapped("body")
        )

    def _messages(self, partner, kind):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id), ("kind", "=", kind)]
        )
