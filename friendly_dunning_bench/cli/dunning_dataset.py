"""Benchmark dataset: ``odoo dunning_dataset`` fills a database with customers,
posted customer invoices, credit notes and payments with a realistic aging, and
the reminders sent about the invoices and the customers' replies.

Everything goes through the accounting engine: invoices and credit notes are
created with the journal items the engine's own tax helpers compute and posted
with ``action_post`` (which checks their balance and reconciles credit notes);
customer payments are bank journal entries, posted, then matched with their
invoices by ``_reconcile_plan``, which books the exchange differences. The
speed comes from batching, from numbering every entry up front (so that worker
processes never wait for each other's sequences) and from worker processes,
not from writing accounting tables directly. Reminders and replies, plain
rows of the outbox, are inserted in bulk.
Odoo's command-line dispatcher loads this file; it never enters a registry.
Tests import :func:`generate`.
"""

import logging
import math
import multiprocessing
import random
import sys
import time
import traceback
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice

import phonenumbers

from odoo import api, fields
from odoo.cli.command import Command
from odoo.modules.db import is_initialized
from odoo.modules.registry import Registry
from odoo.service import db as db_service
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.sql_db import close_all, close_db, db_connect
from odoo.tools import SQL, config

_logger = logging.getLogger(__name__)

ADDON = "friendly_dunning"
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_ATTEMPTS = 5
HISTORY_DAYS = 540  # invoices spread over the last ~18 months
NEW_CUSTOMER_DAYS = 90
CREDIT_NOTE_RATE = 0.05
APPLIED_CREDIT_NOTE_SHARE = 0.75
FULL_CREDIT_NOTE_SHARE = 0.2
ON_ACCOUNT_PAYMENT_RATE = 0.01  # unreconciled payments, per invoice
CUSTOMER_REFERENCE_RATE = 0.3
INVOICE_CONTACT_RATE = 0.25
LOCAL_CURRENCY_SHARE = 0.6  # foreign customers invoiced in their own currency
PAYMENT_RUN_SHARE = 0.5  # customers paying on a weekly run, several invoices at once
PAYMENT_TERM_DAYS = ((15, 30), (30, 50), (60, 20))  # (days, weight)
# Instalment terms (--instalment-share): equal parts due every 30 days.
INSTALMENT_COUNTS = (2, 3)
INSTALMENT_INTERVAL_DAYS = 30
MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)
# Rough units of each currency per US dollar; weekly rates walk around them.
CURRENCY_UNITS_PER_USD = {"USD": 1.0, "EUR": 0.92, "MXN": 18.5, "BRL": 5.4}
EXTRA_COMPANY_CURRENCIES = ("EUR", "MXN", "BRL")
FAST_CONTEXT = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_notrack": True,
    "mail_auto_subscribe_no_notify": True,
}


@dataclass(frozen=True)
class Country:
    currency: str
    weight: int
    lang: str
    legal_forms: tuple
    cities: tuple  # (city, zip, time zone)
    streets: tuple


COUNTRIES = {
    "US": Country(
        "USD",
        40,
        "en_US",
        ("Inc.", "LLC", "Corp."),
        (
            ("Austin", "78701", "America/Chicago"),
            ("Chicago", "60601", "America/Chicago"),
            ("Denver", "80202", "America/Denver"),
        ),
        ("Main Street", "Oak Avenue", "Market Street"),
    ),
    "MX": Country(
        "MXN",
        14,
        "es_MX",
        ("S.A. de C.V.", "S. de R.L. de C.V."),
        (
            ("Ciudad de México", "06600", "America/Mexico_City"),
            ("Guadalajara", "44100", "America/Mexico_City"),
            ("Monterrey", "64000", "America/Monterrey"),
        ),
        ("Avenida Reforma", "Calle Morelos", "Avenida Juárez"),
    ),
    "BR": Country(
        "BRL",
        14,
        "pt_BR",
        ("Ltda.", "S.A."),
        (
            ("São Paulo", "01310-100", "America/Sao_Paulo"),
            ("Rio de Janeiro", "20040-002", "America/Sao_Paulo"),
            ("Curitiba", "80010-000", "America/Sao_Paulo"),
        ),
        ("Avenida Paulista", "Rua das Flores", "Rua XV de Novembro"),
    ),
    "DE": Country(
        "EUR",
        10,
        "de_DE",
        ("GmbH", "AG"),
        (
            ("Berlin", "10115", "Europe/Berlin"),
            ("München", "80331", "Europe/Berlin"),
            ("Hamburg", "20095", "Europe/Berlin"),
        ),
        ("Hauptstraße", "Bahnhofstraße", "Lindenweg"),
    ),
    "FR": Country(
        "EUR",
        9,
        "fr_FR",
        ("SARL", "SAS"),
        (
            ("Paris", "75002", "Europe/Paris"),
            ("Lyon", "69002", "Europe/Paris"),
            ("Nantes", "44000", "Europe/Paris"),
        ),
        ("Rue de la République", "Avenue Victor Hugo", "Rue Nationale"),
    ),
    "ES": Country(
        "EUR",
        8,
        "es_ES",
        ("S.L.", "S.A."),
        (
            ("Madrid", "28013", "Europe/Madrid"),
            ("Barcelona", "08002", "Europe/Madrid"),
            ("Valencia", "46002", "Europe/Madrid"),
        ),
        ("Calle Mayor", "Gran Vía", "Calle del Sol"),
    ),
    "IT": Country(
        "EUR",
        5,
        "it_IT",
        ("S.r.l.", "S.p.A."),
        (
            ("Milano", "20121", "Europe/Rome"),
            ("Roma", "00184", "Europe/Rome"),
            ("Torino", "10121", "Europe/Rome"),
        ),
        ("Via Roma", "Corso Italia", "Via Garibaldi"),
    ),
}
NAME_PREFIXES = (
    "Atlas", "Blue", "Cedar", "Coral", "Delta", "Evergreen", "Golden", "Granite",
    "Harbor", "Iron", "Lumen", "Maple", "North", "Nova", "Orbit", "Pioneer",
    "Prime", "Quartz", "Red Rock", "Silver", "Summit", "Sun", "Vertex", "Willow",
)  # fmt: skip
NAME_ACTIVITIES = (
    "Builders", "Consulting", "Energy", "Farms", "Foods", "Furniture", "Health",
    "Hospitality", "Labs", "Logistics", "Media", "Motors", "Packaging", "Pharma",
    "Print", "Retail", "Software", "Studios", "Systems", "Textiles", "Trading",
)  # fmt: skip
FIRST_NAMES = (
    "Ana", "Carlos", "Chloé", "Emma", "Giulia", "Hannah", "Jonas", "José", "Laura",
    "Lucas", "Maria", "Mateo", "Olivia", "Pedro", "Sofia", "Thomas",
)  # fmt: skip
LAST_NAMES = (
    "Bianchi", "Dubois", "García", "Johnson", "López", "Martin", "Müller",
    "Oliveira", "Rossi", "Santos", "Schmidt", "Smith",
)  # fmt: skip


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    kind: str
    usd_price: float
    quantities: tuple  # (min, max)


PRODUCTS = (
    Product("FDGEN-CONS", "Consulting (hour)", "service", 95.0, (2, 40)),
    Product("FDGEN-SUPP", "Support plan (month)", "service", 450.0, (1, 3)),
    Product("FDGEN-IMPL", "Implementation package", "service", 3200.0, (1, 1)),
    Product("FDGEN-TRAI", "Training day", "service", 780.0, (1, 5)),
    Product("FDGEN-HOST", "Hosting (month)", "service", 120.0, (1, 12)),
    Product("FDGEN-HARD", "Hardware kit", "consu", 640.0, (1, 10)),
)


@dataclass(frozen=True)
class Profile:
    """How a profile's customers pay. Each customer draws a usual delay (days
    after the due date) and a spread around it from the profile's ranges;
    some invoices slip well past the habit, some are paid in two parts and
    some are never paid."""

    label: str
    weight: int
    usual_delay: tuple  # (min, max) of a customer's usual delay
    spread: tuple  # (min, max) of the standard deviation around it
    slip_rate: float  # invoices paid SLIP_DAYS later than the habit says
    partial_rate: float  # invoices paid in two parts
    never_rate: float  # invoices never paid


PROFILES = {
    "reliable": Profile("Dataset: reliable payer", 40, (-6, 2), (1, 4), 0.07, 0.01, 0),
    "occasional_late": Profile(
        "Dataset: occasional late payer", 30, (-2, 15), (3, 10), 0.25, 0.08, 0.05
    ),
    "chronic_late": Profile(
        "Dataset: chronic late payer", 20, (15, 60), (8, 25), 0.2, 0.25, 0.2
    ),
    "new": Profile("Dataset: new customer", 10, (-3, 12), (2, 8), 0.15, 0.08, 0.07),
}
SLIP_DAYS = (5, 60)
# The first part of an invoice paid in two: days after the due date, and share.
PARTIAL_DELAY = (0, 30)
PARTIAL_SHARE = (0.25, 0.75)
# The rest is paid this many days after the customer's habit, at least.
REST_DELAY = (10, 60)
# Habits change: every customer drifts by a few days a year, a share of them
# changes behaviour once (a new accountant, cash trouble, a better process),
# and everyone pays later in the holidays and on large invoices.
DRIFT_DAYS_PER_YEAR = 6.0  # standard deviation over the customers
CHANGE_SHARE = 0.2
CHANGE_DAYS = (10, 35)  # size of the change, later or (less often) earlier
CHANGE_LATER_SHARE = 0.6
SEASON_DAYS = {1: 3, 8: 10, 12: 8}  # by month of the due date, for an average customer
SEASON_SENSITIVITY = (0.5, 1.5)
LARGE_INVOICE_USD = 2000.0  # above it, 3 days later per doubling, at most 8
LARGE_INVOICE_DAYS_PER_DOUBLING = 3.0
LARGE_INVOICE_MAX_DAYS = 8.0
# Reminders go out after the due date, at the offsets of the steps of the
# company's policy (these when it has none), from runs on working days that
# send them 0 to REMINDER_LAG_DAYS days late.
DEFAULT_REMINDER_OFFSETS = (3, 10, 20, 35, 50)
REMINDER_LAG_DAYS = 2
CHANNEL_WEIGHTS = (("whatsapp", 75), ("email", 18), ("sms", 7))
# A reminder's last known state, by channel: e-mail reports no delivery.
REMINDER_STATES = {
    "whatsapp": (("sent", 5), ("delivered", 30), ("read", 65)),
    "sms": (("sent", 20), ("delivered", 80)),
    "email": (("sent", 100),),
}
# How customers answer reminders. Drawn with the plan and never stored: the
# forecast has to find them in the ledger and the messages, as with a real one.
RESPONSIVE_SHARE = 0.3  # pay a few days after a reminder...
RESPONSIVE_INVOICE_RATE = 0.85  # ...for most of their invoices
RESPONSE_LAG_DAYS = (0, 3)  # the customer's usual lag, give or take a day
REPLIER_SHARE = 0.25
REPLY_RATE = 0.5  # of the reminders a replier gets
REPLY_DELAY_DAYS = (0, 1)
PAY_AFTER_REPLY_RATE = 0.7
PAY_AFTER_REPLY_DAYS = (1, 5)
MONTHLY_RUN_SHARE = 0.1  # pay only on one day of the month
MONTHLY_RUN_DAYS = (5, 10, 15, 20, 25, 28)
# Replies, by language: when the customer is about to pay, and otherwise.
REPLY_TEXTS = {
    "en": (
        ("I'll pay this week.", "Paying on Friday, thanks!",
         "Payment goes out tomorrow."),
        ("We're looking into it.", "Could you send the invoice again?",
         "Our accountant is away, we'll get back to you."),
    ),
    "es": (
        ("Lo pago esta semana.", "Pagamos el viernes, ¡gracias!",
         "El pago sale mañana."),
        ("Lo estamos revisando.", "¿Nos puede reenviar la factura?",
         "Nuestro contador está de vacaciones, le respondemos pronto."),
    ),
    "pt": (
        ("Vou pagar esta semana.", "Pagamos na sexta, obrigado!",
         "O pagamento sai amanhã."),
        ("Estamos verificando.", "Pode enviar a fatura de novo?",
         "Nosso contador está de férias, retornamos em breve."),
    ),
    "de": (
        ("Ich zahle diese Woche.", "Wir zahlen am Freitag, danke!",
         "Die Zahlung geht morgen raus."),
        ("Wir schauen uns das an.", "Können Sie die Rechnung noch einmal schicken?",
         "Unsere Buchhaltung ist im Urlaub, wir melden uns."),
    ),
    "fr": (
        ("Je paie cette semaine.", "Nous payons vendredi, merci !",
         "Le virement part demain."),
        ("Nous regardons cela.", "Pouvez-vous renvoyer la facture ?",
         "Notre comptable est absent, nous revenons vers vous."),
    ),
    "it": (
        ("Pago questa settimana.", "Paghiamo venerdì, grazie!",
         "Il bonifico parte domani."),
        ("Stiamo verificando.", "Potete rimandare la fattura?",
         "Il nostro contabile è in ferie, vi ricontattiamo."),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Habit:
    """One customer's payment behaviour, as the generator draws it."""

    usual_delay: float
    spread: float
    drift_per_year: float
    season_sensitivity: float
    change_on: date | None = None
    change_days: float = 0.0

    def delay(self, due, history_start, amount_usd, rng):
        """Days after ``due`` at which the customer pays an invoice of
        ``amount_usd`` when nothing unusual happens."""
        delay = (
            self.usual_delay
            + self.drift_per_year * (due - history_start).days / 365
            + self.season_sensitivity * SEASON_DAYS.get(due.month, 0)
            + rng.gauss(0, self.spread)
        )
        if self.change_on and due >= self.change_on:
            delay += self.change_days
        if amount_usd > LARGE_INVOICE_USD:
            delay += min(
                LARGE_INVOICE_MAX_DAYS,
                LARGE_INVOICE_DAYS_PER_DOUBLING
                * math.log2(amount_usd / LARGE_INVOICE_USD),
            )
        return round(delay)


@dataclass(frozen=True)
class Reactions:
    """How one customer answers reminders, as the generator draws it."""

    channel: str  # the channel reminders reach them on
    responsive: bool = False  # pays a few days after a reminder
    response_lag: int = 0  # days, give or take one
    replies: bool = False  # answers some reminders, then often pays soon
    payday: int | None = None  # pays only on this day of the month


def next_payday(day, payday):
    """The first day of the month ``payday`` on or after ``day``."""
    if day.day <= payday:
        return day.replace(day=payday)
    first_of_next = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_of_next.replace(day=payday)


def next_working_day(day):
    """``day``, or the Monday after it when it falls on a weekend."""
    if day.weekday() >= 5:
        return day + timedelta(days=7 - day.weekday())
    return day


@dataclass(eq=False)
class CustomerPlan:
    index: int
    country_code: str
    currency_code: str
    profile: str
    term_days: int
    payment_weekday: int | None  # pays on this weekday's run, or as invoices fall due
    company_index: int
    weight: float
    values: dict
    contact_values: dict | None
    habit: Habit
    reactions: Reactions = Reactions("whatsapp")
    partner_id: int = 0  # the commercial partner, once created
    invoice_partner_id: int = 0  # who invoices are addressed to


@dataclass(eq=False)
class InvoicePlan:
    customer: CustomerPlan
    invoice_date: date
    lines: list  # (Product, quantity, price_unit in invoice currency)
    reference: str | None
    instalments: int = 1  # receivable lines, due INSTALMENT_INTERVAL_DAYS apart
    move_id: int = 0
    name: str = ""  # its number in the sales journal


@dataclass(eq=False)
class Settlement:
    """Something that changes a customer's balance after invoicing: a credit
    note for one invoice, a payment of one or more invoices, or a payment on
    account of none."""

    kind: str  # credit_note, payment, on_account
    on: date
    customer: CustomerPlan
    invoices: tuple = ()
    fraction: float = 1.0  # of the invoice (credit note) or of the residuals (payment)
    applied: bool = True  # credit notes: linked to and reconciled with their invoice
    amount: float = 0.0  # payments on account, in the customer's currency
    name: str = ""  # its number in the sales (credit notes) or bank journal


@dataclass(eq=False)
class Message:
    """A reminder the company sent about an invoice, or its customer's reply."""

    kind: str  # reminder, reply
    at: datetime
    invoice: InvoicePlan
    channel: str
    state: str
    step: tuple = ()  # reminders: (step id, policy id) when the policy has steps
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    body: str | None = None


KIND_ORDER = {"credit_note": 0, "payment": 1, "on_account": 2}


@dataclass(frozen=True)
class CompanySetup:
    company_id: int
    sale_journal_id: int
    bank_journal_id: int
    sale_tax_ids: tuple
    currency_code: str
    fiscal_country_code: str


@dataclass
class Catalog:
    """Ids of the records the plans refer to, resolved once and valid in any
    process."""

    companies: list
    currency_ids: dict
    country_ids: dict
    term_ids: dict
    product_ids: dict
    tag_ids: dict
    langs: set
    instalment_term_ids: dict  # instalment count: account.payment.term id
    # company index: ((days after due, (step id, policy id) or ()), ...)
    reminder_steps: dict


@dataclass
class Plan:
    """What is left to create once the customers exist."""

    catalog: Catalog
    invoices: list
    settlements: list
    messages: list


def generate(
    env,
    *,
    customers,
    invoices,
    seed=42,
    companies=1,
    today=None,
    batch_size=DEFAULT_BATCH_SIZE,
    commit=None,
    unpaid=False,
    instalment_share=0.0,
):
    """Create ``customers`` customers and ``invoices`` posted customer invoices,
    with credit notes and payments (none with ``unpaid``: every invoice stays
    open), in one process, and return a summary dict. A share
    ``instalment_share`` of the invoices is on 2- or 3-instalment terms.

    The first company is ``env.company``; ``companies - 1`` more are created with
    a generic chart of accounts. ``commit`` is called after every batch (the CLI
    commits there; tests leave it out and stay in their transaction).
    """
    builder = DatasetBuilder(
        env,
        seed=seed,
        today=today or fields.Date.context_today(env.user),
        batch_size=batch_size,
        commit=commit,
    )
    plan = builder.prepare(
        customers=customers,
        invoices=invoices,
        companies=companies,
        instalment_share=instalment_share,
    )
    if unpaid:
        plan.settlements = plan.messages = []
    counts, invoice_ids = builder.build(
        plan.invoices, plan.settlements, plan.catalog, plan.messages
    )
    return builder.summary(counts + builder.counts, invoice_ids)


def _batches(items, size):
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _by_company(items, company_index_of):
    grouped = defaultdict(list)
    for item in items:
        grouped[company_index_of(item)].append(item)
    return sorted(grouped.items())


class DatasetBuilder:
    def __init__(self, env, *, seed, today, batch_size, commit=None):
        self.rng = random.Random(seed)
        self.seed = seed
        self.today = today
        self.batch_size = batch_size
        self.counts = Counter()
        self._rates = {}
        self._income_accounts = {}
        self.started = time.perf_counter()
        self.bind(env, commit)

    def bind(self, env, commit=None):
        """Work in ``env`` from now on (worker processes bind their own)."""
        self.env = env(context=dict(env.context, **FAST_CONTEXT))
        self.commit = commit or (lambda: None)

    def prepare(self, *, customers, invoices, companies, instalment_share=0.0):
        """Reference data and customers in the database, the rest planned."""
        if customers < 1 or invoices < 1:
            raise ValueError("customers and invoices must both be at least 1")
        if companies < 1:
            raise ValueError("companies must be at least 1")
        if not 0 <= instalment_share <= 1:
            raise ValueError("the instalment share must be between 0 and 1")
        catalog = self._prepare_catalog(companies)
        self._end_batch()
        customer_plans = self._plan_customers(customers, catalog)
        invoice_plans = self._plan_invoices(customer_plans, invoices, catalog)
        if instalment_share:
            # Drawn after the invoices, from a generator of its own: the same
            # seed gives the same invoices with or without instalments.
            rng = random.Random(f"{self.seed}-instalments")
            for invoice in invoice_plans:
                if rng.random() < instalment_share:
                    invoice.instalments = rng.choice(INSTALMENT_COUNTS)
        settlements, messages = self._plan_settlements(
            customer_plans, invoice_plans, catalog
        )
        self._number(invoice_plans, settlements, catalog)
        self._create_customers(customer_plans, catalog)
        return Plan(catalog, invoice_plans, settlements, messages)

    def build(self, invoice_plans, settlements, catalog, messages=()):
        """Create and post the invoices, then their credit notes and payments,
        in date order, then the reminders and replies; return the counts and
        the ids of the invoices."""
        counts = Counter()
        invoice_ids = []
        for batch in _batches(invoice_plans, self.batch_size):
            batch_ids = self._in_batch(self._create_invoices, batch, catalog)
            invoice_ids += batch_ids
            counts["invoices"] += len(batch_ids)
            self._progress("invoices", counts["invoices"], len(invoice_plans))
        done = 0
        for batch in self._settlement_batches(settlements):
            counts += self._settle(batch, catalog)
            done += len(batch)
            self._progress("credit notes and payments", done, len(settlements))
        done = 0
        for batch in _batches(messages, self.batch_size * 4):
            counts += self._in_batch(self._create_messages, batch, catalog)
            done += len(batch)
            self._progress("reminders and replies", done, len(messages))
        return counts, invoice_ids

    def _in_batch(self, function, *args):
        """Run one batch as one transaction, then hand it to ``commit`` and drop
        the cache so memory stays flat however large the dataset is. Worker
        processes share journal sequences, so a batch that meets a deadlock or
        a serialization failure is rolled back and run again."""
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            try:
                result = function(*args)
                self.env.cr.flush()  # precommit hooks fail here, not at commit
                break
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY as error:
                if attempt == MAX_BATCH_ATTEMPTS:
                    raise
                _logger.info("%s, running the batch again", error.pgcode)
                self.env.cr.rollback()
                self.env.transaction.reset()
                time.sleep(random.uniform(0, 2**attempt))
        self._end_batch()
        return result

    def _end_batch(self):
        self.env.flush_all()
        self.commit()
        self.env.invalidate_all()

    def _progress(self, what, done, total):
        elapsed = time.perf_counter() - self.started
        _logger.info("%s: %d/%d (%.0fs elapsed)", what, done, total, elapsed)

    # ------------------------------------------------------------------
    # Reference data: companies, currencies and rates, terms, products
    # ------------------------------------------------------------------

    def _prepare_catalog(self, company_count):
        env = self.env
        currencies = (
            env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "in", list(CURRENCY_UNITS_PER_USD))])
        )
        currencies.filtered(lambda currency: not currency.active).active = True
        currency_ids = {currency.name: currency.id for currency in currencies}
        companies = [self._prepare_company(env.company)]
        for number in range(2, company_count + 1):
            currency_code = EXTRA_COMPANY_CURRENCIES[
                (number - 2) % len(EXTRA_COMPANY_CURRENCIES)
            ]
            companies.append(
                self._prepare_extra_company(number, currency_ids[currency_code])
            )
        self._create_rates(companies, currency_ids)
        countries = env["res.country"].search([("code", "in", list(COUNTRIES))])
        return Catalog(
            companies=companies,
            currency_ids=currency_ids,
            country_ids={country.code: country.id for country in countries},
            term_ids=self._payment_terms(),
            instalment_term_ids=self._instalment_terms(),
            product_ids=self._products(),
            tag_ids=self._profile_tags(),
            langs={code for code, _name in env["res.lang"].get_installed()},
            reminder_steps={
                index: self._reminder_steps(setup.company_id)
                for index, setup in enumerate(companies)
            },
        )

    def _reminder_steps(self, company_id):
        """The steps after the due date of the company's first policy, as
        (days after due, (step id, policy id)); the default offsets, with no
        step, when it has none."""
        policy = (
            self.env["dunning.policy"]
            .sudo()
            .search([("company_id", "=", company_id)], limit=1)
        )
        steps = policy.step_ids.filtered(lambda step: step.offset_days > 0)
        if not steps:
            return tuple((offset, ()) for offset in DEFAULT_REMINDER_OFFSETS)
        return tuple(
            (step.offset_days, (step.id, policy.id))
            for step in steps.sorted("offset_days")
        )

    def _prepare_extra_company(self, number, currency_id):
        name = f"Dunning Benchmark Company {number}"
        company = self.env["res.company"].search([("name", "=", name)], limit=1)
        if not company:
            company = self.env["res.company"].create({"name": name})
            self.env.user.company_ids += company
            self.env["account.chart.template"].try_loading(
                "generic_coa", company, install_demo=False
            )
            # the chart gives the company its fiscal country's currency; this one
            # keeps its books in another (allowed while it has no entries)
            company.currency_id = currency_id
        return self._prepare_company(company)

    def _prepare_company(self, company):
        if not company.chart_template:
            self.env["account.chart.template"].try_loading(
                "generic_coa", company, install_demo=False
            )
        journal_domain = [("company_id", "=", company.id)]
        sale_journal = self.env["account.journal"].search(
            journal_domain + [("type", "=", "sale")], limit=1
        )
        bank_journal = self.env["account.journal"].search(
            journal_domain + [("type", "=", "bank")], limit=1
        )
        if not sale_journal or not bank_journal:
            raise ValueError(
                f"Company {company.name!r} needs a sales journal and a bank journal."
            )
        return CompanySetup(
            company_id=company.id,
            sale_journal_id=sale_journal.id,
            bank_journal_id=bank_journal.id,
            sale_tax_ids=tuple(company.account_sale_tax_id.ids),
            currency_code=company.currency_id.name,
            fiscal_country_code=company.account_fiscal_country_id.code,
        )

    def _create_rates(self, companies, currency_ids):
        """Weekly rates over the whole history, a mean-reverting walk around
        :data:`CURRENCY_UNITS_PER_USD`, so that foreign invoices and payments post
        at different rates and reconciliation books exchange differences."""
        first_day = self.today - timedelta(days=HISTORY_DAYS + 7)
        weeks = [
            first_day + timedelta(days=7 * week)
            for week in range((HISTORY_DAYS + 14) // 7)
        ]
        units_per_usd = {}
        for code, base in CURRENCY_UNITS_PER_USD.items():
            deviation = 0.0
            for day in weeks:
                deviation = 0.9 * deviation + self.rng.gauss(0, 0.015)
                units_per_usd[code, day] = (
                    base * math.exp(deviation) if code != "USD" else 1.0
                )
        Rate = self.env["res.currency.rate"]
        existing = {
            (rate.company_id.id, rate.currency_id.id, rate.name)
            for rate in Rate.search(
                [
                    ("company_id", "in", [setup.company_id for setup in companies]),
                    ("name", ">=", first_day),
                ]
            )
        }
        Rate.create(
            [
                {
                    "company_id": setup.company_id,
                    "currency_id": currency_ids[code],
                    "name": day,
                    "rate": units_per_usd[code, day]
                    / units_per_usd[setup.currency_code, day],
                }
                for setup in companies
                for code in CURRENCY_UNITS_PER_USD
                if code != setup.currency_code
                for day in weeks
                if (setup.company_id, currency_ids[code], day) not in existing
            ]
        )

    def _payment_terms(self):
        Term = self.env["account.payment.term"]
        terms = {}
        for days, _weight in PAYMENT_TERM_DAYS:
            term = Term.search([("line_ids.nb_days", "=", days)]).filtered(
                lambda term, days=days: (
                    len(term.line_ids) == 1
                    and term.line_ids.value == "percent"
                    and term.line_ids.value_amount == 100
                    and term.line_ids.delay_type == "days_after"
                    and term.line_ids.nb_days == days
                    and not term.early_discount
                )
            )[:1]
            if not term:
                term = Term.create(
                    {
                        "name": f"{days} Days",
                        "line_ids": [
                            fields.Command.create(
                                {
                                    "value": "percent",
                                    "value_amount": 100,
                                    "nb_days": days,
                                }
                            )
                        ],
                    }
                )
            terms[days] = term.id
        return terms

    def _instalment_terms(self):
        """Terms in equal instalments due every 30 days (the last one takes
        the rounding), by instalment count."""
        Term = self.env["account.payment.term"]
        terms = {}
        for count in INSTALMENT_COUNTS:
            days = [INSTALMENT_INTERVAL_DAYS * number for number in range(1, count + 1)]
            name = "/".join(map(str, days)) + " Days"
            term = Term.search([("name", "=", name)], limit=1)
            if not term:
                share = round(100 / count, 2)
                term = Term.create(
                    {
                        "name": name,
                        "line_ids": [
                            fields.Command.create(
                                {
                                    "value": "percent",
                                    "value_amount": share
                                    if number < count
                                    else round(100 - share * (count - 1), 2),
                                    "nb_days": day,
                                }
                            )
                            for number, day in enumerate(days, start=1)
                        ],
                    }
                )
            terms[count] = term.id
        return terms

    def _products(self):
        Product = self.env["product.product"]
        existing = {
            product.default_code: product.id
            for product in Product.search(
                [("default_code", "in", [product.code for product in PRODUCTS])]
            )
        }
        missing = [product for product in PRODUCTS if product.code not in existing]
        created = Product.create(
            [
                {
                    "name": product.name,
                    "default_code": product.code,
                    "type": product.kind,
                    "list_price": product.usd_price,
                }
                for product in missing
            ]
        )
        existing.update(
            zip([product.code for product in missing], created.ids, strict=True)
        )
        return existing

    def _profile_tags(self):
        Tag = self.env["res.partner.category"]
        tag_ids = {}
        for name, profile in PROFILES.items():
            tag = Tag.search([("name", "=", profile.label)], limit=1) or Tag.create(
                {"name": profile.label}
            )
            tag_ids[name] = tag.id
        return tag_ids

    # ------------------------------------------------------------------
    # Plans: plain Python, drawn from the seeded random generator
    # ------------------------------------------------------------------

    def _plan_customers(self, count, catalog):
        rng = self.rng
        country_codes = list(COUNTRIES)
        country_weights = [country.weight for country in COUNTRIES.values()]
        profile_names = list(PROFILES)
        profile_weights = [profile.weight for profile in PROFILES.values()]
        term_days = [days for days, _weight in PAYMENT_TERM_DAYS]
        term_weights = [weight for _days, weight in PAYMENT_TERM_DAYS]
        company_weights = [3] + [1] * (len(catalog.companies) - 1)
        # Habits come from a generator of their own: the same seed gives the
        # same customers and invoices whatever the habits are made of.
        habit_rng = random.Random(f"{self.seed}-habits")
        reaction_rng = random.Random(f"{self.seed}-reactions")
        plans = []
        for index in range(count):
            country_code = rng.choices(country_codes, country_weights)[0]
            country = COUNTRIES[country_code]
            company_index = rng.choices(range(len(catalog.companies)), company_weights)[
                0
            ]
            currency_code = (
                country.currency
                if rng.random() < LOCAL_CURRENCY_SHARE
                else catalog.companies[company_index].currency_code
            )
            profile = rng.choices(profile_names, profile_weights)[0]
            days = rng.choices(term_days, term_weights)[0]
            name = " ".join(
                (
                    rng.choice(NAME_PREFIXES),
                    rng.choice(NAME_ACTIVITIES),
                    rng.choice(country.legal_forms),
                )
            )
            domain = f"{name.split()[0].lower()}-{index + 1}.example.com"
            city, zip_code, time_zone = rng.choice(country.cities)
            lang = country.lang if country.lang in catalog.langs else "en_US"
            values = {
                "name": name,
                "is_company": True,
                "ref": f"FDGEN{index + 1:06d}",
                "country_id": catalog.country_ids[country_code],
                "city": city,
                "zip": zip_code,
                "street": f"{rng.choice(country.streets)} {rng.randint(1, 400)}",
                "email": f"billing@{domain}",
                "phone": self._mobile_number(country_code),
                "lang": lang,
                "tz": time_zone,
                "property_payment_term_id": catalog.term_ids[days],
                "category_id": [fields.Command.link(catalog.tag_ids[profile])],
            }
            contact_values = None
            if rng.random() < INVOICE_CONTACT_RATE:
                first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                contact_values = {
                    "type": "invoice",
                    "name": f"{first_name} {last_name}",
                    "email": f"{first_name.lower()}.ap@{domain}",
                    "phone": self._mobile_number(country_code),
                    "lang": lang,
                    "tz": time_zone,
                }
            plans.append(
                CustomerPlan(
                    index=index,
                    country_code=country_code,
                    currency_code=currency_code,
                    profile=profile,
                    term_days=days,
                    payment_weekday=rng.randrange(5)
                    if rng.random() < PAYMENT_RUN_SHARE
                    else None,
                    company_index=company_index,
                    # a few customers get most invoices, as in real ledgers
                    weight=min(rng.paretovariate(1.3), 40.0)
                    * (0.3 if profile == "new" else 1.0),
                    values=values,
                    contact_values=contact_values,
                    habit=self._habit(PROFILES[profile], habit_rng),
                    reactions=self._reactions(reaction_rng),
                )
            )
        return plans

    @staticmethod
    def _reactions(rng):
        # every value drawn whatever the shares, so that changing one share
        # leaves the other traits of every customer as they were
        channels, weights = zip(*CHANNEL_WEIGHTS, strict=True)
        channel = rng.choices(channels, weights)[0]
        responsive = rng.random() < RESPONSIVE_SHARE
        response_lag = rng.randint(*RESPONSE_LAG_DAYS)
        replies = rng.random() < REPLIER_SHARE
        monthly = rng.random() < MONTHLY_RUN_SHARE
        payday = rng.choice(MONTHLY_RUN_DAYS)
        return Reactions(
            channel=channel,
            responsive=responsive,
            response_lag=response_lag,
            replies=replies,
            payday=payday if monthly else None,
        )

    def _habit(self, profile, rng):
        changes = rng.random() < CHANGE_SHARE
        return Habit(
            usual_delay=rng.uniform(*profile.usual_delay),
            spread=rng.uniform(*profile.spread),
            drift_per_year=rng.gauss(0, DRIFT_DAYS_PER_YEAR),
            season_sensitivity=rng.uniform(*SEASON_SENSITIVITY),
            change_on=self.today - timedelta(days=rng.randint(30, HISTORY_DAYS - 30))
            if changes
            else None,
            change_days=rng.uniform(*CHANGE_DAYS)
            * (1 if rng.random() < CHANGE_LATER_SHARE else -1)
            if changes
            else 0.0,
        )

    def _mobile_number(self, country_code):
        """A random number that ``phonenumbers`` accepts as a valid mobile of the
        country, in international format, built on the library's example."""
        example = phonenumbers.example_number_for_type(
            country_code, phonenumbers.PhoneNumberType.MOBILE
        )
        national = str(example.national_number)
        for _attempt in range(20):
            candidate = phonenumbers.PhoneNumber(
                country_code=example.country_code,
                national_number=int(national[:-6] + f"{self.rng.randrange(10**6):06d}"),
            )
            if (
                phonenumbers.is_valid_number(candidate)
                and phonenumbers.number_type(candidate) in MOBILE_TYPES
            ):
                return phonenumbers.format_number(
                    candidate, phonenumbers.PhoneNumberFormat.INTERNATIONAL
                )
        return phonenumbers.format_number(
            example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )

    def _plan_invoices(self, customer_plans, count, catalog):
        rng = self.rng
        # every customer is invoiced at least once when there are enough invoices
        owners = customer_plans[:count] + rng.choices(
            customer_plans,
            [customer.weight for customer in customer_plans],
            k=max(0, count - len(customer_plans)),
        )
        plans = []
        for customer in owners:
            history = NEW_CUSTOMER_DAYS if customer.profile == "new" else HISTORY_DAYS
            company_currency = catalog.companies[customer.company_index].currency_code
            factor = (
                CURRENCY_UNITS_PER_USD[customer.currency_code]
                / CURRENCY_UNITS_PER_USD[company_currency]
            )
            lines = []
            for product in rng.sample(
                PRODUCTS, rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]
            ):
                price = round(product.usd_price * factor * rng.uniform(0.85, 1.15), 2)
                lines.append((product, rng.randint(*product.quantities), price))
            plans.append(
                InvoicePlan(
                    customer=customer,
                    invoice_date=self.today - timedelta(days=rng.randint(0, history)),
                    lines=lines,
                    reference=f"PO-{rng.randint(10000, 99999)}"
                    if rng.random() < CUSTOMER_REFERENCE_RATE
                    else None,
                )
            )
        plans.sort(key=lambda plan: plan.invoice_date)  # numbered in date order
        return plans

    def _plan_settlements(self, customer_plans, invoice_plans, catalog):
        """Credit notes, payments, reminders and replies, from each customer's
        payment behaviour and the way they answer reminders. Whatever would
        happen after today has not happened yet, which is what leaves invoices
        open, from not yet due to months overdue."""
        rng = self.rng
        # reminders and replies from a generator of their own: the same seed
        # gives the same credit notes and habits with or without them
        message_rng = random.Random(f"{self.seed}-reminders")
        history_start = self.today - timedelta(days=HISTORY_DAYS)
        settlements, messages = [], []
        payment_runs = defaultdict(list)  # (customer, date): invoices paid in full
        for invoice in invoice_plans:
            customer = invoice.customer
            due = invoice.invoice_date + timedelta(days=customer.term_days)
            not_before = invoice.invoice_date
            if rng.random() < CREDIT_NOTE_RATE:
                credit_date = invoice.invoice_date + timedelta(days=rng.randint(1, 20))
                if credit_date <= self.today:
                    applied = rng.random() < APPLIED_CREDIT_NOTE_SHARE
                    fraction = (
                        1.0
                        if rng.random() < FULL_CREDIT_NOTE_SHARE
                        else round(rng.uniform(0.1, 0.5), 2)
                    )
                    settlements.append(
                        Settlement(
                            "credit_note",
                            credit_date,
                            customer,
                            (invoice,),
                            fraction,
                            applied,
                        )
                    )
                    if applied:
                        if fraction == 1.0:
                            continue  # fully credited: nothing left to pay
                        not_before = credit_date + timedelta(days=1)
            reminders = self._reminder_schedule(invoice, catalog, message_rng)
            profile = PROFILES[customer.profile]
            outcome = rng.random()
            if outcome < profile.never_rate:
                messages += self._answer_reminders(
                    invoice, reminders, None, not_before, message_rng
                )[1]
                continue
            delay = customer.habit.delay(
                due, history_start, self._usd_amount(invoice), rng
            )
            if rng.random() < profile.slip_rate:
                delay += rng.randint(*SLIP_DAYS)
            if outcome < profile.never_rate + profile.partial_rate:
                paid_on = max(
                    due + timedelta(days=rng.randint(*PARTIAL_DELAY)), not_before
                )
                if paid_on > self.today:
                    continue
                settlements.append(
                    Settlement(
                        "payment",
                        paid_on,
                        customer,
                        (invoice,),
                        round(rng.uniform(*PARTIAL_SHARE), 2),
                    )
                )
                not_before = paid_on + timedelta(days=1)
                delay = max(delay, 0) + rng.randint(*REST_DELAY)
            paid_on = max(due + timedelta(days=delay), not_before)
            if customer.reactions.payday:
                paid_on = next_payday(paid_on, customer.reactions.payday)
            elif customer.payment_weekday is not None:
                paid_on += timedelta(
                    days=(customer.payment_weekday - paid_on.weekday()) % 7
                )
            paid_on, invoice_messages = self._answer_reminders(
                invoice, reminders, paid_on, not_before, message_rng
            )
            messages += invoice_messages
            if paid_on <= self.today:
                payment_runs[customer, paid_on].append(invoice)
        settlements += [
            Settlement("payment", paid_on, customer, tuple(invoices))
            for (customer, paid_on), invoices in payment_runs.items()
        ]
        for _number in range(
            max(1, round(len(invoice_plans) * ON_ACCOUNT_PAYMENT_RATE))
        ):
            customer = rng.choice(customer_plans)
            amount = round(
                rng.randint(5, 200)
                * 10
                * CURRENCY_UNITS_PER_USD[customer.currency_code],
                -1,
            )
            history = NEW_CUSTOMER_DAYS if customer.profile == "new" else HISTORY_DAYS
            paid_on = self.today - timedelta(days=rng.randint(0, history))
            settlements.append(
                Settlement("on_account", paid_on, customer, amount=amount)
            )
        settlements.sort(
            key=lambda settlement: (settlement.on, KIND_ORDER[settlement.kind])
        )
        messages.sort(key=lambda message: message.at)
        return settlements, messages

    def _reminder_schedule(self, invoice, catalog, rng):
        """The reminders the company's runs would send about ``invoice`` if it
        stayed open: (day, step) at each step's offset after the first due
        date, a few days late, on working days."""
        first_due = invoice.invoice_date + timedelta(
            days=INSTALMENT_INTERVAL_DAYS
            if invoice.instalments > 1
            else invoice.customer.term_days
        )
        return [
            (
                next_working_day(
                    first_due
                    + timedelta(days=offset + rng.randint(0, REMINDER_LAG_DAYS))
                ),
                step,
            )
            for offset, step in catalog.reminder_steps[invoice.customer.company_index]
        ]

    def _answer_reminders(self, invoice, reminders, paid_on, not_before, rng):
        """The reminders sent about ``invoice`` while it was open (until the
        morning of ``paid_on``, the day it is paid when nothing reminds the
        customer, None if never) and the replies to them; return the day it
        is paid once the customer has answered them, and the messages.

        Reminders go out in the morning, before the day's bank statement, so
        an invoice paid on a reminder's day got that reminder."""
        customer = invoice.customer
        reactions = customer.reactions
        reacts = rng.random() < RESPONSIVE_INVOICE_RATE
        # in their own language, whether or not the database has it installed
        lang = COUNTRIES[customer.country_code].lang[:2]
        messages = []
        for day, step in reminders:
            if day > self.today or (paid_on and day > paid_on):
                break
            sent_at = datetime(day.year, day.month, day.day, 8) + timedelta(
                minutes=rng.randint(0, 150)
            )
            states, weights = zip(*REMINDER_STATES[reactions.channel], strict=True)
            reminder = Message(
                "reminder",
                sent_at,
                invoice,
                reactions.channel,
                rng.choices(states, weights)[0],
                step,
            )
            messages.append(reminder)
            prompted = []  # days the customer would pay on, prompted by it
            if reactions.responsive and reacts:
                lag = reactions.response_lag + rng.randint(-1, 1)
                prompted.append(day + timedelta(days=max(0, lag)))
            if reactions.replies and rng.random() < REPLY_RATE:
                replied_at = sent_at + timedelta(
                    days=rng.randint(*REPLY_DELAY_DAYS),
                    minutes=rng.randint(15, 600),
                )
                pays_soon = paid_on is not None and (
                    rng.random() < PAY_AFTER_REPLY_RATE
                )
                if pays_soon:
                    prompted.append(
                        replied_at.date()
                        + timedelta(days=rng.randint(*PAY_AFTER_REPLY_DAYS))
                    )
                if replied_at.date() <= self.today:
                    reminder.state = "read"
                    texts = REPLY_TEXTS[lang][0 if pays_soon else 1]
                    messages.append(
                        Message(
                            "reply",
                            replied_at,
                            invoice,
                            reactions.channel,
                            "replied",
                            body=rng.choice(texts),
                        )
                    )
            if reminder.state in ("delivered", "read"):
                reminder.delivered_at = sent_at + timedelta(seconds=rng.randint(2, 90))
            if reminder.state == "read":
                reminder.read_at = reminder.delivered_at + timedelta(
                    minutes=rng.randint(1, 9)
                )
            if paid_on and prompted:
                prompted_on = max(min(prompted), not_before)
                if reactions.payday:
                    prompted_on = next_payday(prompted_on, reactions.payday)
                paid_on = min(paid_on, prompted_on)
        return paid_on, messages

    @staticmethod
    def _usd_amount(invoice):
        """The invoice's amount before taxes, in US dollars."""
        return (
            sum(quantity * price for _product, quantity, price in invoice.lines)
            / CURRENCY_UNITS_PER_USD[invoice.customer.currency_code]
        )

    def _number(self, invoice_plans, settlements, catalog):
        """Give every invoice, credit note and payment its journal number up
        front, in date order, in the format the journal's sequence uses.

        Posting then keeps these numbers instead of asking the sequence for the
        next one, a query per entry that also locks the sequence until the
        transaction ends: with numbers decided here, worker processes never
        wait for each other's journals."""
        Move = self.env["account.move"]
        counters = {}

        def next_name(setup, journal_id, move_type, on):
            key = (journal_id, move_type == "out_refund", on.year)
            if key not in counters:
                starting = Move.new(
                    {
                        "company_id": setup.company_id,
                        "journal_id": journal_id,
                        "move_type": move_type,
                        "date": on,
                    }
                )._get_starting_sequence()
                prefix, zeros = starting.rsplit("/", 1)
                last = self.env.execute_query(
                    SQL(
                        "SELECT max(sequence_number) FROM account_move "
                        "WHERE journal_id = %s AND sequence_prefix = %s",
                        journal_id,
                        prefix + "/",
                    )
                )[0][0]
                counters[key] = [f"{prefix}/{{:0{len(zeros)}d}}", last or 0]
            counter = counters[key]
            counter[1] += 1
            return counter[0].format(counter[1])

        for invoice in invoice_plans:
            setup = catalog.companies[invoice.customer.company_index]
            invoice.name = next_name(
                setup, setup.sale_journal_id, "out_invoice", invoice.invoice_date
            )
        for settlement in settlements:
            setup = catalog.companies[settlement.customer.company_index]
            if settlement.kind == "credit_note":
                settlement.name = next_name(
                    setup, setup.sale_journal_id, "out_refund", settlement.on
                )
            else:
                settlement.name = next_name(
                    setup, setup.bank_journal_id, "entry", settlement.on
                )

    # ------------------------------------------------------------------
    # Creation, in batches
    # ------------------------------------------------------------------

    def _create_customers(self, customer_plans, catalog):
        Partner = self.env["res.partner"]
        for batch in _batches(customer_plans, self.batch_size * 4):
            for company_index, customers in _by_company(
                batch, lambda plan: plan.company_index
            ):
                company = self.env["res.company"].browse(
                    catalog.companies[company_index].company_id
                )
                partners = Partner.with_company(company).create(
                    [customer.values for customer in customers]
                )
                for customer, partner_id in zip(customers, partners.ids, strict=True):
                    customer.partner_id = customer.invoice_partner_id = partner_id
            with_contact = [customer for customer in batch if customer.contact_values]
            contacts = Partner.create(
                [
                    dict(customer.contact_values, parent_id=customer.partner_id)
                    for customer in with_contact
                ]
            )
            for customer, contact_id in zip(with_contact, contacts.ids, strict=True):
                customer.invoice_partner_id = contact_id
            self.counts["customers"] += len(batch)
            self.counts["invoice_contacts"] += len(with_contact)
            self._end_batch()
            self._progress("customers", self.counts["customers"], len(customer_plans))

    def _moves(self, setup):
        return self.env["account.move"].with_company(setup.company_id)

    def _rate(self, setup, currency_id, on):
        """Units of ``currency_id`` per unit of the company's currency on a day,
        as the engine reads it for an invoice or an entry of that date."""
        key = (setup.company_id, currency_id, on)
        if key not in self._rates:
            company = self.env["res.company"].browse(setup.company_id)
            self._rates[key] = self.env["res.currency"]._get_conversion_rate(
                company.currency_id,
                self.env["res.currency"].browse(currency_id),
                company,
                on,
            )
        return self._rates[key]

    def _income_account(self, setup, product_id):
        key = (setup.company_id, product_id)
        if key not in self._income_accounts:
            company = self.env["res.company"].browse(setup.company_id)
            product = (
                self.env["product.product"].with_company(company).browse(product_id)
            )
            self._income_accounts[key] = (
                product.product_tmpl_id._get_product_accounts()["income"]
                or self.env["account.journal"]
                .browse(setup.sale_journal_id)
                .default_account_id
            ).id
        return self._income_accounts[key]

    def _receivable_accounts(self, setup, partner_ids):
        partners = (
            self.env["res.partner"].with_company(setup.company_id).browse(partner_ids)
        )
        return {
            partner.id: partner.property_account_receivable_id.id
            for partner in partners
        }

    def _invoice_values(self, setup, catalog, plan, receivable_account_id):
        """An invoice or credit note with all its journal items: product lines,
        tax lines and the receivable line.

        The taxes come from the engine's own tax helpers (the ones
        ``_sync_tax_lines`` uses), fed with plain values instead of draft
        records; the move is then created without re-synchronising its lines,
        which is what makes batches fast, and posted normally, so that posting
        checks the balance and reconciles credit notes with their invoices.
        """
        AccountTax = self.env["account.tax"]
        company = self.env["res.company"].browse(setup.company_id)
        customer = plan["customer"]
        currency = self.env["res.currency"].browse(plan["currency_id"])
        refund = plan["move_type"] == "out_refund"
        sign = 1 if refund else -1  # the engine's direction_sign
        rate = self._rate(setup, currency.id, plan["invoice_date"])
        # sales tax on domestic sales only; exports are not taxed
        taxes = self.env["account.tax"].browse(
            setup.sale_tax_ids
            if customer.country_code == setup.fiscal_country_code
            else ()
        )
        commercial = self.env["res.partner"].browse(customer.partner_id)
        base_lines = []
        for product, quantity, price in plan["lines"]:
            product_id = catalog.product_ids[product.code]
            base_lines.append(
                AccountTax._prepare_base_line_for_taxes_computation(
                    None,
                    product_id=self.env["product.product"].browse(product_id),
                    tax_ids=taxes,
                    price_unit=round(price * plan["fraction"], 2),
                    quantity=quantity,
                    currency_id=currency,
                    rate=rate,
                    sign=sign,
                    is_refund=refund,
                    partner_id=commercial,
                    account_id=self.env["account.account"].browse(
                        self._income_account(setup, product_id)
                    ),
                )
            )
        AccountTax._add_tax_details_in_base_lines(base_lines, company)
        AccountTax._round_base_lines_tax_details(base_lines, company)
        AccountTax._add_accounting_data_in_base_lines_tax_details(base_lines, company)
        tax_results = AccountTax._prepare_tax_lines(base_lines, company)
        line_values = []
        for base_line, amounts in tax_results["base_lines_to_update"]:
            line_values.append(
                {
                    "display_type": "product",
                    "product_id": base_line["product_id"].id,
                    "quantity": base_line["quantity"],
                    "price_unit": base_line["price_unit"],
                    "tax_ids": [fields.Command.set(base_line["tax_ids"].ids)],
                    "account_id": base_line["account_id"].id,
                    **amounts,
                }
            )
        line_values += [
            dict(tax_line, display_type="tax")
            for tax_line in tax_results["tax_lines_to_add"]
        ]
        amount_currency = -sum(line["amount_currency"] for line in line_values)
        balance = -sum(line["balance"] for line in line_values)
        due_dates = plan.get("due_dates") or [plan["due_date"]]
        # As the payment term splits it: each instalment its share, rounded,
        # the last one the rest.
        share = round(100 / len(due_dates), 2) / 100
        for number, due_date in enumerate(due_dates, start=1):
            last = number == len(due_dates)
            line_values.append(
                {
                    "display_type": "payment_term",
                    "name": plan.get("reference") or "",
                    "account_id": receivable_account_id,
                    "partner_id": customer.partner_id,
                    "currency_id": currency.id,
                    "date_maturity": due_date,
                    "amount_currency": amount_currency
                    if last
                    else currency.round(amount_currency * share),
                    "balance": balance
                    if last
                    else company.currency_id.round(balance * share),
                }
            )
            if not last:
                amount_currency -= line_values[-1]["amount_currency"]
                balance -= line_values[-1]["balance"]
        values = {
            "move_type": plan["move_type"],
            "name": plan["name"],
            "journal_id": setup.sale_journal_id,
            "partner_id": customer.invoice_partner_id,
            "invoice_date": plan["invoice_date"],
            "currency_id": currency.id,
            "ref": plan.get("reference"),
            "line_ids": [fields.Command.create(line) for line in line_values],
        }
        if plan.get("payment_term_id"):
            values["invoice_payment_term_id"] = plan["payment_term_id"]
        else:
            values["invoice_date_due"] = plan["due_date"]
        if plan.get("reversed_entry_id"):
            values["reversed_entry_id"] = plan["reversed_entry_id"]
        return values

    def _create_and_post(self, setup, values_list):
        """Create moves whose journal items and numbers are all given (no
        re-synchronisation of their lines), then post them through the engine,
        which checks that each is balanced and that its number is free."""
        moves = (
            self._moves(setup)
            # Every amount is given, in both currencies: nothing to derive.
            # New lines have no analytic distribution to merge with an old one.
            .with_context(
                skip_invoice_sync=True,
                skip_invoice_line_sync=True,
                skip_analytic_sync=True,
            )
            .create(values_list)
        )
        moves.with_context(
            skip_invoice_sync=False,
            skip_invoice_line_sync=False,
            skip_analytic_sync=False,
        ).action_post()
        return moves

    def _create_invoices(self, batch, catalog):
        invoice_ids = []
        for company_index, invoices in _by_company(
            batch, lambda plan: plan.customer.company_index
        ):
            setup = catalog.companies[company_index]
            receivables = self._receivable_accounts(
                setup, list({invoice.customer.partner_id for invoice in invoices})
            )
            moves = self._create_and_post(
                setup,
                [
                    self._invoice_values(
                        setup,
                        catalog,
                        {
                            "move_type": "out_invoice",
                            "name": invoice.name,
                            "customer": invoice.customer,
                            "currency_id": catalog.currency_ids[
                                invoice.customer.currency_code
                            ],
                            "invoice_date": invoice.invoice_date,
                            **self._terms(invoice, catalog),
                            "reference": invoice.reference,
                            "lines": invoice.lines,
                            "fraction": 1.0,
                        },
                        receivables[invoice.customer.partner_id],
                    )
                    for invoice in invoices
                ],
            )
            for invoice, move_id in zip(invoices, moves.ids, strict=True):
                invoice.move_id = move_id
            invoice_ids += moves.ids
        return invoice_ids

    @staticmethod
    def _terms(invoice, catalog):
        """The payment term of ``invoice`` and its due date, or the due dates
        of its instalments."""
        if invoice.instalments > 1:
            due_dates = [
                invoice.invoice_date + timedelta(days=INSTALMENT_INTERVAL_DAYS * number)
                for number in range(1, invoice.instalments + 1)
            ]
            return {
                "due_date": due_dates[-1],
                "due_dates": due_dates,
                "payment_term_id": catalog.instalment_term_ids[invoice.instalments],
            }
        return {
            "due_date": invoice.invoice_date
            + timedelta(days=invoice.customer.term_days),
            "payment_term_id": catalog.term_ids[invoice.customer.term_days],
        }

    def _settlement_batches(self, settlements):
        """Batches in date order; a batch ends before a second payment of an
        invoice, whose amount depends on the first one being reconciled."""
        batch, paid_invoices = [], set()
        for settlement in settlements:
            paying = set(settlement.invoices) if settlement.kind == "payment" else set()
            if len(batch) >= self.batch_size or paying & paid_invoices:
                yield batch
                batch, paid_invoices = [], set()
            batch.append(settlement)
            paid_invoices |= paying
        if batch:
            yield batch

    def _settle(self, batch, catalog):
        """Credit notes, payments, then their reconciliation, each in its own
        transaction: posting holds the journal's sequence until the commit, so
        short transactions let parallel workers take turns instead of queueing
        behind whole batches. Credit notes go first: a payment in the same batch
        pays what they leave."""
        by_kind = defaultdict(list)
        for settlement in batch:
            by_kind[settlement.kind].append(settlement)
        counts = Counter()
        if by_kind["credit_note"]:
            counts += self._in_batch(
                self._create_credit_notes, by_kind["credit_note"], catalog
            )
        if by_kind["payment"]:
            matches = self._in_batch(
                self._create_invoice_payments, by_kind["payment"], catalog
            )
            self._in_batch(self._reconcile_payments, matches)
            counts["payments"] += len(matches)
            counts["payments_partial"] += sum(partial for _p, _i, partial in matches)
            counts["payments_several_invoices"] += sum(
                len(invoice_ids) > 1 for _p, invoice_ids, _partial in matches
            )
        if by_kind["on_account"]:
            counts += self._in_batch(
                self._create_on_account_payments, by_kind["on_account"], catalog
            )
        return counts

    def _create_credit_notes(self, credit_notes, catalog):
        counts = Counter()
        for company_index, group in _by_company(
            credit_notes, lambda item: item.customer.company_index
        ):
            setup = catalog.companies[company_index]
            invoices = self._moves(setup).browse(
                [credit_note.invoices[0].move_id for credit_note in group]
            )
            receivables = self._receivable_accounts(
                setup, list({item.customer.partner_id for item in group})
            )
            values = []
            for credit_note, invoice in zip(group, invoices, strict=True):
                reason = (
                    "Price adjustment"
                    if credit_note.fraction < 1
                    else "Cancelled order"
                )
                values.append(
                    self._invoice_values(
                        setup,
                        catalog,
                        {
                            "move_type": "out_refund",
                            "name": credit_note.name,
                            "customer": credit_note.customer,
                            "currency_id": invoice.currency_id.id,
                            "invoice_date": credit_note.on,
                            "due_date": credit_note.on,
                            # a linked credit note is reconciled with its invoice
                            # on posting
                            "reversed_entry_id": invoice.id
                            if credit_note.applied
                            else False,
                            "reference": f"{reason}: {invoice.name}"
                            if credit_note.applied
                            else "Goodwill credit",
                            "lines": credit_note.invoices[0].lines,
                            "fraction": credit_note.fraction,
                        },
                        receivables[credit_note.customer.partner_id],
                    )
                )
            self._create_and_post(setup, values)
            counts["credit_notes"] += len(group)
            counts["credit_notes_unapplied"] += sum(
                not credit_note.applied for credit_note in group
            )
        return counts

    def _create_invoice_payments(self, payments, catalog):
        """Post the payments of invoices, each for what its customer pays of
        their residual; return (payment entry id, invoice ids, partial)."""
        matches = []
        for company_index, group in _by_company(
            payments, lambda item: item.customer.company_index
        ):
            setup = catalog.companies[company_index]
            batch_ids = [invoice.move_id for item in group for invoice in item.invoices]
            paid = []
            for payment in group:
                invoices = (
                    self._moves(setup)
                    .browse([invoice.move_id for invoice in payment.invoices])
                    .with_prefetch(batch_ids)  # one query for the batch's residuals
                )
                currency = invoices.currency_id
                amount = sum(
                    currency.round(invoice.amount_residual * payment.fraction)
                    for invoice in invoices
                )
                if not currency.is_zero(amount):
                    paid.append((payment, invoices, amount))
            entries = self._post_receipts(
                setup,
                [
                    {
                        "partner_id": payment.customer.partner_id,
                        "amount": amount,
                        "currency_id": invoices.currency_id.id,
                        "date": payment.on,
                        "name": payment.name,
                        "memo": ", ".join(invoices.mapped("name")),
                    }
                    for payment, invoices, amount in paid
                ],
            )
            matches += [
                (entry.id, invoices.ids, payment.fraction < 1)
                for entry, (payment, invoices, _amount) in zip(
                    entries, paid, strict=True
                )
            ]
        return matches

    def _reconcile_payments(self, matches):
        """Match each payment's receivable line with its invoices' lines, all
        in one reconciliation plan; the engine books the exchange differences
        of foreign currencies."""
        Move = self.env["account.move"]
        all_ids = [entry_id for entry_id, _invoices, _partial in matches] + [
            invoice_id
            for _entry, invoice_ids, _partial in matches
            for invoice_id in invoice_ids
        ]
        self.env["account.move.line"]._reconcile_plan(
            [
                Move.browse([entry_id, *invoice_ids])
                .with_prefetch(all_ids)
                .line_ids.filtered(
                    lambda line: (
                        line.account_type == "asset_receivable" and not line.reconciled
                    )
                )
                for entry_id, invoice_ids, _partial in matches
            ]
        )

    def _create_on_account_payments(self, payments, catalog):
        counts = Counter()
        for company_index, group in _by_company(
            payments, lambda item: item.customer.company_index
        ):
            self._post_receipts(
                catalog.companies[company_index],
                [
                    {
                        "partner_id": payment.customer.partner_id,
                        "amount": payment.amount,
                        "currency_id": catalog.currency_ids[
                            payment.customer.currency_code
                        ],
                        "date": payment.on,
                        "name": payment.name,
                        "memo": "Payment on account",
                    }
                    for payment in group
                ],
            )
            counts["payments_on_account"] += len(group)
        return counts

    def _post_receipts(self, setup, values):
        """One bank journal entry per customer payment, as a reconciled bank
        statement would book it: the bank account against the customer's
        receivable, in the currency paid, at that day's rate."""
        bank_account_id = (
            self.env["account.journal"]
            .browse(setup.bank_journal_id)
            .default_account_id.id
        )
        receivables = self._receivable_accounts(
            setup, list({value["partner_id"] for value in values})
        )
        company_currency = self.env["res.company"].browse(setup.company_id).currency_id
        entries = []
        for value in values:
            amount_currency = value["amount"]
            balance = company_currency.round(
                amount_currency / self._rate(setup, value["currency_id"], value["date"])
            )
            common = {
                "partner_id": value["partner_id"],
                "currency_id": value["currency_id"],
                "name": value["memo"],
            }
            entries.append(
                {
                    "move_type": "entry",
                    "name": value["name"],
                    "journal_id": setup.bank_journal_id,
                    "date": value["date"],
                    "partner_id": value["partner_id"],
                    "ref": value["memo"],
                    "line_ids": [
                        fields.Command.create(
                            dict(
                                common,
                                account_id=bank_account_id,
                                amount_currency=amount_currency,
                                balance=balance,
                            )
                        ),
                        fields.Command.create(
                            dict(
                                common,
                                account_id=receivables[value["partner_id"]],
                                amount_currency=-amount_currency,
                                balance=-balance,
                            )
                        ),
                    ],
                }
            )
        return self._create_and_post(setup, entries)

    def _create_messages(self, messages, catalog):
        """Reminders and replies with their invoices, in two statements: the
        outbox's rows are plain records (no computed field, no chatter), and
        the ORM would insert their invoice links one by one."""
        self.env.flush_all()
        ids = [
            row[0]
            for row in self.env.execute_query(
                SQL(
                    "SELECT nextval('dunning_communication_id_seq') "
                    "FROM generate_series(1, %s)",
                    len(messages),
                )
            )
        ]
        columns = defaultdict(list)
        for message_id, message in zip(ids, messages, strict=True):
            customer = message.invoice.customer
            contact = customer.contact_values or customer.values
            step_id, policy_id = message.step or (None, None)
            for column, value in (
                ("id", message_id),
                ("company_id", catalog.companies[customer.company_index].company_id),
                ("partner_id", customer.partner_id),
                ("kind", message.kind),
                ("state", message.state),
                ("channel", message.channel),
                ("step_id", step_id),
                ("policy_id", policy_id),
                (
                    "recipient",
                    contact["email" if message.channel == "email" else "phone"]
                    if message.kind == "reminder"
                    else None,
                ),
                ("date", message.at),
                ("sent_date", message.at if message.kind == "reminder" else None),
                ("delivered_date", message.delivered_at),
                ("read_date", message.read_at),
                ("body", message.body),
                ("move_id", message.invoice.move_id),
            ):
                columns[column].append(value)
        uid = self.env.uid
        self.env.execute_query(
            SQL(
                """
                INSERT INTO dunning_communication (
                    id, company_id, partner_id, kind, state, channel, step_id,
                    policy_id, recipient, date, sent_date, delivered_date,
                    read_date, body, create_uid, write_uid, create_date, write_date
                )
                SELECT id, company_id, partner_id, kind, state, channel, step_id,
                       policy_id, recipient, date, sent_date, delivered_date,
                       read_date, body, %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM unnest(
                    %(id)s::int[], %(company_id)s::int[], %(partner_id)s::int[],
                    %(kind)s::varchar[], %(state)s::varchar[], %(channel)s::varchar[],
                    %(step_id)s::int[], %(policy_id)s::int[], %(recipient)s::varchar[],
                    %(date)s::timestamp[], %(sent_date)s::timestamp[],
                    %(delivered_date)s::timestamp[], %(read_date)s::timestamp[],
                    %(body)s::text[]
                  ) AS message(
                    id, company_id, partner_id, kind, state, channel, step_id,
                    policy_id, recipient, date, sent_date, delivered_date,
                    read_date, body
                  )
                """,
                uid=uid,
                now=fields.Datetime.now(),
                **{
                    column: values
                    for column, values in columns.items()
                    if column != "move_id"
                },
            )
        )
        self.env.execute_query(
            SQL(
                "INSERT INTO dunning_communication_account_move_rel "
                "(communication_id, move_id) "
                "SELECT * FROM unnest(%s::int[], %s::int[])",
                ids,
                columns["move_id"],
            )
        )
        self.env["dunning.communication"].invalidate_model()
        self.env["account.move"].invalidate_model(["dunning_communication_ids"])
        return Counter(
            "reminders" if message.kind == "reminder" else "replies"
            for message in messages
        )

    # ------------------------------------------------------------------
    # Summary
    # ------------------------------------------------------------------

    def summary(self, counts, invoice_ids):
        elapsed = time.perf_counter() - self.started
        Move = self.env["account.move"]
        invoice_domain = [("id", "in", invoice_ids)]
        aging = Counter(
            _aging_bucket((self.today - invoice.invoice_date_due).days)
            for invoice in Move.search_fetch(
                invoice_domain + [("payment_state", "in", ("not_paid", "partial"))],
                ["invoice_date_due"],
            )
        )
        return {
            **{key: counts[key] for key in SUMMARY_COUNTS},
            "foreign_currency_invoices": len(
                Move.search_fetch(
                    invoice_domain, ["currency_id", "company_currency_id"]
                ).filtered(
                    lambda invoice: invoice.currency_id != invoice.company_currency_id
                )
            ),
            "payment_states": dict(
                Move._read_group(invoice_domain, ["payment_state"], ["__count"])
            ),
            "open_by_age": {
                bucket: aging[bucket] for bucket in AGING_BUCKETS if aging[bucket]
            },
            "elapsed_seconds": round(elapsed, 1),
            # no rate under a frozen clock (tests)
            "invoices_per_second": round(counts["invoices"] / elapsed, 1)
            if elapsed
            else None,
        }


SUMMARY_COUNTS = (
    "customers",
    "invoice_contacts",
    "invoices",
    "credit_notes",
    "credit_notes_unapplied",
    "payments",
    "payments_partial",
    "payments_several_invoices",
    "payments_on_account",
    "reminders",
    "replies",
)
AGING_BUCKETS = ("not due", "1-30", "31-60", "61-90", "91-120", ">120")


def _aging_bucket(days_overdue):
    if days_overdue <= 0:
        return "not due"
    for bucket, limit in (("1-30", 30), ("31-60", 60), ("61-90", 90), ("91-120", 120)):
        if days_overdue <= limit:
            return bucket
    return ">120"


# Set in the parent just before forking, read by the worker processes.
_WORKER_JOB = {}


def orm_baseline(dbname, count, seed):
    """Seconds to create and post ``count`` invoices one by one through the
    ORM, each a copy of a random invoice of the database (customer, currency,
    dates, payment term, products, quantities, prices and taxes), then roll
    back: the plain way the generator's batches are compared with. Chatter
    and tracking are off, as in the generator, which favours the baseline."""
    registry = Registry(dbname)
    with registry.cursor() as cr:
        env = api.Environment(cr, api.SUPERUSER_ID, FAST_CONTEXT)
        Move = env["account.move"]
        all_ids = Move.search(
            [("move_type", "=", "out_invoice"), ("state", "=", "posted")]
        ).ids
        if not all_ids:
            sys.exit("No posted customer invoice in this database to copy.")
        sources = Move.browse(random.Random(seed).choices(all_ids, k=count))
        values_list = [
            (
                source.company_id.id,
                {
                    "move_type": "out_invoice",
                    "partner_id": source.partner_id.id,
                    "currency_id": source.currency_id.id,
                    "invoice_date": source.invoice_date,
                    "invoice_payment_term_id": source.invoice_payment_term_id.id,
                    "ref": source.ref,
                    "invoice_line_ids": [
                        fields.Command.create(
                            {
                                "product_id": line.product_id.id,
                                "quantity": line.quantity,
                                "price_unit": line.price_unit,
                                "tax_ids": [fields.Command.set(line.tax_ids.ids)],
                            }
                        )
                        for line in source.invoice_line_ids
                    ],
                },
            )
            for source in sources
        ]
        lines = sum(len(values["invoice_line_ids"]) for _c, values in values_list)
        env.invalidate_all()
        started = time.perf_counter()
        for company_id, values in values_list:
            Move.with_company(company_id).create(values).action_post()
        env.flush_all()
        elapsed = time.perf_counter() - started
        cr.rollback()
    return {
        "database": dbname,
        "invoices created one by one": count,
        "product lines per invoice": round(lines / count, 1),
        "seconds": round(elapsed, 1),
        "invoices per second": round(count / elapsed, 1),
    }


def _run_worker(worker, workers, sender):
    """Build the share of the dataset of the customers ``index % workers ==
    worker``, in a forked process with its own database connection, and send
    back the counts and invoice ids, or the traceback as text (ORM and psycopg2
    errors do not pickle)."""
    builder, plan, registry = (
        _WORKER_JOB["builder"],
        _WORKER_JOB["plan"],
        _WORKER_JOB["registry"],
    )
    try:
        with registry.cursor() as cr:
            builder.bind(api.Environment(cr, api.SUPERUSER_ID, {}), commit=cr.commit)
            result = builder.build(
                [
                    invoice
                    for invoice in plan.invoices
                    if invoice.customer.index % workers == worker
                ],
                [
                    settlement
                    for settlement in plan.settlements
                    if settlement.customer.index % workers == worker
                ],
                plan.catalog,
                [
                    message
                    for message in plan.messages
                    if message.invoice.customer.index % workers == worker
                ],
            )
    except Exception:  # noqa: BLE001 - any failure is reported to the parent
        result = traceback.format_exc()
    finally:
        close_all()
    sender.send(result)
    sender.close()


def _build_in_workers(registry, builder, plan, workers):
    # forked workers must not share the parent's connections
    close_all()
    _WORKER_JOB.update(builder=builder, plan=plan, registry=registry)
    context = multiprocessing.get_context("fork")
    channels = []
    for worker in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_run_worker, args=(worker, workers, sender), name=f"dataset-{worker}"
        )
        process.start()
        sender.close()
        channels.append((process, receiver))
    results = []
    for process, receiver in channels:
        try:
            results.append(receiver.recv())
        except EOFError:
            results.append(f"{process.name} stopped without a result")
        process.join()
        if process.exitcode:
            results.append(f"{process.name} exited with code {process.exitcode}")
    _WORKER_JOB.clear()
    return results


class DunningDataset(Command):
    """Fill a database with customers, posted invoices and payments for benchmarks"""

    name = "dunning_dataset"
    epilog = """
        Odoo's database options (-c, --db_host, --db_port, -r, -w, ...) apply too,
        and -u friendly_dunning upgrades the addon first. The database is created,
        with friendly_dunning and without demo data, when it does not exist.
        Build a template once, then copy it for every run:

            odoo --addons-path=... dunning_dataset -d fdgen_tpl_20k_100k \\
                --customers 20000 --invoices 100000 --workers 2 --template
            createdb -T fdgen_tpl_20k_100k fd_bench_run
    """

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument(
            "-d",
            "--database",
            required=True,
            help="database to fill (created if missing)",
        )
        parser.add_argument(
            "--customers",
            type=int,
            default=2000,
            help="customers to create (default 2000)",
        )
        parser.add_argument(
            "--invoices",
            type=int,
            default=10000,
            help="invoices to create (default 10000)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=42,
            help="random seed: same seed and sizes, same data relative to the day "
            "it runs (default 42)",
        )
        parser.add_argument(
            "--companies",
            type=int,
            default=1,
            help="companies the customers are spread over (default 1)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes creating invoices and payments in parallel (default 1)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"records per create, post and commit (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--orm-baseline",
            type=int,
            metavar="N",
            default=0,
            help="instead of filling the database, time creating and posting N "
            "of its invoices again one by one through the ORM, as a form would, "
            "and roll back: the speed the batched generator is measured against",
        )
        parser.add_argument(
            "--unpaid",
            action="store_true",
            help="create no credit notes, payments, reminders or replies: every "
            "invoice stays open, from not yet due to 18 months late, and none "
            "was reminded yet (the worst case for a run)",
        )
        parser.add_argument(
            "--instalment-share",
            type=float,
            default=0.0,
            metavar="SHARE",
            help="share of the invoices (0 to 1) on 30/60 or 30/60/90 days "
            "instalment terms, one receivable line per instalment (default 0)",
        )
        parser.add_argument(
            "--template",
            action="store_true",
            help="when done, VACUUM (FREEZE, ANALYZE) and close connections, "
            "ready for `createdb -T`",
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        if options.workers < 1:
            parser.error("--workers must be at least 1")
        if not 0 <= options.instalment_share <= 1:
            parser.error("--instalment-share must be between 0 and 1")
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        dbname = options.database
        if options.orm_baseline:
            figures = orm_baseline(dbname, options.orm_baseline, options.seed)
            sys.stdout.write(
                "".join(f"  {label:<32}  {value}\n" for label, value in figures.items())
            )
            return

        started = time.perf_counter()
        self._ensure_database(dbname)
        setup_seconds = time.perf_counter() - started
        summary = self._generate(dbname, options)
        self._print_summary(dbname, setup_seconds, summary)
        if options.template:
            self._prepare_template(dbname)

    @staticmethod
    def _ensure_database(dbname):
        """Create the database if needed, install the addon without demo data if
        it is missing, and apply ``-u``/``--update`` if given."""
        try:
            db_service._create_empty_database(dbname)
        except db_service.DatabaseExists:
            _logger.info("Adding to the existing database %s", dbname)
        else:
            _logger.info("Created database %s", dbname)
        with closing(db_connect(dbname).cursor()) as cr:
            installed = False
            if is_initialized(cr):
                cr.execute(
                    SQL("SELECT state FROM ir_module_module WHERE name = %s", ADDON)
                )
                installed = cr.fetchone() == ("installed",)
        install_modules = [] if installed else [ADDON]
        if install_modules or config["update"]:
            Registry.new(
                dbname,
                update_module=True,
                install_modules=install_modules,
                upgrade_modules=config["update"],
                new_db_demo=False,
            )

    @staticmethod
    def _generate(dbname, options):
        registry = Registry(dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, api.SUPERUSER_ID, {})
            builder = DatasetBuilder(
                env,
                seed=options.seed,
                today=fields.Date.context_today(env.user),
                batch_size=options.batch_size,
                commit=cr.commit,
            )
            plan = builder.prepare(
                customers=options.customers,
                invoices=options.invoices,
                companies=options.companies,
                instalment_share=options.instalment_share,
            )
        if options.unpaid:
            plan.settlements = plan.messages = []
        if options.workers == 1:
            with registry.cursor() as cr:
                builder.bind(
                    api.Environment(cr, api.SUPERUSER_ID, {}), commit=cr.commit
                )
                results = [
                    builder.build(
                        plan.invoices, plan.settlements, plan.catalog, plan.messages
                    )
                ]
        else:
            results = _build_in_workers(registry, builder, plan, options.workers)
        failures = [result for result in results if isinstance(result, str)]
        if failures:
            sys.exit("Dataset generation failed in a worker:\n" + "\n".join(failures))
        counts, invoice_ids = sum((result[0] for result in results), Counter()), []
        for result in results:
            invoice_ids += result[1]
        with registry.cursor() as cr:
            builder.bind(api.Environment(cr, api.SUPERUSER_ID, {}))
            return builder.summary(counts + builder.counts, invoice_ids)

    @staticmethod
    def _print_summary(dbname, setup_seconds, summary):
        rows = [
            ("database", dbname),
            ("database setup (s)", round(setup_seconds, 1)),
            *((key.replace("_", " "), summary[key]) for key in SUMMARY_COUNTS),
            ("foreign currency invoices", summary["foreign_currency_invoices"]),
            ("invoices by payment state", summary["payment_states"]),
            ("open invoices by days overdue", summary["open_by_age"]),
            ("generation time (s)", summary["elapsed_seconds"]),
            ("invoices per second, overall", summary["invoices_per_second"]),
        ]
        width = max(len(label) for label, _value in rows)
        sys.stdout.write(
            "\nDunning dataset ready\n"
            + "".join(f"  {label:<{width}}  {value}\n" for label, value in rows)
        )

    @staticmethod
    def _prepare_template(dbname):
        """Freeze and analyse so copies start clean, and leave no connection
        open: PostgreSQL only copies a database nobody is connected to."""
        Registry.delete(dbname)
        close_db(dbname)
        with closing(db_connect(dbname).cursor()) as cr:
            cr._cnx.autocommit = True
            cr.execute(SQL("VACUUM (FREEZE, ANALYZE)"))
        close_db(dbname)
        with closing(db_connect("postgres").cursor()) as cr:
            cr.execute(
                SQL(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid != pg_backend_pid()",
                    dbname,
                )
            )
            others = cr.fetchone()[0]
        close_db("postgres")
        if others:
            _logger.warning(
                "%d other connection(s) to %s: `createdb -T` waits until they close.",
                others,
                dbname,
            )
        sys.stdout.write(
            f"\nTemplate ready, copy it with: createdb -T {dbname} NEW_DB\n"
        )
