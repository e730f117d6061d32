"""The shipped reminder before the due date goes earlier to the customers
likely to pay late (``likely_late_days_before``). Its record is ``noupdate``
data: a database that had it before the field existed keeps it as it was on
update, so the value is set here, from the same data files, on the shipped
steps that have none."""

from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.tools.misc import file_path

STEP_DATA = (
    "friendly_dunning/data/dunning_policy_data.xml",
    "friendly_dunning/data/dunning_segment_data.xml",
)


def shipped_likely_late_days():
    """``{step XML id: days before the due date}`` as the data files give
    them."""
    days = {}
    for data_file in STEP_DATA:
        tree = etree.parse(file_path(data_file))
        for record in tree.iterfind(".//record[@model='dunning.step']"):
            value = record.findtext("field[@name='likely_late_days_before']")
            if value:
                days[f"friendly_dunning.{record.get('id')}"] = int(value)
    return days


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid, days in shipped_likely_late_days().items():
        step = env.ref(xmlid, raise_if_not_found=False)
        if step and not step.likely_late_days_before:
            step.likely_late_days_before = days
