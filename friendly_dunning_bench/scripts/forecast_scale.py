"""Time the payment forecast's training and forecasting at the scale of the
100,000-invoice dataset, in plain Python (no Odoo, no database)::

    python3 friendly_dunning_bench/scripts/forecast_scale.py [--customers 20000]
        [--invoices 100000] [--open-share 0.2] [--rounds 3]

A seeded synthetic ledger: each customer with a habit (on time, a few days, two
weeks or six weeks late, with noise and a drift), invoices spread over the last
two years, the share ``--open-share`` of them open today. It prints the
seconds of training, of forecasting every open invoice and of their 13 weekly
probabilities, per round. The Odoo job adds reading the ledger and storing the
forecasts (see dunning_forecast_bench)."""

import argparse
import importlib.util
import random
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "friendly_dunning" / "tools" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ledger(forecast, customers, invoices, open_share, as_of):
    rng = random.Random(42)
    habits = [rng.choice([0, 3, 14, 42]) for _ in range(customers)]
    drifts = [rng.choice([0, 0, 0, 10]) for _ in range(customers)]
    groups = [rng.choice(["ES", "MX", "BR", "US"]) for _ in range(customers)]
    paid, open_invoices = [], []
    for number in range(invoices):
        customer = rng.randrange(customers)
        invoice_date = as_of - timedelta(days=rng.randrange(5, 730))
        due = invoice_date + timedelta(days=rng.choice([15, 30, 60]))
        amount = round(rng.lognormvariate(6, 1), 2)
        age = (as_of - invoice_date).days
        delay = max(
            -10,
            round(
                rng.gauss(habits[customer] + drifts[customer] * (730 - age) / 730, 5)
            ),
        )
        paid_date = due + timedelta(days=delay)
        if paid_date <= as_of and rng.random() > open_share:
            paid.append(
                forecast.PaidInvoice(
                    customer, groups[customer], invoice_date, due, paid_date, amount
                )
            )
        else:
            open_invoices.append(
                forecast.OpenInvoice(
                    number, customer, groups[customer], invoice_date, due, amount
                )
            )
    return paid, open_invoices


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--invoices", type=int, default=100000)
    parser.add_argument("--open-share", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    forecast = load("payment_forecast")
    as_of = date(2026, 12, 1)
    paid, open_invoices = ledger(
        forecast, options.customers, options.invoices, options.open_share, as_of
    )
    print(f"{len(paid)} paid, {len(open_invoices)} open")
    for _round in range(options.rounds):
        start = time.perf_counter()
        model = forecast.PaymentForecaster.train(paid, open_invoices, as_of=as_of)
        trained = time.perf_counter()
        model.forecast(open_invoices)
        forecasted = time.perf_counter()
        model.weekly_probabilities(open_invoices, 13)
        weekly = time.perf_counter()
        print(
            f"train {trained - start:.2f} s, forecast {forecasted - trained:.2f} s, "
            f"13 weekly probabilities {weekly - forecasted:.2f} s"
        )


if __name__ == "__main__":
    main()
