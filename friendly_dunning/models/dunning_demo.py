"""Date-relative demo invoices and payments for the demo customers.

Every date is counted from the day the demo is installed, so the ageing buckets
stay meaningful whenever a trial database is created. XML cannot say "paid six
days before the due date" without repeating the same date arithmetic a hundred
times, so the invoices live in the tables below and
``demo/account_move_demo.xml`` calls ``_load_demo_invoices``.

The customers themselves (``friendly_dunning.demo_partner_<slug>``) are plain
records in ``demo/res_partner_demo.xml``. Their payment plans, promises and
disputes, dated from today too, come from ``_load_demo_plans``
(``demo/dunning_plan_demo.xml``); the months of reminders before today, with
their replies, promises, a completed plan and ratings, from
``_load_demo_history`` (``dunning_demo_history.py``).
"""

from datetime import timedelta
from typing import NamedTuple

from odoo import Command, api, fields, models

from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG

# Short names for the products of the product demo data used on the invoices.
PRODUCTS = {
    "assembly": "product.product_product_furniture",  # Furniture Assembly
    "cabinet": "product.product_product_6",  # Large Cabinet
    "chair": "product.product_product_12",  # Office Chair Black
    "design": "product.product_product_1",  # Virtual Interior Design (hours)
    "desk": "product.product_product_3",  # Desk Combination
    "lamp": "product.product_delivery_02",  # Office Lamp
    "large_desk": "product.product_product_8",  # Large Desk (Wood)
    "screens": "product.product_product_25",  # Acoustic Bloc Screens
    "workplace": "product.product_product_24",  # Individual Workplace
}


class DemoInvoice(NamedTuple):
    """One customer invoice, dated relative to the day the demo is installed."""

    number: int  # xml id: friendly_dunning.demo_invoice_<partner slug>_<number>
    due_in: int  # days from today to the due date; negative means overdue
    lines: tuple  # (product key, quantity) or (product key, quantity, unit price)
    paid: int | None = None  # payment date in days after the due date (< 0: early)
    amount: float | None = None  # amount of a partial payment; default: all of it
    currency: str | None = None  # ISO code; default: the company currency
    # xml id of the payment term; default: the customer's. With several
    # instalments, due_in is the date of the last one.
    term: str | None = None


# The invoice date is the due date minus the customer's payment term, so each
# row reads as the collector sees it: how far the due date is, and whether and
# when the customer paid.
DEMO_INVOICES = {
    # Early payers: every invoice paid a few days before it falls due.
    "bluebird_bakery": (
        DemoInvoice(1, -95, (("desk", 2), ("chair", 4)), paid=-5),
        DemoInvoice(2, -65, (("lamp", 6),), paid=-3),
        DemoInvoice(3, -35, (("cabinet", 1),), paid=-7),
        DemoInvoice(4, 5, (("chair", 2), ("lamp", 2))),
        DemoInvoice(5, -5, (("lamp", 4),), paid=-2),
    ),
    "hedgerow_gardens": (
        DemoInvoice(1, -100, (("workplace", 2),), paid=-8),
        DemoInvoice(2, -70, (("design", 12),), paid=-6),
        DemoInvoice(3, -40, (("cabinet", 2),), paid=-2),
        DemoInvoice(4, 12, (("screens", 3),)),
        DemoInvoice(5, -10, (("chair", 3),), paid=-1),
    ),
    "atelier_mirabelle": (
        DemoInvoice(1, -135, (("screens", 2, 260.0),), paid=-12, currency="EUR"),
        DemoInvoice(2, -90, (("design", 20, 45.0),), paid=-10, currency="EUR"),
        DemoInvoice(3, -45, (("desk", 1, 520.0),), paid=-5, currency="EUR"),
        DemoInvoice(4, 20, (("design", 16, 45.0),), currency="EUR"),
        DemoInvoice(5, -12, (("design", 10, 45.0),), paid=-1, currency="EUR"),
    ),
    "casa_do_azulejo": (
        DemoInvoice(1, -80, (("chair", 6),), paid=-4),
        DemoInvoice(2, -50, (("lamp", 10),), paid=-4),
        DemoInvoice(3, -20, (("cabinet", 2),), paid=-6),
    ),
    "sabia_cafe": (
        DemoInvoice(1, -60, (("chair", 8),), paid=-2),
        DemoInvoice(2, -39, (("lamp", 8),), paid=-3),
        DemoInvoice(3, -18, (("desk", 1),), paid=-1),
        DemoInvoice(4, 3, (("cabinet", 1), ("lamp", 2))),
    ),
    "jacaranda_print": (
        DemoInvoice(1, -110, (("workplace", 3),), paid=-5),
        DemoInvoice(2, -75, (("screens", 4),), paid=-5),
        DemoInvoice(3, -30, (("chair", 5),), paid=-9),
        DemoInvoice(4, 25, (("desk", 2),)),
    ),
    "cedar_lane_dental": (
        DemoInvoice(1, -50, (("chair", 3),), paid=-2),
        DemoInvoice(2, -35, (("cabinet", 1),), paid=-1),
        DemoInvoice(3, -20, (("lamp", 4),), paid=-2),
        DemoInvoice(4, 1, (("design", 6),)),
    ),
    "olivar_del_sur": (
        DemoInvoice(1, -115, (("workplace", 1),), paid=-4),
        DemoInvoice(2, -85, (("large_desk", 1),), paid=-3),
        DemoInvoice(3, -55, (("chair", 6),), paid=-6),
        DemoInvoice(4, 8, (("cabinet", 2),)),
        DemoInvoice(5, -25, (("lamp", 5),), paid=-2),
    ),
    # Occasional late payers: mostly on time, now and then a week or two late,
    # and one current invoice slightly overdue.
    "harbor_light_books": (
        DemoInvoice(1, -130, (("chair", 4),), paid=-2),
        DemoInvoice(2, -100, (("cabinet", 2),), paid=0),
        DemoInvoice(3, -70, (("lamp", 12),), paid=9),
        DemoInvoice(4, -40, (("chair", 4),), paid=-1),
        DemoInvoice(5, -8, (("desk", 1), ("lamp", 4))),
    ),
    "thistle_tweed": (
        DemoInvoice(1, -125, (("cabinet", 1),), paid=0),
        DemoInvoice(2, -95, (("screens", 2),), paid=-1),
        DemoInvoice(3, -65, (("chair", 6),), paid=-2),
        DemoInvoice(4, -35, (("workplace", 1),), paid=12),
        DemoInvoice(5, -12, (("cabinet", 1), ("lamp", 3))),
    ),
    "brisa_marina": (
        DemoInvoice(1, -150, (("lamp", 10, 35.0),), paid=-1, currency="EUR"),
        DemoInvoice(2, -120, (("chair", 6, 95.0),), paid=-3, currency="EUR"),
        DemoInvoice(3, -90, (("chair", 10, 95.0),), paid=0, currency="EUR"),
        DemoInvoice(4, -60, (("lamp", 12, 35.0),), paid=7, currency="EUR"),
        DemoInvoice(5, -25, (("cabinet", 3, 290.0),), currency="EUR"),
    ),
    "petit_four": (
        DemoInvoice(1, -140, (("chair", 2),), paid=-2),
        DemoInvoice(2, -110, (("lamp", 4),), paid=0),
        DemoInvoice(3, -80, (("desk", 1),), paid=-1),
        DemoInvoice(4, -50, (("lamp", 5),), paid=6),
        DemoInvoice(5, -18, (("chair", 3),)),
        DemoInvoice(6, 10, (("design", 8),)),
    ),
    "colibri_verde": (
        DemoInvoice(1, -95, (("lamp", 4),), paid=-1),
        DemoInvoice(2, -75, (("chair", 4),), paid=4),
        DemoInvoice(3, -55, (("lamp", 6),), paid=0),
        DemoInvoice(4, -35, (("cabinet", 1),), paid=-2),
        DemoInvoice(5, -5, (("desk", 1),)),
    ),
    "montana_azul": (
        DemoInvoice(1, -150, (("chair", 6),), paid=-5),
        DemoInvoice(2, -105, (("workplace", 2),), paid=10),
        DemoInvoice(3, -75, (("lamp", 10),), paid=-2),
        DemoInvoice(4, -45, (("chair", 8),), paid=-3),
        DemoInvoice(5, -28, (("screens", 3),)),
    ),
    "libreria_tango": (
        DemoInvoice(1, -120, (("lamp", 8),), paid=0),
        DemoInvoice(2, -90, (("cabinet", 3),), paid=-2),
        DemoInvoice(3, -60, (("lamp", 10),), paid=-3),
        DemoInvoice(4, -30, (("chair", 4),), paid=8),
        DemoInvoice(5, -2, (("desk", 1),)),
    ),
    "ipe_moveis": (
        DemoInvoice(1, -148, (("design", 6),), paid=-1),
        DemoInvoice(2, -118, (("chair", 4),), paid=0),
        DemoInvoice(3, -88, (("design", 10),), paid=-2),
        DemoInvoice(4, -58, (("screens", 2),), paid=11),
        DemoInvoice(5, -22, (("workplace", 1),)),
    ),
    "mare_alta": (
        DemoInvoice(1, -152, (("lamp", 6),), paid=-3),
        DemoInvoice(2, -122, (("chair", 2),), paid=-1),
        DemoInvoice(3, -92, (("chair", 6),), paid=1),
        DemoInvoice(4, -62, (("cabinet", 2),), paid=-4),
        DemoInvoice(5, -15, (("lamp", 8),)),
        DemoInvoice(6, 5, (("desk", 1),)),
    ),
    # Chronic late payers: old invoices paid weeks late, partial payments and
    # large amounts overdue in every bucket up to 120 days.
    "rusty_anchor_diner": (
        DemoInvoice(1, -150, (("large_desk", 2),), paid=45),
        DemoInvoice(2, -120, (("workplace", 4), ("assembly", 1, 600.0))),
        DemoInvoice(3, -75, (("chair", 12),)),
        DemoInvoice(4, -20, (("cabinet", 2),)),
    ),
    "prairie_wind_events": (
        DemoInvoice(1, -130, (("screens", 8),), paid=55),
        DemoInvoice(2, -95, (("large_desk", 3),), paid=30, amount=2000.0),
        DemoInvoice(3, -45, (("chair", 20),)),
        # Paid through a payment plan: see DEMO_PLAN in dunning_demo_history.py.
        DemoInvoice(4, -125, (("workplace", 2), ("assembly", 1, 400.0))),
    ),
    "foxglove_events": (
        DemoInvoice(1, -140, (("workplace", 3),), paid=38),
        DemoInvoice(2, -100, (("screens", 10),)),
        DemoInvoice(3, -66, (("large_desk", 1), ("assembly", 1, 350.0))),
        DemoInvoice(4, -10, (("lamp", 15),)),
    ),
    "fiesta_brava": (
        DemoInvoice(1, -135, (("chair", 15),), paid=60),
        DemoInvoice(2, -110, (("large_desk", 2),), paid=40, amount=1500.0),
        DemoInvoice(3, -82, (("workplace", 2),)),
        DemoInvoice(4, -33, (("cabinet", 4),)),
    ),
    "capivara_construcoes": (
        DemoInvoice(1, -145, (("workplace", 4),), paid=50),
        DemoInvoice(2, -91, (("large_desk", 2), ("assembly", 1, 800.0))),
        DemoInvoice(3, -52, (("cabinet", 5),)),
        DemoInvoice(4, 4, (("chair", 10),)),
        # 30 % at once, overdue for 40 days; the balance due in 20 days.
        DemoInvoice(
            5,
            20,
            (("large_desk", 1), ("chair", 6)),
            term="account.account_payment_term_advance_60days",
        ),
    ),
    "taller_rambla": (
        DemoInvoice(1, -125, (("cabinet", 4),), paid=42),
        DemoInvoice(2, -88, (("workplace", 3),), paid=25, amount=1000.0),
        DemoInvoice(3, -58, (("chair", 10),)),
    ),
    "pampa_logistica": (
        DemoInvoice(1, -140, (("screens", 6),), paid=35),
        DemoInvoice(2, -115, (("large_desk", 2),)),
        DemoInvoice(3, -70, (("workplace", 2),)),
        DemoInvoice(4, -40, (("chair", 8),)),
    ),
    "sabor_caribe": (
        DemoInvoice(1, -120, (("cabinet", 3),), paid=48),
        DemoInvoice(2, -85, (("workplace", 3),), paid=20, amount=800.0),
        DemoInvoice(3, -62, (("screens", 5),)),
        DemoInvoice(4, -27, (("lamp", 20),)),
    ),
    # New customers: a single recent invoice, not due yet.
    "sunny_side_yoga": (DemoInvoice(1, 22, (("design", 8),)),),
    "jardins_de_lea": (DemoInvoice(1, 26, (("desk", 1), ("chair", 2))),),
    "cafe_la_ceiba": (DemoInvoice(1, 15, (("chair", 6),)),),
    "lisboa_bike_tours": (DemoInvoice(1, 9, (("cabinet", 1),)),),
    "kite_kettle": (DemoInvoice(1, 28, (("lamp", 6), ("chair", 2))),),
}

# Credit notes: the invoice they correct (its xml id suffix), then their date in
# days from today, their reason and their lines.
DEMO_CREDIT_NOTES = {
    "harbor_light_books_5": (-20, "Two office lamps arrived broken", (("lamp", 2),)),
}


class DunningDemo(models.AbstractModel):
    _name = "dunning.demo"
    _description = "Collections demo data loader"

    @api.model
    def _load_demo_invoices(self):
        """Create, post and pay the demo invoices that do not exist yet.

        Invoices that already have their xml id are left alone, so loading
        the demo data a second time only adds what is missing.
        """
        company = self.env.ref("base.main_company")
        Move = self.env["account.move"].with_company(company)
        today = fields.Date.context_today(self)
        existing = set(
            self.env["ir.model.data"]
            .search(
                [("module", "=", "friendly_dunning"), ("model", "=", "account.move")]
            )
            .mapped("name")
        )
        todo = []
        for slug, invoices in DEMO_INVOICES.items():
            partner = self.env.ref(f"friendly_dunning.demo_partner_{slug}")
            partner_term = partner.with_company(company).property_payment_term_id
            for invoice in invoices:
                name = f"demo_invoice_{slug}_{invoice.number}"
                if name not in existing:
                    term = self.env.ref(invoice.term) if invoice.term else partner_term
                    term_days = max(term.line_ids.mapped("nb_days"), default=0)
                    due_date = today + timedelta(days=invoice.due_in)
                    todo.append(
                        (name, partner, due_date - timedelta(days=term_days), invoice)
                    )
        todo.sort(key=lambda item: item[2])
        moves = Move._load_records(
            [
                {
                    "xml_id": f"friendly_dunning.{name}",
                    "noupdate": True,
                    "values": self._demo_invoice_values(partner, invoice_date, invoice),
                }
                for name, partner, invoice_date, invoice in todo
            ]
        )
        moves.action_post()
        to_pay, payment_names = [], []
        for move, (name, _partner, _date, invoice) in zip(moves, todo):
            if invoice.paid is not None:
                payment_date = move.invoice_date_due + timedelta(days=invoice.paid)
                to_pay.append((move, payment_date, invoice.amount))
                payment_names.append(name.replace("demo_invoice_", "demo_payment_"))
        payments = self._demo_register_payments(company, to_pay)
        # The payments get xml ids too, so that they go away with the module.
        self.env["ir.model.data"]._update_xmlids(
            [
                {
                    "xml_id": f"friendly_dunning.{name}",
                    "record": payment,
                    "noupdate": True,
                }
                for name, payment in zip(payment_names, payments)
            ]
        )
        self._load_demo_credit_notes(existing)

    @api.model
    def _demo_invoice_values(self, partner, invoice_date, invoice):
        values = {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": invoice_date,
            "invoice_user_id": self.env.ref("base.user_admin").id,
            "invoice_line_ids": self._demo_line_commands(invoice.lines),
        }
        if invoice.currency:
            values["currency_id"] = self.env.ref(f"base.{invoice.currency}").id
        if invoice.term:
            values["invoice_payment_term_id"] = self.env.ref(invoice.term).id
        return values

    @api.model
    def _demo_line_commands(self, lines):
        commands = []
        for product_key, quantity, *price in lines:
            values = {
                "product_id": self.env.ref(PRODUCTS[product_key]).id,
                "quantity": quantity,
            }
            if price:
                values["price_unit"] = price[0]
            commands.append(Command.create(values))
        return commands

    @api.model
    def _demo_register_payments(self, company, to_pay):
        """Pay invoices the way the payment wizard does: one payment each, on
        its own date, reconciled with its invoice.

        :param to_pay: ``(invoice, payment date, amount)`` tuples; no amount
            means the whole residual
        :return: the payments, in the order of ``to_pay``
        """
        payments = (
            self.env["account.payment"]
            .with_company(company)
            .create(
                [
                    {
                        "payment_type": "inbound",
                        "partner_type": "customer",
                        "partner_id": invoice.commercial_partner_id.id,
                        "amount": amount or invoice.amount_residual,
                        "currency_id": invoice.currency_id.id,
                        "date": payment_date,
                        "memo": invoice.name,
                    }
                    for invoice, payment_date, amount in to_pay
                ]
            )
        )
        payments.action_post()
        for payment, (invoice, _date, _amount) in zip(payments, to_pay):
            (payment.move_id.line_ids + invoice.line_ids).filtered(
                lambda line: (
                    line.account_type == "asset_receivable" and not line.reconciled
                )
            ).reconcile()
            invoice.matched_payment_ids += payment
        return payments

    @api.model
    def _load_demo_credit_notes(self, existing):
        today = fields.Date.context_today(self)
        for invoice_name, (days, reason, lines) in DEMO_CREDIT_NOTES.items():
            name = f"demo_credit_note_{invoice_name}"
            if name in existing:
                continue
            invoice = self.env.ref(f"friendly_dunning.demo_invoice_{invoice_name}")
            credit_note = (
                self.env["account.move"]
                .with_company(invoice.company_id)
                ._load_records(
                    [
                        {
                            "xml_id": f"friendly_dunning.{name}",
                            "noupdate": True,
                            "values": {
                                "move_type": "out_refund",
                                "partner_id": invoice.partner_id.id,
                                "reversed_entry_id": invoice.id,
                                "invoice_date": today + timedelta(days=days),
                                "ref": reason,
                                "currency_id": invoice.currency_id.id,
                                "invoice_line_ids": self._demo_line_commands(lines),
                            },
                        }
                    ]
                )
            )
            credit_note.action_post()
            receivable = credit_note.line_ids.filtered(
                lambda line: line.account_id.account_type == "asset_receivable"
            )
            invoice.js_assign_outstanding_line(receivable.id)

    @api.model
    def _load_demo_plans(self):
        """Plans, promises and disputes on the demo customers, dated from
        today (see demo/dunning_plan_demo.xml). Records that already have their
        xml id are left alone."""
        company = self.env.ref("base.main_company")
        today = fields.Date.context_today(self)
        Promise = self.env["dunning.promise"].with_company(company)
        Plan = self.env["dunning.payment.plan"].with_company(company)

        def ref(name):
            return self.env.ref(f"friendly_dunning.{name}", raise_if_not_found=False)

        def invoices(slug, *numbers):
            return self.env["account.move"].union(
                *(ref(f"demo_invoice_{slug}_{number}") for number in numbers)
            )

        created = []
        if not ref("demo_plan_pampa_logistica"):
            # Three monthly instalments, within the limits: running.
            plan = Plan._dunning_propose(
                self.env.ref("friendly_dunning.demo_partner_pampa_logistica"),
                invoices("pampa_logistica", 2, 3),
                3,
                today + timedelta(days=5),
                source="accountant",
            )
            created.append(("demo_plan_pampa_logistica", plan))
        if not ref("demo_plan_taller_rambla"):
            # Eight instalments are more than a chronic late payer may choose.
            plan = Plan._dunning_propose(
                self.env.ref("friendly_dunning.demo_partner_taller_rambla"),
                invoices("taller_rambla", 3),
                8,
                today + timedelta(days=10),
                source="portal",
            )
            created.append(("demo_plan_taller_rambla", plan))
        if not ref("demo_promise_thistle_tweed"):
            promise = Promise._dunning_promise(
                self.env.ref("friendly_dunning.demo_partner_thistle_tweed"),
                invoices("thistle_tweed", 5),
                today + timedelta(days=5),
                source="reply",
            )
            created.append(("demo_promise_thistle_tweed", promise))
        if not ref("demo_promise_foxglove_events"):
            # Promised for twelve days ago and never paid.
            promise = Promise._dunning_promise(
                self.env.ref("friendly_dunning.demo_partner_foxglove_events"),
                invoices("foxglove_events", 4),
                today,
                source="portal",
            )
            promise.write(
                {
                    "promised_date": today - timedelta(days=12),
                    "grace_date": today - timedelta(days=7),
                }
            )
            promise._dunning_break()
            created.append(("demo_promise_foxglove_events", promise))
        if not ref("demo_dispute_colibri_verde"):
            # Waiting for the accountant's answer, in the disputes queue.
            dispute = self.env.ref(
                "friendly_dunning.demo_partner_colibri_verde"
            )._dunning_open_dispute(
                invoices("colibri_verde", 5),
                reason="not_received",
                words=self.env._(
                    "The desk delivered is not the model we ordered. We will pay "
                    "once the right one arrives."
                ),
                source="portal",
            )
            created.append(("demo_dispute_colibri_verde", dispute))
        if not ref("demo_dispute_montana_azul"):
            # Settled three weeks ago: a screen arrived damaged and was replaced.
            dispute = self.env.ref(
                "friendly_dunning.demo_partner_montana_azul"
            )._dunning_open_dispute(
                invoices("montana_azul", 5),
                reason="quality",
                words=self.env._(
                    "One of the three screens arrived with a broken frame."
                ),
                source="whatsapp",
            )
            dispute.resolution = self.env._(
                "A replacement screen was delivered; the customer confirmed it."
            )
            dispute.action_resolve()
            dispute.write(
                {
                    "date_opened": today - timedelta(days=26),
                    "date_closed": today - timedelta(days=21),
                }
            )
            created.append(("demo_dispute_montana_azul", dispute))
        self.env["ir.model.data"]._update_xmlids(
            [
                {
                    "xml_id": f"friendly_dunning.{name}",
                    "record": record,
                    "noupdate": True,
                }
                for name, record in created
            ]
        )

    @api.model
    def _unload_demo_accounting(self):
        """Delete the demo invoices, credit notes and payments, and the
        messages of the demo history; the module's uninstall hook calls this.

        The uninstall proper cannot do it: Odoo refuses to delete a paid
        payment, and while it deletes records it no longer recomputes this
        module's stored fields. The customers, whose entries would then stay,
        could not be deleted either.
        """
        data = self.env["ir.model.data"].search(
            [
                ("module", "=", "friendly_dunning"),
                (
                    "model",
                    "in",
                    ("account.payment", "account.move", "dunning.communication"),
                ),
            ]
        )
        payments = self.env["account.payment"].browse(
            data.filtered(lambda d: d.model == "account.payment").mapped("res_id")
        )
        moves = self.env["account.move"].browse(
            data.filtered(lambda d: d.model == "account.move").mapped("res_id")
        )
        messages = self.env["dunning.communication"].browse(
            data.filtered(lambda d: d.model == "dunning.communication").mapped("res_id")
        )
        # A message keeps its customer from being deleted.
        messages.unlink()
        payments.action_draft()
        payments.unlink()
        # Deleted by the module's uninstallation, as posted entries may be.
        moves.with_context(**{MODULE_UNINSTALL_FLAG: True}).unlink()
