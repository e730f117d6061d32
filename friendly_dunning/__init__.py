from odoo.tools import SQL

from . import controllers
from . import models
from . import report
from . import wizards
from .models.account_move import OPEN_INSTALMENT_INDEX, OPEN_INVOICE_PARTNER_INDEX


def _post_init_hook(env):
    """Give every existing company its sandbox channel and default policy,
    then the figures of every customer with invoices (score, overdue amount,
    aging, next reminder, payment forecasts): the worklist and the dashboard
    are complete from the first screen, not after the first run of the hourly
    jobs."""
    env["res.company"].search([])._dunning_ensure_defaults()
    env["res.partner"]._dunning_refresh_segmentation()
    env["dunning.payment.forecast"]._cron_dunning_forecast()


def _uninstall_hook(env):
    """Remove the demo invoices and payments first: see dunning.demo. Drop the
    indexes the addon put on Odoo's own invoices and journal items tables."""
    env["dunning.demo"]._unload_demo_accounting()
    for index in (OPEN_INVOICE_PARTNER_INDEX, OPEN_INSTALMENT_INDEX):
        env.cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(index)))
