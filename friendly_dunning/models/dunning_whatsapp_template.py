import json

from odoo import api, fields, models
from odoo.fields import Command

from ..tools import whatsapp_template_authoring as authoring
from ..tools.intents import quick_reply_payload

# The values we can put in a template, by variable name. Positional templates
# ({{1}}, {{2}} ...) receive them in this order unless the template says
# which value each variable takes (``variable_names``).
VARIABLES = ("name", "amount", "due_date", "days_overdue", "invoices", "company")

STATES = [
    ("draft", "Draft"),
    ("pending", "In review"),
    ("approved", "Approved"),
    ("rejected", "Rejected by Meta"),
    ("paused", "Paused"),
    ("disabled", "Disabled"),
    ("other", "Other"),
]
_STATE_BY_STATUS = {
    "DRAFT": "draft",
    "PENDING": "pending",
    "IN_APPEAL": "pending",
    "APPROVED": "approved",
    "REJECTED": "rejected",
    "PAUSED": "paused",
    "DISABLED": "disabled",
}


class DunningWhatsAppTemplate(models.Model):
    """A message template of one WhatsApp channel: written here and submitted
    to Meta, or synced from the business account. Meta reviews it; outside
    the customer's 24-hour window only an approved utility template is sent.
    Steps find theirs by name (``dunning.step.wa_template_name``) in the
    customer's language. Writing and submitting are in
    dunning_whatsapp_template_authoring.py, Meta's review by webhook in
    dunning_whatsapp_template_review.py."""

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
    meta_id = fields.Char(string="Meta template ID", readonly=True, index=True)
    name = fields.Char(
        required=True,
        help="Lower case letters, digits and underscores. Steps whose WhatsApp "
        "template name is this one send it once Meta approves it.",
    )
    language = fields.Char(
        required=True, help="Meta's language code, e.g. en, es, es_MX, pt_BR."
    )
    category = fields.Char(
        default="UTILITY",
        help="UTILITY for reminders. A template Meta counts as MARKETING is not "
        "sent as a reminder.",
    )
    status = fields.Char(
        readonly=True,
        default="DRAFT",
        help="Meta's status: APPROVED templates only are sent; others are skipped.",
    )
    state = fields.Selection(
        STATES, compute="_compute_state", store=True, index=True, readonly=True
    )
    status_reason = fields.Char(
        string="Meta's reason",
        readonly=True,
        help="Why Meta rejected, paused or disabled the template.",
    )
    status_date = fields.Datetime(
        string="Status since",
        readonly=True,
        help="When the status last changed; older news from Meta is ignored.",
    )
    category_date = fields.Datetime(readonly=True)
    upcoming_category = fields.Char(
        readonly=True, help="The category Meta announced it will give the template."
    )
    parameter_format = fields.Char(readonly=True, default="POSITIONAL")
    header_format = fields.Char(
        readonly=True, help="DOCUMENT: the invoice PDF is sent as the header."
    )
    body = fields.Text(
        help="What the customer reads. Variables are written {{1}}, {{2}} ... in "
        "order; Values says what each one receives."
    )
    variable_names = fields.Char(
        string="Values",
        help="What {{1}}, {{2}} ... receive, comma separated, among: "
        + ", ".join(VARIABLES)
        + ". Empty: in that order.",
    )
    body_variables = fields.Char(
        compute="_compute_body_variables",
        store=True,
        help="The body's variables, comma separated, in order.",
    )
    body_variable_count = fields.Integer(compute="_compute_body_variables", store=True)
    button_ids = fields.One2many(
        "dunning.whatsapp.template.button", "template_id", string="Button list"
    )
    buttons = fields.Text(
        compute="_compute_buttons",
        store=True,
        help="The template's buttons, as JSON.",
    )
    unusable_reason = fields.Char(compute="_compute_unusable_reason")
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

    @api.depends("status")
    def _compute_state(self):
        for template in self:
            template.state = _STATE_BY_STATUS.get(
                (template.status or "DRAFT").upper(), "other"
            )

    @api.depends("body")
    def _compute_body_variables(self):
        for template in self:
            names = authoring.body_variables(template.body)
            template.body_variables = ",".join(names)
            template.body_variable_count = len(names)

    @api.depends("button_ids.button_type", "button_ids.text", "button_ids.url")
    def _compute_buttons(self):
        for template in self:
            template.buttons = json.dumps(
                [button._as_dict() for button in template.button_ids]
            )

    @api.depends("state", "category", "status_reason")
    def _compute_unusable_reason(self):
        for template in self:
            template.unusable_reason = template._why_unusable() or False

    def _is_usable(self):
        self.ensure_one()
        # A reminder is a utility message: a template Meta counts as
        # marketing is never sent as one.
        return (
            self.status == "APPROVED" and (self.category or "").upper() != "MARKETING"
        )

    def _why_unusable(self):
        """Why this template is not sent, in words, or None."""
        self.ensure_one()
        if self._is_usable():
            return None
        if self.state == "approved":
            return self.env._(
                "Meta counts it as %(category)s; only utility templates are sent "
                "as reminders",
                category=self.category,
            )
        why = {
            "draft": self.env._("not submitted to Meta yet"),
            "pending": self.env._("waiting for Meta's review"),
            "rejected": self.env._("rejected by Meta"),
            "paused": self.env._("paused by Meta"),
            "disabled": self.env._("disabled by Meta"),
        }.get(self.state) or self.env._(
            "Meta's status is %(status)s", status=self.status
        )
        if self.status_reason:
            return self.env._("%(why)s: %(reason)s", why=why, reason=self.status_reason)
        return why

    # ------------------------------------------------------------------
    # Sync from Meta
    # ------------------------------------------------------------------

    @api.model
    def _sync(self, channel, templates):
        """Create or update the templates of ``channel`` from Meta's list
        (``normalise_template`` dicts); templates Meta no longer lists are
        archived, drafts not submitted yet excepted. Returns the number of
        templates listed."""
        existing = {
            (template.name, template.language): template
            for template in self.with_context(active_test=False).search(
                [("channel_id", "=", channel.id)]
            )
        }
        now = fields.Datetime.now()
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
                "button_ids": [Command.clear()]
                + [
                    Command.create(
                        {
                            "sequence": index,
                            "button_type": button.get("type"),
                            "text": button.get("text") or "",
                            "url": button.get("url"),
                        }
                    )
                    for index, button in enumerate(item.get("buttons") or [])
                    if button.get("type") in ("URL", "QUICK_REPLY")
                ],
                "active": True,
            }
            template = existing.get((item["name"], item["language"]))
            if template:
                if template.status != values["status"]:
                    values |= {"status_date": now, "status_reason": False}
                template.write(values)
                seen |= template
            else:
                to_create.append(
                    values
                    | {
                        "channel_id": channel.id,
                        "name": item["name"],
                        "language": item["language"],
                        "status_date": now,
                    }
                )
        created = self.create(to_create)
        gone = self.browse([t.id for t in existing.values()]) - seen - created
        gone.filtered(lambda t: t.meta_id or t.state != "draft").write(
            {"active": False}
        )
        return len(templates)

    # ------------------------------------------------------------------
    # What the sender reads
    # ------------------------------------------------------------------

    def _button_list(self):
        self.ensure_one()
        try:
            buttons = json.loads(self.buttons or "[]")
        except ValueError:
            return []
        return [button for button in buttons if isinstance(button, dict)]

    def _value_names(self):
        """Our value names for {{1}}, {{2}} ... as the template says, else in
        ``VARIABLES`` order."""
        self.ensure_one()
        return [name.strip() for name in (self.variable_names or "").split(",") if name]

    def _variable_names(self):
        """The template's variables in order: our names for positional
        templates ({{1}} is the customer's name ...), its own for named ones."""
        self.ensure_one()
        names = [name for name in (self.body_variables or "").split(",") if name]
        if (self.parameter_format or "POSITIONAL").upper() == "NAMED":
            return names
        mapped = self._value_names()
        if mapped:
            return [
                mapped[int(name) - 1]
                if name.isdigit() and 0 < int(name) <= len(mapped)
                else name
                for name in names
            ]
        return [
            VARIABLES[int(name) - 1]
            if name.isdigit() and 0 < int(name) <= len(VARIABLES)
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

    @api.model
    def _find(self, channel, name, lang, preferred=None):
        """``(template, unusable)`` to send as ``name`` on ``channel`` to a
        customer speaking ``lang`` (es_MX: es_MX, then es, then any es_*).
        When the customer's language has a template that cannot be sent
        (paused, rejected, marketing ...), ``template`` is empty and
        ``unusable`` says which one. Without any template in that language,
        ``preferred`` (a manually mapped template), then the company's
        language, then English, then any sendable one."""
        candidates = self.search([("channel_id", "=", channel.id), ("name", "=", name)])
        if not candidates:
            return self.browse(), self.browse()
        same_language = self._in_language(candidates, lang)
        if same_language:
            usable = same_language.filtered(lambda t: t._is_usable())
            return usable[:1], (self.browse() if usable else same_language[:1])
        usable = candidates.filtered(lambda t: t._is_usable())
        if preferred and preferred in usable:
            return preferred, self.browse()
        for fallback in (channel.company_id.partner_id.lang, "en"):
            match = self._in_language(usable, fallback)
            if match:
                return match[:1], self.browse()
        return usable[:1], self.browse()

    @api.model
    def _in_language(self, templates, lang):
        """Those of ``templates`` in ``lang``, the closest match first: the
        exact code, else the base language, else a sibling locale."""
        lang = lang or ""
        base = lang.split("_")[0]
        for matches in (
            lambda t: t.language == lang,
            lambda t: t.language == base,
            lambda t: t.language.split("_")[0] == base,
        ):
            found = templates.filtered(matches)
            if found:
                return found
        return templates.browse()

    def _pick(self, lang):
        """The sendable template of the same name in ``lang`` (es_MX, then
        es, then another es_*), else this one, or an empty recordset."""
        self.ensure_one()
        template, _unusable = self._find(self.channel_id, self.name, lang, self)
        return template


class DunningWhatsAppTemplateButton(models.Model):
    """A button of a WhatsApp template: a link to the customer's page or a
    quick reply whose tap comes back as an intent."""

    _name = "dunning.whatsapp.template.button"
    _description = "Collections WhatsApp Template Button"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one(
        "dunning.whatsapp.template", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        related="template_id.company_id", store=True, index=True, precompute=True
    )
    sequence = fields.Integer(default=10)
    button_type = fields.Selection(
        [("QUICK_REPLY", "Quick reply"), ("URL", "Link")],
        string="Type",
        required=True,
        default="QUICK_REPLY",
    )
    text = fields.Char(
        string="Title",
        required=True,
        help="Up to 25 characters. Quick replies such as “I already paid” or “I "
        "need more time” come back as the customer's answer.",
    )
    url = fields.Char(
        string="Link",
        help="For a link: a full address; ending it with {{1}} adds the "
        "customer's own page, e.g. https://example.com/collections/{{1}}.",
    )

    def _as_dict(self):
        self.ensure_one()
        return {
            "type": self.button_type,
            "text": self.text or "",
            "url": self.url if self.button_type == "URL" else None,
            "url_has_variable": bool(
                self.button_type == "URL" and authoring.body_variables(self.url)
            ),
        }
