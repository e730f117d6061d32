from odoo.tools import SQL

from . import controllers
from . import models
from . import report
from . import wizards
from .models.account_move import OPEN_INVOICE_PARTNER_INDEX


def _post_init_hook(env):
    """Give every existing company its sandbox channel and default policy."""
    env["res.company"].search([])._dunning_ensure_defaults()


def _uninstall_hook(env):
    """Remove the demo invoices and payments first: see dunning.demo. Drop the
    index the addon put on Odoo's own invoices table."""
    env["dunning.demo"]._unload_demo_accounting()
    env.cr.execute(
        SQL("DROP INDEX IF EXISTS %s", SQL.identifier(OPEN_INVOICE_PARTNER_INDEX))
    )
