import json

from odoo import api, fields, models

from ..tools.intents import quick_reply_payload

# The values we can put in a template, by variable name. Positional templates
# ({{1}}, {{2}} ...) receive them in this order.
VARIABLES = ("name", "amount", "due_date", "days_overdue", "invoices", "company")


class DunningWhatsAppTemplate(models.Model):
    """A message template approved (or not) by Meta for one WhatsApp channel,
    as synced from the business account. Outside the customer's 24-hour
    window only an approved template may be sent."""

    _name = "dunning.whatsapp.template"
    _description = "Collections WhatsApp Template"
    _order = "channel_id, name, language"

    channel_id = fields.Many2one(
        "dunning.channel",
        required=True,
        index=True,
        ondelete="cascade",
        domain=[("channel_type", "=", "whatsapp")],
    )
    company_id = fields.Many2one(
        related="channel_id.company_id", store=True, index=True, precompute=True
    )
    meta_id = fields.Char(string="Meta template ID", readonly=True)
    name = fields.Char(required=True, readonly=True)
    language = fields.Char(
        required=True, readonly=True, help="Meta's language code, e.g. es_MX."
    )
    category = fields.Char(readonly=True)
    status = fields.Char(
        readonly=True, help="APPROVED templates only are sent; others are skipped."
    )
    parameter_format = fields.Char(readonly=True, default="POSITIONAL")
    header_format = fields.Char(
        readonly=True, help="DOCUMENT: the invoice PDF is sent as the header."
    )
    body = fields.Text(readonly=True)
    body_variables = fields.Char(
        readonly=True, help="The body's variables, comma separated, in order."
    )
    body_variable_count = fields.Integer(readonly=True)
    buttons = fields.Text(readonly=True, help="The template's buttons, as JSON.")
    active = fields.Boolean(default=True)

    _channel_name_language_uniq = models.Constraint(
        "UNIQUE(channel_id, name, language)",
        "A template exists once per channel and language.",
    )

    @api.depends("name", "language", "status")
    def _compute_display_name(self):
        for template in self:
            template.display_name = (
                f"{template.name} ({template.language}, {template.status or '-'})"
            )

    @api.model
    def _sync(self, channel, templates):
        """Create or update the templates of ``channel`` from Meta's list
        (``normalise_template`` dicts); templates Meta no longer lists are
        archived. Returns the number of templates listed."""
        existing = {
            (template.name, template.language): template
            for template in self.with_context(active_test=False).search(
                [("channel_id", "=", channel.id)]
            )
        }
        seen = self.browse()
        to_create = []
        for item in templates:
            if not item.get("name") or not item.get("language"):
                continue
            values = {
                "meta_id": item.get("id"),
                "category": item.get("category"),
                "status": item.get("status"),
                "parameter_format": item.get("parameter_format") or "POSITIONAL",
                "header_format": item.get("header_format"),
                "body": item.get("body"),
                "body_variables": ",".join(item.get("body_variables") or []),
                "body_variable_count": item.get("body_variable_count") or 0,
                "buttons": json.dumps(item.get("buttons") or []),
                "active": True,
            }
            template = existing.get((item["name"], item["language"]))
            if template:
                template.write(values)
                seen |= template
            else:
                to_create.append(
                    values
                    | {
                        "channel_id": channel.id,
                        "name": item["name"],
                        "language": item["language"],
                    }
                )
        created = self.create(to_create)
        (self.browse([t.id for t in existing.values()]) - seen - created).write(
            {"active": False}
        )
        return len(templates)

    def _button_list(self):
        self.ensure_one()
        try:
            buttons = json.loads(self.buttons or "[]")
        except ValueError:
            return []
        return [button for button in buttons if isinstance(button, dict)]

    def _variable_names(self):
        """The template's variables in order: our names for positional
        templates ({{1}} is the customer's name ...), its own for named ones."""
        self.ensure_one()
        names = [name for name in (self.body_variables or "").split(",") if name]
        if (self.parameter_format or "POSITIONAL").upper() == "NAMED":
            return names
        return [
            VARIABLES[int(name) - 1]
            if name.isdigit() and int(name) <= len(VARIABLES)
            # A variable we have nothing for: the template cannot be filled.
            else name
            for name in names
        ]

    def _quick_reply_payloads(self):
        """``{button index: payload}`` for the quick-reply buttons, so that a
        tap on "I already paid" reaches the reply rules as ALREADY_PAID."""
        self.ensure_one()
        return {
            index: quick_reply_payload(button.get("text") or "")
            for index, button in enumerate(self._button_list())
            if button.get("type") == "QUICK_REPLY"
        }

    def _url_button(self):
        """``(index, url)`` of the first URL button with a variable, or None."""
        self.ensure_one()
        for index, button in enumerate(self._button_list()):
            if button.get("type") == "URL" and button.get("url_has_variable"):
                return index, button.get("url") or ""
        return None

    def _pick(self, lang):
        """The approved template of the same name in ``lang`` (es_MX, then
        es, then the mapped one), or an empty recordset."""
        self.ensure_one()
        siblings = self.search(
            [
                ("channel_id", "=", self.channel_id.id),
                ("name", "=", self.name),
                ("status", "=", "APPROVED"),
            ]
        )
        lang = lang or ""
        for wanted in (lang, lang.split("_")[0]):
            match = siblings.filtered(lambda t, wanted=wanted: t.language == wanted)
            if match:
                return match[:1]
        for wanted in (lang.split("_")[0],):
            match = siblings.filtered(
                lambda t, wanted=wanted: t.language.split("_")[0] == wanted
            )
            if match:
                return match[:1]
        return self if self in siblings else siblings[:1]
