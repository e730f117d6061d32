"""Automatic payments with Odoo's demo payment provider (module
``payment_demo``, which friendly_dunning does not depend on): a provider of
company A that saves cards, and the cards a customer saves with it. A card
whose simulated state is ``error`` is declined on every charge."""

from unittest import SkipTest

from odoo import Command

DEMO_MISSING = (
    "payment_demo is not installed: automatic payments need a provider that saves cards"
)


def demo_provider(env, company, journal):
    """The demo provider of ``company``, in test mode, published, posting to
    ``journal``; raises SkipTest without payment_demo."""
    if "demo_simulated_state" not in env["payment.token"]._fields:
        raise SkipTest(DEMO_MISSING)
    Provider = env["payment.provider"].sudo()
    provider = Provider.search(
        [("code", "=", "demo"), ("company_id", "=", company.id)], limit=1
    ) or env.ref("payment.payment_provider_demo").sudo().copy(
        {"company_id": company.id}
    )
    method = env.ref("payment_demo.payment_method_demo")
    method.active = True
    provider.write(
        {
            "state": "test",
            "is_published": True,
            "journal_id": journal.id,
            "payment_method_ids": [Command.set(method.ids)],
        }
    )
    return provider


def demo_card(env, provider, partner, state="done", details="4242"):
    """A card ``partner`` saved with the demo ``provider``; its charges end in
    ``state``."""
    return (
        env["payment.token"]
        .sudo()
        .create(
            {
                "provider_id": provider.id,
                "payment_method_id": env.ref("payment_demo.payment_method_demo").id,
                "partner_id": partner.id,
                "payment_details": details,
                "provider_ref": f"demo-{partner.id}-{details}",
                "demo_simulated_state": state,
            }
        )
    )
