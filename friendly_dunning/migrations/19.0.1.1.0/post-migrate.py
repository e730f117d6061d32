"""The shipped reminder steps name the WhatsApp template each one sends
(``wa_template_name``). Their records are ``noupdate`` data: a database that
had them before the field existed keeps them as they were on update, so the
names are set here, from the same data files, on the shipped steps that have
none."""

from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.tools.misc import file_path

STEP_DATA = (
    "friendly_dunning/data/dunning_policy_data.xml",
    "friendly_dunning/data/dunning_segment_data.xml",
)


def shipped_template_names():
    """``{step XML id: template name}`` as the data files give them."""
    names = {}
    for data_file in STEP_DATA:
        tree = etree.parse(file_path(data_file))
        for record in tree.iterfind(".//record[@model='dunning.step']"):
            name = record.findtext("field[@name='wa_template_name']")
            if name:
                names[f"friendly_dunning.{record.get('id')}"] = name.strip()
    return names


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid, name in shipped_template_names().items():
        step = env.ref(xmlid, raise_if_not_found=False)
        if step and not step.wa_template_name:
            step.wa_template_name = name
