"""Writing a WhatsApp template here and submitting it to Meta: the shipped
drafts, the examples Meta's reviewers see, what Meta would refuse (in
words, before anything is sent) and the submission itself."""

from datetime import date

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tools import format_date, formatLang

from ..tools import whatsapp_template_authoring as authoring
from ..tools.whatsapp_client import AUTH, WhatsAppError
from ..tools.whatsapp_shipped_templates import shipped_templates
from .dunning_whatsapp_template import VARIABLES


class DunningWhatsAppTemplate(models.Model):
    _inherit = "dunning.whatsapp.template"

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
