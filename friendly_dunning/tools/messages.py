"""Rendering reminder texts: ``{placeholder}`` substitution, nothing else.

Plain ``str.format_map`` with a closed list of names: a template can insert
values but never run code, and a typo is reported instead of sent.
"""

import string

PLACEHOLDERS = (
    "name",
    "company",
    "amount",
    "invoices",
    "due_date",
    "days_overdue",
    "link",
    "credits",
    "early_discount",
    "late_charges",
    "waiver_offer",
)


class TemplateError(ValueError):
    """A template that cannot be rendered: unknown names or broken braces."""

    def __init__(self, unknown=(), malformed=None):
        self.unknown = list(unknown)
        self.malformed = malformed
        super().__init__(malformed or ", ".join(self.unknown))


def check_template(template):
    """Raise ``TemplateError`` when ``template`` would not render."""
    try:
        names = [
            name
            for _literal, name, _spec, _conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as error:
        raise TemplateError(malformed=str(error)) from error
    unknown = sorted({name for name in names if name not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(unknown=unknown)


def render_message(template, values):
    """``template`` with its placeholders replaced by ``values``."""
    check_template(template)
    return template.format_map({name: values.get(name, "") for name in PLACEHOLDERS})
