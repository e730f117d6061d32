import json
import logging
from datetime import date, datetime, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command, Domain
from odoo.tools import SQL, format_date, formatLang

from ..tools import whatsapp_template_authoring as authoring
from ..tools.intents import quick_reply_payload
from ..tools.whatsapp_client import AUTH, WhatsAppError
from ..tools.whatsapp_shipped_templates import shipped_templates

_logger = logging.getLogger(__name__)

# The values we can put in a template, by variable name. Positional templates
# ({{1}}, {{2}} ...) receive them in this order unless the template says
# which value each variable takes (``variable_names``).
VARIABLES = ("name", "amount", "due_date", "days_overdue", "invoices", "company")

STATES = [
    ("draft", "Draft"),
    ("pending", "In review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
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
# Review outcomes a webhook may set. PENDING is ours to set when we submit:
# a late PENDING never undoes an outcome.
REVIEW_EVENTS = frozenset({"APPROVED", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL"})


def _event_time(timestamp):
    if not timestamp:
        return fields.Datetime.now()
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


class DunningWhatsAppTemplate(models.Model):
    """A message template of one WhatsApp channel: written here and submitted
    to Meta, or synced from the business account. Meta reviews it; outside
    the customer's 24-hour window only an approved utility template is sent.
    Steps find theirs by name (``dunning.step.wa_template_name``) in the
    customer's language."""

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

    # ------------------------------------------------------------------
    # Writing and submitting
    # ------------------------------------------------------------------

    @api.model
    def _create_shipped(self, channel):
        """Drafts of the shipped templates on ``channel`` for each name and
        language it has no template of yet; answers them."""
        existing = {
            (template.name, template.language)
            for template in self.with_context(active_test=False).search(
                [("channel_id", "=", channel.id)]
            )
        }
        return self.create(
            [
                {
                    "channel_id": channel.id,
                    "name": item["name"],
                    "language": item["language"],
                    "category": item["category"],
                    "status": "DRAFT",
                    "body": item["body"],
                    "variable_names": ",".join(item["variables"]),
                    "button_ids": [
                        Command.create(
                            {
                                "sequence": index,
                                "button_type": button["type"],
                                "text": button["text"],
                                "url": button.get("url"),
                            }
                        )
                        for index, button in enumerate(item["buttons"])
                    ],
                }
                for item in shipped_templates(channel.get_base_url())
                if (item["name"], item["language"]) not in existing
            ]
        )

    def _example_values(self):
        """A sample of each value, in the template's language, for Meta's
        reviewers."""
        self.ensure_one()
        env = self.with_context(lang=self._odoo_lang() or "en_US").env
        currency = self.company_id.currency_id or self.env.ref("base.USD")
        return {
            "name": "Maria Silva",
            "amount": formatLang(env, 1234.5, currency_obj=currency),
            "due_date": format_date(env, date(2026, 3, 15)),
            "days_overdue": "7",
            "invoices": "INV/2026/00042",
            "company": self.company_id.name or "Friendly Dunning",
        }

    def _odoo_lang(self):
        """The installed Odoo language closest to the template's, or False."""
        self.ensure_one()
        codes = [code for code, _name in self.env["res.lang"].get_installed()]
        base = (self.language or "").split("_")[0]
        for code in codes:
            if code == self.language or code.split("_")[0] == base:
                return code
        return False

    def _authoring_dict(self):
        self.ensure_one()
        return {
            "name": self.name,
            "language": self.language,
            "category": (self.category or "").upper(),
            "body": self.body or "",
            "variables": self._value_names()
            or list(VARIABLES[: self.body_variable_count]),
            "buttons": [button._as_dict() for button in self.button_ids],
            "header_format": self.header_format,
        }

    def _authoring_problems(self):
        """What Meta would refuse in this template, in words."""
        self.ensure_one()
        examples = self._example_values()
        messages = []
        for code, details in authoring.template_problems(
            self._authoring_dict(), examples
        ):
            messages.append(self._problem_message(code, details))
        return messages

    def _problem_message(self, code, details):
        if code == authoring.NAME:
            return self.env._(
                "The name “%(name)s” may only hold lower case letters (a-z), digits "
                "and underscores, up to %(max)s characters.",
                name=details,
                max=authoring.MAX_NAME,
            )
        if code == authoring.LANGUAGE:
            return self.env._(
                "The language “%(language)s” is not one of Meta's codes, such as "
                "en, es, es_MX or pt_BR.",
                language=details or "",
            )
        if code == authoring.CATEGORY:
            return self.env._(
                "The category must be UTILITY (reminders), MARKETING or AUTHENTICATION."
            )
        if code == authoring.BODY_EMPTY:
            return self.env._("The message is empty.")
        if code == authoring.BODY_LENGTH:
            return self.env._(
                "The message has %(length)s characters; Meta accepts %(max)s at most.",
                length=details,
                max=authoring.MAX_BODY,
            )
        if code == authoring.VARIABLE_FORMAT:
            return self.env._(
                "Write variables as numbers in double braces ({{1}}, {{2}} ...), "
                "not %(names)s.",
                names=", ".join("{{" + name + "}}" for name in details),
            )
        if code == authoring.VARIABLE_ORDER:
            return self.env._(
                "Number the variables 1, 2, 3 ... in the order they appear, with no "
                "gap (found %(numbers)s).",
                numbers=", ".join(str(number) for number in details),
            )
        if code == authoring.VARIABLE_EDGE:
            return self.env._("The message may neither start nor end with a variable.")
        if code == authoring.VARIABLE_VALUE:
            return self.env._(
                "The message has %(variables)s variables but Values names "
                "%(values)s: name one value per variable, among %(available)s.",
                variables=details[0],
                values=details[1],
                available=", ".join(VARIABLES),
            )
        if code == authoring.VARIABLE_EXAMPLE:
            return self.env._(
                "Variables %(numbers)s receive no value we know, so Meta would get "
                "no example for them. Use values among %(available)s.",
                numbers=", ".join("{{" + str(number) + "}}" for number in details),
                available=", ".join(VARIABLES),
            )
        if code == authoring.BUTTON_COUNT:
            return self.env._(
                "%(count)s buttons: Meta accepts %(max)s at most.",
                count=details,
                max=authoring.MAX_BUTTONS,
            )
        if code == authoring.QUICK_REPLY_COUNT:
            return self.env._(
                "%(count)s quick replies: at most %(max)s.",
                count=details,
                max=authoring.MAX_QUICK_REPLIES,
            )
        if code == authoring.BUTTON_TEXT:
            return self.env._(
                "The button “%(text)s” needs a title of 1 to %(max)s characters.",
                text=details,
                max=authoring.MAX_BUTTON_TEXT,
            )
        if code == authoring.BUTTON_URL:
            return self.env._(
                "The link “%(url)s” must be a full web address (https://...) that "
                "may end with {{1}}, the customer's page.",
                url=details,
            )
        return self.env._(
            "Document headers need a sample file uploaded to Meta: add them in "
            "Meta's WhatsApp Manager, then sync the templates."
        )

    def action_submit(self):
        """Submit this draft to Meta for review. A second click while the
        first is running, or after it, submits nothing more."""
        self.ensure_one()
        self.check_access("write")
        if not self.try_lock_for_update():
            raise UserError(
                self.env._(
                    "The template “%(name)s” is being submitted.", name=self.name
                )
            )
        self.invalidate_recordset()
        if self.state != "draft":
            return self.channel_id._notification(
                "info",
                self.env._(
                    "The template “%(name)s” was already submitted to Meta.",
                    name=self.name,
                ),
            )
        problems = self._authoring_problems()
        if problems:
            raise UserError(
                self.env._(
                    "The template “%(name)s” (%(language)s) cannot be submitted:\n"
                    "%(problems)s",
                    name=self.name,
                    language=self.language,
                    problems="\n".join("- " + problem for problem in problems),
                )
            )
        channel = self.channel_id.sudo()
        if not channel.wa_business_account_id:
            raise UserError(
                self.env._(
                    "Enter the WhatsApp Business Account ID of the channel to "
                    "submit templates."
                )
            )
        request = authoring.template_request(
            self._authoring_dict(),
            self._example_values(),
            "1-1-1999999999-" + "0" * 64,
        )
        try:
            client = channel._whatsapp_client()
            if self.meta_id:
                client.edit_template(self.meta_id, request)
                answer = {"id": self.meta_id, "category": request["category"]}
            else:
                answer = client.create_template(request)
        except WhatsAppError as error:
            return self._submit_failure(channel, error)
        self.sudo().write(
            {
                "meta_id": answer["id"],
                "status": "PENDING",
                "status_reason": False,
                "status_date": fields.Datetime.now(),
                "category": answer.get("category") or request["category"],
            }
        )
        return channel._notification(
            "success",
            self.env._(
                "The template “%(name)s” (%(language)s) is in Meta's review. Its "
                "outcome shows here as soon as Meta sends it.",
                name=self.name,
                language=self.language,
            ),
        )

    def _submit_failure(self, channel, error):
        """A refused or failed submission, in words; the template stays a
        draft."""
        if error.kind == AUTH:
            channel._whatsapp_token_expired(error)
            message = channel._whatsapp_error_message(error)
        elif error.outcome_unknown:
            message = self.env._(
                "WhatsApp did not answer in time: Meta may have received the "
                "template “%(name)s”. Sync the templates before submitting it again.",
                name=self.name,
            )
        elif error.kind in ("server", "rate_limited"):
            message = self.env._(
                "WhatsApp is not available right now; the template “%(name)s” stays "
                "a draft. Try again later.",
                name=self.name,
            )
        else:
            message = self.env._(
                "Meta refused the template “%(name)s”: %(reason)s (WhatsApp error "
                "%(code)s)",
                name=self.name,
                reason=error.message,
                code=error.code or "-",
            )
        return channel._notification("danger", message)

    def action_back_to_draft(self):
        """Edit a rejected or paused template to submit it again."""
        for template in self:
            if template.state not in ("rejected", "paused", "draft"):
                raise UserError(
                    self.env._(
                        "Only a rejected or paused template can be edited again."
                    )
                )
        self.write(
            {
                "status": "DRAFT",
                # News about the version sent before is older than this.
                "status_date": fields.Datetime.now(),
            }
        )

    # ------------------------------------------------------------------
    # Meta's review, by webhook
    # ------------------------------------------------------------------

    @api.model
    def _apply_review_events(self, channels, events):
        """Apply the ``templates`` events of a webhook (see
        ``parse_webhook``) to the templates of ``channels``: each change at
        most once, and never one older than what is known (a late or
        repeated event changes nothing). Events for templates we do not know
        are ignored. Answers the templates changed."""
        by_id = {}
        for event in events:
            by_id.setdefault(event["template_id"], []).append(event)
        if not by_id or not channels:
            return self.browse()
        templates = self.with_context(active_test=False).search(
            Domain("channel_id", "in", channels.ids)
            & Domain("meta_id", "in", list(by_id))
        )
        unknown = set(by_id) - set(templates.mapped("meta_id"))
        if unknown:
            _logger.info(
                "WhatsApp template events for %s unknown templates ignored",
                len(unknown),
            )
        if not templates:
            return self.browse()
        # Two deliveries at once wait for each other here.
        self.env.execute_query(
            SQL(
                "SELECT id FROM dunning_whatsapp_template WHERE id IN %s "
                "FOR NO KEY UPDATE",
                tuple(templates.ids),
            )
        )
        templates.invalidate_recordset()
        changed = self.browse()
        for template in templates:
            for event in sorted(
                by_id[template.meta_id], key=lambda e: e["timestamp"] or 0
            ):
                if template._apply_review_event(event):
                    changed |= template
        for channel, channel_templates in changed.grouped("channel_id").items():
            channel.wa_template_last_event = "; ".join(
                template._review_summary() for template in channel_templates
            )[:500]
        return changed

    def _apply_review_event(self, event):
        """Apply one event; answers whether anything changed."""
        self.ensure_one()
        when = _event_time(event["timestamp"])
        if event["kind"] == "category":
            if self.category_date and when < self.category_date:
                return False
            values = {
                "category": event["new_category"],
                "upcoming_category": event["upcoming_category"],
            }
            if all((self[key] or None) == value for key, value in values.items()):
                return False
            self.write(values | {"category_date": when})
            return True
        status = event["event"]
        if status not in REVIEW_EVENTS:
            return False
        if self.status_date and when < self.status_date:
            return False
        reason = event.get("reason")
        reason = None if (reason or "").upper() in ("", "NONE") else reason
        if event.get("details"):
            reason = f"{reason}: {event['details']}" if reason else event["details"]
        if self.status == status and (self.status_reason or None) == reason:
            return False
        self.write({"status": status, "status_reason": reason, "status_date": when})
        return True

    def _review_summary(self):
        self.ensure_one()
        return self.env._(
            "%(date)s %(name)s (%(language)s): %(state)s%(why)s",
            date=fields.Datetime.to_string(self.status_date or fields.Datetime.now()),
            name=self.name,
            language=self.language,
            state=dict(self._fields["state"]._description_selection(self.env)).get(
                self.state, self.status
            ),
            why=f" – {self.unusable_reason}" if self.unusable_reason else "",
        )


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
