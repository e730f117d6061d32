from . import controllers
from . import models
from . import report
from . import wizards


def _post_init_hook(env):
    """Give every existing company its sandbox channel and default policy."""
    env["res.company"].search([])._dunning_ensure_defaults()


def _uninstall_hook(env):
    """Remove the demo invoices and payments first: see dunning.demo."""
    env["dunning.demo"]._unload_demo_accounting()
