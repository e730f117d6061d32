from datetime import date, datetime, timedelta

from .common import DunningCommon

NOW = datetime(2026, 3, 31, 12, 0)
Q1 = (date(2026, 1, 1), date(2026, 3, 31))  # 90 days


class KpiScenario(DunningCommon):
    """One quarter of company A, small enough to compute every KPI by hand.

    ========  ========  ==========  ==========  ========  ===========================
    customer  document  date        due         amount    settled
    ========  ========  ==========  ==========  ========  ===========================
    Ana       inv_0     2025-12-01  2025-12-31  1,000     paid in full 2026-01-20
    Ana       inv_3     2026-03-15  2026-04-14    800     open, not due on 03-31
    Bruno     inv_old   2025-10-01  2025-10-31    400     open, 151 days late
    Bruno     inv_1     2026-01-10  2026-02-09  2,000     500 paid 2026-02-20
    Bruno     refund    2026-03-20  -             -200    credit note, not applied
    Chloé     inv_2     2026-02-01  2026-03-03  EUR 600   open (= 300 USD at 2 EUR/USD)
    ========  ========  ==========  ==========  ========  ===========================

    Company B sells 5,000 in the same quarter and must never show up in A's
    figures.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR", rates=[("2025-01-01", 2.0)])
        cls.ana = cls._dunning_customer("Ana")
        cls.bruno = cls._dunning_customer("Bruno")
        cls.chloe = cls._dunning_customer("Chloe")
        invoice = cls._dunning_invoice
        cls.inv_0 = invoice(cls.ana, date(2025, 12, 31), 1000, date(2025, 12, 1))
        cls.inv_old = invoice(cls.bruno, date(2025, 10, 31), 400, date(2025, 10, 1))
        cls.inv_1 = invoice(cls.bruno, date(2026, 2, 9), 2000, date(2026, 1, 10))
        cls.inv_2 = invoice(
            cls.chloe, date(2026, 3, 3), 600, date(2026, 2, 1), currency_id=cls.eur.id
        )
        cls.inv_3 = invoice(cls.ana, date(2026, 4, 14), 800, date(2026, 3, 15))
        cls.refund = cls._create_invoice_one_line(
            move_type="out_refund",
            price_unit=200,
            tax_ids=[],
            partner_id=cls.bruno,
            invoice_date=date(2026, 3, 20),
        )
        cls.refund.action_post()
        cls._dunning_pay(cls.inv_0, date(2026, 1, 20))
        cls._dunning_pay(cls.inv_1, date(2026, 2, 20), amount=500)
        cls.inv_2.action_dunning_pause("dispute")

        # Reminders: e-mail for inv_0 (then paid in 5 days) and inv_1 (a
        # partial payment 5 days later), WhatsApp for inv_2 (read, no payment).
        channels = cls.env["dunning.channel"]
        email = channels.search(
            [("company_id", "=", cls.company_a.id), ("channel_type", "=", "email")],
            limit=1,
        ) or channels.create(
            {"name": "E-mail", "channel_type": "email", "company_id": cls.company_a.id}
        )
        whatsapp = channels.create(
            {
                "name": "WhatsApp",
                "channel_type": "whatsapp",
                "company_id": cls.company_a.id,
            }
        )
        message = cls.env["dunning.communication"].create
        for move, channel, sent, values in (
            (cls.inv_0, email, datetime(2026, 1, 15, 9), {"state": "sent"}),
            (cls.inv_1, email, datetime(2026, 2, 15, 9), {"state": "sent"}),
            (
                cls.inv_2,
                whatsapp,
                datetime(2026, 3, 10, 9),
                {
                    "state": "read",
                    "delivered_date": datetime(2026, 3, 10, 9, 1),
                    "read_date": datetime(2026, 3, 10, 10),
                    "cost": 0.05,
                },
            ),
        ):
            message(
                {
                    "company_id": cls.company_a.id,
                    "partner_id": move.partner_id.id,
                    "move_ids": [(6, 0, move.ids)],
                    "kind": "reminder",
                    "channel": "whatsapp"
                    if channel.channel_type == "whatsapp"
                    else "email",
                    "channel_id": channel.id,
                    "sent_date": sent,
                    "date": sent,
                }
                | values
            )

        cls.customer_b = cls.env["res.partner"].create(
            {"name": "Company B customer", "company_id": cls.company_b.id}
        )
        cls.inv_b = (
            cls.env["account.move"]
            .with_company(cls.company_b)
            .create(
                {
                    "move_type": "out_invoice",
                    "partner_id": cls.customer_b.id,
                    "invoice_date": date(2026, 2, 1),
                    "invoice_date_due": date(2026, 3, 3),
                    "invoice_line_ids": [
                        (0, 0, {"name": "Service", "price_unit": 5000, "tax_ids": []})
                    ],
                }
            )
        )
        cls.inv_b.action_post()

        # Promises: Ana kept hers (1,000), Bruno broke his (1,500); Chloé's is
        # still open (due after the quarter); B's kept promise stays in B.
        promise = cls.env["dunning.promise"].create
        for partner, company, move, promised, grace, amount, state in (
            (cls.ana, cls.company_a, cls.inv_0, 18, 21, 1000, "kept"),
            (cls.bruno, cls.company_a, cls.inv_1, 60, 63, 1500, "broken"),
            (cls.chloe, cls.company_a, cls.inv_2, 100, 103, 300, "open"),
            (cls.customer_b, cls.company_b, cls.inv_b, 40, 43, 5000, "kept"),
        ):
            promise(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "move_ids": [(6, 0, move.ids)],
                    "promised_date": date(2026, 1, 1) + timedelta(days=promised - 1),
                    "grace_date": date(2026, 1, 1) + timedelta(days=grace - 1),
                    "promised_amount": amount,
                    "residual_at_promise": amount,
                    "state": state,
                }
            )
        # Plans: one completed (last instalment 03-01), one broken (missed
        # 03-15), one still active (ends in May).
        for state, dues in (
            ("completed", [(date(2026, 2, 1), "paid"), (date(2026, 3, 1), "paid")]),
            ("broken", [(date(2026, 2, 15), "paid"), (date(2026, 3, 15), "missed")]),
            ("active", [(date(2026, 3, 20), "paid"), (date(2026, 5, 20), "pending")]),
        ):
            cls.env["dunning.payment.plan"].create(
                {
                    "partner_id": cls.bruno.id,
                    "company_id": cls.company_a.id,
                    "state": state,
                    "installment_ids": [
                        (0, 0, {"date_due": due, "amount": 100, "state": paid})
                        for due, paid in dues
                    ],
                }
            )
        # Ratings: 5 and 3 in A during the quarter, 1 in B.
        for partner, company, rating in (
            (cls.ana, cls.company_a, 5),
            (cls.bruno, cls.company_a, 3),
            (cls.customer_b, cls.company_b, 1),
        ):
            cls.env["dunning.feedback"].create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "rating": rating,
                    "date": datetime(2026, 3, 30, 10),
                }
            )
