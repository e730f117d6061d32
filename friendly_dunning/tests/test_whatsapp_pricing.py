import calendar
from datetime import date, datetime, timedelta

from odoo.exceptions import AccessError
from odoo.tests import freeze_time, tagged

from ..tools.whatsapp_webhook import parse_webhook
from .common import DunningCommon
from .common_whatsapp import PHONE_NUMBER_ID, status, status_payload

NOW = datetime(2026, 3, 10, 12, 0)
SENT = NOW - timedelta(hours=1)
# Meta's status webhook pricing objects.
REGULAR_MARKETING = {
    "billable": True,
    "pricing_model": "PMP",
    "category": "marketing",
    "type": "regular",
}
NOT_BILLABLE = {"billable": False, "pricing_model": "PMP", "category": "utility"}


def epoch(moment):
    return calendar.timegm(moment.timetuple())


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestWhatsAppPricing(DunningCommon):
    """Meta charges a delivered template by its category and the recipient's
    market; a utility template or a service message inside the customer's
    24-hour window is free; the status webhook's pricing has the last
    word."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.env["dunning.channel"].create(
            {
                "name": "WhatsApp",
                "channel_type": "whatsapp",
                "company_id": cls.company_a.id,
                "wa_phone_number_id": PHONE_NUMBER_ID,
                "wa_access_token": "token",
                "wa_app_secret": "secret",
            }
        )
        cls.sandbox = cls.env["dunning.channel"].search(
            [("company_id", "=", cls.company_a.id), ("channel_type", "=", "sandbox")]
        )
        cls.customer = cls._dunning_customer(
            "Joana",
            phone="+55 11 98765-4321",
            country_id=cls.env.ref("base.br").id,
        )
        Template = cls.env["dunning.whatsapp.template"]
        cls.utility = Template.create(
            {
                "channel_id": cls.channel.id,
                "name": "reminder",
                "language": "pt_BR",
                "category": "UTILITY",
                "status": "APPROVED",
            }
        )
        cls.marketing = Template.create(
            {
                "channel_id": cls.channel.id,
                "name": "offer",
                "language": "pt_BR",
                "category": "MARKETING",
                "status": "APPROVED",
            }
        )
        # Brazil has rates of its own; any other market takes 0.02.
        Rate = cls.env["dunning.whatsapp.rate"]
        currency = cls.company_a.currency_id
        for country, category, price in (
            ("base.br", "utility", 0.008),
            ("base.br", "marketing", 0.0625),
            (None, "utility", 0.02),
        ):
            Rate.create(
                {
                    "company_id": cls.company_a.id,
                    "country_id": country and cls.env.ref(country).id,
                    "category": category,
                    "price": price,
                    "currency_id": currency.id,
                }
            )
        cls.count = 0

    def _message(self, template=None, kind="reminder", sent=SENT, **values):
        self.count += 1
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": kind,
                "channel": "whatsapp",
                "channel_id": self.channel.id,
                "recipient": "+5511987654321",
                "state": "sent",
                "date": sent,
                "sent_date": sent,
                "provider_message_id": f"wamid.P{self.count}",
                "wa_template_id": template and template.id,
                "cost_category": template and template.category.lower(),
            }
            | values
        )

    def _reply(self, when):
        """The customer writing to us at ``when`` (opens the window)."""
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reply",
                "channel": "whatsapp",
                "channel_id": self.channel.id,
                "recipient": "+5511987654321",
                "state": "replied",
                "date": when,
            }
        )

    def _events(self, *events):
        """The parsed status events of one webhook carrying ``events``
        (``(message, status, pricing or None)``)."""
        payload = status_payload(
            *(
                status(
                    message.provider_message_id,
                    state,
                    epoch(NOW),
                    **({"pricing": pricing} if pricing else {}),
                )
                for message, state, pricing in events
            )
        )
        return parse_webhook(payload)["statuses"]

    def _apply(self, events):
        """Apply parsed status events the way the webhook route does."""
        self.env["dunning.communication"].sudo()._apply_whatsapp_statuses(
            self.channel, events
        )
        self.env.invalidate_all()

    def _statuses(self, *events):
        self._apply(self._events(*events))

    def _deliver(self, message, pricing=None):
        self._statuses((message, "delivered", pricing))
        return message

    def test_utility_template_outside_the_window_costs_the_market_rate(self):
        self._reply(SENT - timedelta(hours=25))  # too long ago: window closed
        message = self._deliver(self._message(self.utility))
        self.assertEqual(message.charge, "charged")
        self.assertEqual(message.cost_category, "utility")
        self.assertAlmostEqual(message.cost, 0.008, msg="Brazil's rate, not 0.02")
        self.assertEqual(message.charge_label, "Charged")

    def test_other_market_takes_the_rate_for_every_market(self):
        message = self._deliver(self._message(self.utility, recipient="+34612345678"))
        self.assertAlmostEqual(message.cost, 0.02)

    def test_utility_template_inside_the_window_is_free(self):
        self._reply(SENT - timedelta(hours=2))
        message = self._deliver(self._message(self.utility))
        self.assertEqual(message.charge, "free_window")
        self.assertEqual(message.cost, 0.0)
        self.assertIn("24-hour window", message.charge_label)

    def test_marketing_template_is_charged_even_inside_the_window(self):
        self._reply(SENT - timedelta(hours=2))
        message = self._deliver(self._message(self.marketing))
        self.assertEqual(message.charge, "charged")
        self.assertAlmostEqual(message.cost, 0.0625)

    def test_an_answer_is_free(self):
        self._reply(SENT - timedelta(minutes=1))
        message = self._deliver(self._message(kind="answer"))
        self.assertEqual(message.cost_category, "service")
        self.assertEqual(message.charge, "free_service")
        self.assertEqual(message.cost, 0.0)

    def test_webhook_not_billable_makes_it_free(self):
        message = self._deliver(self._message(self.utility), NOT_BILLABLE)
        self.assertEqual(message.charge, "free_provider")
        self.assertEqual(message.cost, 0.0)

    def test_webhook_category_wins_and_the_cost_follows(self):
        """Meta re-categorised the template as marketing: charged as such,
        even inside the window where a utility template would be free."""
        self._reply(SENT - timedelta(hours=2))
        message = self._deliver(self._message(self.utility), REGULAR_MARKETING)
        self.assertEqual(message.cost_category, "marketing")
        self.assertEqual(message.charge, "charged")
        self.assertAlmostEqual(message.cost, 0.0625)

    def test_free_customer_service_type_is_free(self):
        message = self._deliver(
            self._message(self.utility),
            {
                "pricing_model": "PMP",
                "category": "utility",
                "type": "free_customer_service",
            },
        )
        self.assertEqual((message.charge, message.cost), ("free_window", 0.0))

    def test_repeated_statuses_double_nothing(self):
        message = self._message(self.utility)
        self._deliver(message)
        # The manager changes the rate afterwards: a message already priced
        # keeps the price of its delivery.
        self.env["dunning.whatsapp.rate"].search(
            [("company_id", "=", self.company_a.id), ("country_id.code", "=", "BR")]
        ).write({"price": 1.0})
        self._statuses((message, "delivered", None), (message, "read", None))
        self._statuses((message, "delivered", None), (message, "sent", None))
        self.assertEqual(message.state, "read")
        self.assertAlmostEqual(message.cost, 0.008)
        kpis = self.env["dunning.kpi"].get_kpis(date(2026, 3, 1), date(2026, 3, 31))
        self.assertAlmostEqual(kpis["channels"]["whatsapp"]["cost"], 0.008)
        self.assertEqual(kpis["channels"]["whatsapp"]["delivered"], 1)

    def test_status_without_pricing_keeps_the_rate_card_cost(self):
        message = self._message(self.utility)
        self._statuses(
            (message, "sent", {"pricing_model": "PMP", "category": "utility"})
        )
        self.assertEqual(message.cost, 0.0, "charged once delivered, not sent")
        self.assertIn("on delivery", message.charge_label)
        self._deliver(message)
        self._statuses((message, "read", None))
        self.assertEqual(message.charge, "charged")
        self.assertAlmostEqual(message.cost, 0.008)

    def test_failed_message_costs_nothing(self):
        message = self._message(self.utility)
        self._statuses((message, "failed", None))
        self.assertEqual(message.state, "failed")
        self.assertFalse(message.charge)
        self.assertEqual(message.cost, 0.0)
        self.assertEqual(message.charge_label, "Not charged: not delivered")

    def test_missing_rate_is_shown(self):
        self.env["dunning.whatsapp.rate"].search([]).action_archive()
        message = self._deliver(self._message(self.utility))
        self.assertEqual((message.charge, message.cost), ("no_rate", 0.0))
        self.assertIn("rate card", message.charge_label)

    def test_rate_in_another_currency_is_converted(self):
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 2.0)])
        self.env["dunning.whatsapp.rate"].create(
            {
                "company_id": self.company_a.id,
                "channel_id": self.channel.id,
                "country_id": self.env.ref("base.br").id,
                "category": "utility",
                "price": 0.05,
                "currency_id": eur.id,
            }
        )
        message = self._deliver(self._message(self.utility))
        self.assertAlmostEqual(message.cost, 0.025, msg="the channel's EUR rate")

    def test_channel_shows_the_month_cost(self):
        self._deliver(self._message(self.utility))
        self._deliver(self._message(self.marketing))
        self._deliver(self._message(kind="answer"))
        # In the company's currency, rounded as it is
        self.assertAlmostEqual(
            self.channel.wa_month_cost,
            self.company_a.currency_id.round(0.008 + 0.0625),
        )
        self.assertEqual(self.channel.wa_month_charged_count, 2)
        self.assertEqual(self.channel.wa_month_free_count, 1)

    def test_funnel_collected_per_unit_of_cost(self):
        """Four WhatsApp reminders and one through the sandbox, each on an
        invoice of its own:

        ===========  ==============  =========  ======  =================
        reminder     window          delivered  cost    paid within 7 d
        ===========  ==============  =========  ======  =================
        utility      closed          yes        0.008   100
        utility      open (free)     yes        0       50
        marketing    open            yes        0.0625  no
        utility      closed          failed     0       30 (not credited)
        sandbox      -               never      0       -
        ===========  ==============  =========  ======  =================

        WhatsApp: 150 collected / 0.0705 of cost."""
        sent = datetime(2026, 3, 2, 9, 0)
        invoices = [
            self._dunning_invoice(self.customer, date(2026, 2, 20), amount)
            for amount in (100, 50, 70, 30, 40)
        ]
        closed, free, marketing, failed, sandbox = (
            self._message(template, sent=sent, move_ids=[(6, 0, invoice.ids)])
            for template, invoice in zip(
                (self.utility, self.utility, self.marketing, self.utility, None),
                invoices,
                strict=True,
            )
        )
        sandbox.write({"channel_id": self.sandbox.id, "state": "sandbox", "cost": 5})
        # Free and marketing went out after the customer wrote.
        for message in (free, marketing):
            message.write({"sent_date": sent + timedelta(hours=3)})
        self._reply(sent + timedelta(hours=2))
        self._statuses(
            (closed, "delivered", None),
            (free, "read", None),
            (marketing, "delivered", REGULAR_MARKETING),
            (failed, "failed", None),
        )
        self.assertEqual(
            [m.cost for m in (closed, free, marketing, failed)],
            [0.008, 0.0, 0.0625, 0.0],
        )
        for invoice in invoices[:2] + invoices[3:4]:
            self._dunning_pay(invoice, date(2026, 3, 5))
        kpis = self.env["dunning.kpi"].get_kpis(date(2026, 3, 1), date(2026, 3, 31))
        whatsapp = kpis["channels"]["whatsapp"]
        self.assertEqual((whatsapp["sent"], whatsapp["delivered"]), (4, 3))
        self.assertAlmostEqual(whatsapp["cost"], 0.0705)
        self.assertAlmostEqual(whatsapp["amount_collected"], 150)
        self.assertAlmostEqual(whatsapp["collected_per_cost"], 150 / 0.0705)
        box = kpis["channels"]["sandbox"]
        self.assertEqual((box["sent"], box["delivered"], box["cost"]), (1, 0, 0))
        report = self.env["dunning.report.channel"].search(
            [("id", "in", (closed | free | marketing | failed | sandbox).ids)]
        )
        self.assertAlmostEqual(sum(report.mapped("cost")), 0.0705)

    def test_no_query_per_message(self):
        """Pricing a batch of statuses (windows, markets, rates) takes the
        same queries for one message as for thirty."""
        self._reply(SENT - timedelta(hours=2))
        self._deliver(self._message(self.utility))  # warms the caches
        one = self._message(self.marketing)
        templates = (self.utility, self.marketing, None)
        batch = [
            self._message(
                templates[index % 3],
                recipient="+5511987654321" if index % 2 else f"+3461234{index:04d}",
            )
            for index in range(30)
        ]
        events_one = self._events((one, "delivered", None))
        events_batch = self._events(*((m, "delivered", None) for m in batch))
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        self._apply(events_one)
        queries = self.env.cr.sql_log_count - before
        with self.assertQueryCount(queries):
            self._apply(events_batch)
        self.assertEqual(
            {m.charge for m in batch}, {"charged", "free_window", "free_service"}
        )

    def test_sending_records_the_pricing_category(self):
        """A template is priced by its category, any other message as a
        service message; a category Meta reported first stays."""
        template, text, reported = (
            self._message(state="sending", sent_date=False, provider_message_id=False)
            for _ in range(3)
        )
        reported.cost_category = "marketing"
        self.env["dunning.communication"].sudo()._whatsapp_record(
            self.channel,
            [
                ({"id": template.id, "template_id": self.utility.id}, "wamid.T", None),
                ({"id": text.id}, "wamid.X", None),
                ({"id": reported.id, "template_id": self.utility.id}, "wamid.R", None),
            ],
        )
        self.assertEqual(
            [m.cost_category for m in (template, text, reported)],
            ["utility", "service", "marketing"],
        )
        self.assertEqual(template.state, "sent")

    def test_managers_keep_the_rate_card(self):
        rate = self.env["dunning.whatsapp.rate"].search(
            [("company_id", "=", self.company_a.id)], limit=1
        )
        self.assertTrue(rate.with_user(self.dunning_user_a).price)
        with self.assertRaises(AccessError):
            rate.with_user(self.dunning_user_a).write({"price": 0.0})
        rate.with_user(self.dunning_manager_a).write({"price": 0.009})
        self.assertEqual(rate.price, 0.009)
        other = self.env["dunning.whatsapp.rate"].create(
            {"company_id": self.company_b.id, "category": "utility", "price": 1.0}
        )
        self.assertFalse(
            other.with_user(self.dunning_user_a).search_count([("id", "=", other.id)]),
            "another company's rates stay hidden",
        )
