"""The shipped reminder before the due date goes earlier to the customers
likely to pay late (``likely_late_days_before``). Its record is ``noupdate``
data: a database that had it before the field existed keeps it as it was on
update, so the value is set here, from the same data files, on the shipped
steps that have none."""

from odoo import SUPERUSER_ID, api

from odoo.addons.friendly_dunning.tools.shipped_steps import shipped_step_values


def shipped_likely_late_days():
    """``{step XML id: days before the due date}`` as the data files give
    them."""
    return {
        xmlid: int(days)
        for xmlid, days in shipped_step_values("likely_late_days_before").items()
    }


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid, days in shipped_likely_late_days().items():
        step = env.ref(xmlid, raise_if_not_found=False)
        if step and not step.likely_late_days_before:
            step.likely_late_days_before = days
