"""The shipped reminder steps name the WhatsApp template each one sends
(``wa_template_name``). Their records are ``noupdate`` data: a database that
had them before the field existed keeps them as they were on update, so the
names are set here, from the same data files, on the shipped steps that have
none."""

from odoo import SUPERUSER_ID, api

from odoo.addons.friendly_dunning.tools.shipped_steps import shipped_step_values


def shipped_template_names():
    """``{step XML id: template name}`` as the data files give them."""
    return shipped_step_values("wa_template_name")


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid, name in shipped_template_names().items():
        step = env.ref(xmlid, raise_if_not_found=False)
        if step and not step.wa_template_name:
            step.wa_template_name = name
