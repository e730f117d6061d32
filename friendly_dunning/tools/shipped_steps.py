"""The reminder steps of the shipped policies, as the data files give them."""

from lxml import etree

from odoo.tools.misc import file_path

STEP_DATA = (
    "friendly_dunning/data/dunning_policy_data.xml",
    "friendly_dunning/data/dunning_segment_data.xml",
)


def shipped_step_values(field):
    """``{step XML id: value}`` of the steps' ``field`` in the data files, as
    stripped text, for the steps that give one."""
    values = {}
    for data_file in STEP_DATA:
        tree = etree.parse(file_path(data_file))
        for record in tree.iterfind(".//record[@model='dunning.step']"):
            value = record.findtext(f"field[@name='{field}']")
            if value:
                values[f"friendly_dunning.{record.get('id')}"] = value.strip()
    return values
