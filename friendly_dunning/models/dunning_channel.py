import threading
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, frozendict, ormcache

from ..tools.rate_limiter import WindowRateLimiter
from ..tools.whatsapp_client import WhatsAppCloudClient, WhatsAppError
from ..tools.whatsapp_pricing import CHARGED, NO_RATE

# One token bucket per channel and rate in this process. A channel sends from
# one worker at a time (see ``_whatsapp_sender_lock``), so the bucket holds
# the rate for the whole server.
_RATE_LIMITERS = {}
_RATE_LIMITERS_LOCK = threading.Lock()
# First key of our PostgreSQL advisory locks (the second is the channel id).
_ADVISORY_LOCK_CLASS = 424201


def _digits(number):
    """A phone number as its digits alone, to compare numbers however they
    were typed."""
    return "".join(char for char in number or "" if char.isdigit())


class DunningChannel(models.Model):
    """How a company reaches its customers: one record per configured channel.

    The sandbox channel renders and records messages without sending anything
    anywhere; it is active on install so that a trial database can run the whole
    collections flow safely. Provider channels (WhatsApp, SMS) extend the
    selection in their own modules of this addon.
    """

    _name = "dunning.channel"
    _description = "Collections Channel"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    channel_type = fields.Selection(
        [
            ("sandbox", "Sandbox (nothing leaves the server)"),
            ("email", "E-mail"),
            ("whatsapp", "WhatsApp Business (Meta Cloud API)"),
            ("sms", "SMS (the company's Odoo SMS provider)"),
        ],
        required=True,
        default="sandbox",
        help="Sandbox renders and records every message without sending it: use it "
        "for demos and trials. E-mail sends through the company's mail servers, "
        "SMS through the SMS provider set in Odoo's settings (IAP or Twilio).",
    )
    note = fields.Text(help="Internal notes about this channel's set-up.")

    # WhatsApp Business (Meta Cloud API)
    wa_phone_number_id = fields.Char(
        string="Phone number ID", help="From Meta's WhatsApp Manager, API Setup."
    )
    wa_business_account_id = fields.Char(string="WhatsApp Business Account ID")
    wa_access_token = fields.Char(
        string="Access token", groups="friendly_dunning.group_dunning_manager"
    )
    wa_app_secret = fields.Char(
        string="App secret",
        groups="friendly_dunning.group_dunning_manager",
        help="Signs the webhooks Meta sends us; a request it does not sign is refused.",
    )
    wa_verify_token = fields.Char(
        string="Webhook verify token",
        groups="friendly_dunning.group_dunning_manager",
        help="Any secret string; enter the same in Meta's webhook configuration.",
    )
    wa_api_version = fields.Char(string="API version", default="v21.0")
    wa_api_base_url = fields.Char(
        string="API base URL",
        default="https://graph.facebook.com",
        help="Meta's Graph API. Change it only to point at a staging or local server.",
    )
    wa_webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_wa_webhook_url"
    )
    wa_rate_limit = fields.Integer(
        string="Messages per second",
        default=80,
        help="Never sent faster than this: Meta allows 80 messages a second per "
        "business number by default.",
    )
    wa_unknown_timeout = fields.Integer(
        string="Unconfirmed after (minutes)",
        default=60,
        help="A message whose sending was interrupted waits this long for "
        "WhatsApp's status update; with none, it is sent once more with the same "
        "id, and if still unconfirmed after another wait it is marked as failed "
        "for you to check.",
    )
    wa_token_state = fields.Selection(
        [("ok", "Valid"), ("expired", "Expired or invalid")],
        string="Token status",
        default="ok",
        readonly=True,
        help="Set to expired when WhatsApp refuses the token; until it is renewed, "
        "reminders go through the next channel of each step.",
    )
    wa_last_error = fields.Char(string="Last error", readonly=True)
    # SMS replies through Twilio
    sms_twilio_auth_token = fields.Char(
        string="Twilio auth token",
        groups="friendly_dunning.group_dunning_manager",
        help="Checks that replies posted to /friendly_dunning/webhook/twilio come "
        "from Twilio. Leave empty when the company sends SMS with Odoo's Twilio "
        "provider: its auth token is used.",
    )
    sms_number = fields.Char(
        string="Twilio number",
        help="The number customers reply to, as in Twilio (e.g. +15550100199). "
        "Replies reach this channel's company only when sent to this number.",
    )
    wa_template_ids = fields.One2many(
        "dunning.whatsapp.template", "channel_id", string="WhatsApp templates"
    )
    wa_template_count = fields.Integer(compute="_compute_wa_template_count")
    wa_template_problems = fields.Text(
        string="Templates not sent",
        compute="_compute_wa_template_problems",
        help="Templates Meta rejected, paused, disabled or counts as marketing: "
        "the steps that use them go through their next channel.",
    )
    wa_template_last_event = fields.Char(string="Last template review", readonly=True)
    company_currency_id = fields.Many2one(related="company_id.currency_id")
    wa_month_cost = fields.Monetary(
        string="WhatsApp cost this month",
        compute="_compute_wa_month_cost",
        currency_field="company_currency_id",
        help="What WhatsApp charges for the messages it delivered this month, "
        "priced with the rate card.",
    )
    wa_month_charged_count = fields.Integer(
        string="Charged this month", compute="_compute_wa_month_cost"
    )
    wa_month_free_count = fields.Integer(
        string="Free this month", compute="_compute_wa_month_cost"
    )

    _wa_phone_number_uniq = models.Constraint(
        "UNIQUE(wa_phone_number_id)",
        "This WhatsApp phone number is already configured on another channel.",
    )

    _sms_number_uniq = models.Constraint(
        "UNIQUE(sms_number)",
        "This Twilio number is already configured on another channel.",
    )

    def _compute_wa_webhook_url(self):
        for channel in self:
            channel.wa_webhook_url = (
                channel.get_base_url() + "/friendly_dunning/webhook/whatsapp"
            )

    def _compute_wa_template_count(self):
        counts = dict(
            self.env["dunning.whatsapp.template"]._read_group(
                [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]
            )
        )
        for channel in self:
            channel.wa_template_count = counts.get(channel, 0)

    def _compute_wa_template_problems(self):
        templates = self.env["dunning.whatsapp.template"].search(
            [
                ("channel_id", "in", self.ids),
                "|",
                ("state", "in", ("rejected", "paused", "disabled")),
                "&",
                ("state", "=", "approved"),
                ("category", "=ilike", "MARKETING"),
            ]
        )
        for channel in self:
            channel.wa_template_problems = (
                "\n".join(
                    f"{template.name} ({template.language}): {template._why_unusable()}"
                    for template in templates
                    if template.channel_id == channel
                )
                or False
            )

    def _month_start(self):
        return datetime.combine(
            fields.Date.context_today(self).replace(day=1), datetime.min.time()
        )

    def _compute_wa_month_cost(self):
        totals = {channel: [0.0, 0, 0] for channel in self}
        for channel, charge, cost, count in self.env[
            "dunning.communication"
        ]._read_group(
            [
                ("channel_id", "in", self.ids),
                ("delivered_date", ">=", self._month_start()),
                ("charge", "!=", False),
            ],
            ["channel_id", "charge"],
            ["cost:sum", "__count"],
        ):
            total = totals[channel]
            total[0] += cost
            total[1 if charge in (CHARGED, NO_RATE) else 2] += count
        for channel in self:
            (
                channel.wa_month_cost,
                channel.wa_month_charged_count,
                channel.wa_month_free_count,
            ) = totals[channel]

    def action_view_wa_month_messages(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("WhatsApp messages delivered this month"),
            "res_model": "dunning.communication",
            "view_mode": "list,form",
            "domain": [
                ("channel_id", "=", self.id),
                ("delivered_date", ">=", self._month_start()),
            ],
        }

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # _whatsapp_receivers
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("wa_access_token"):
            vals = vals | {"wa_token_state": "ok", "wa_last_error": False}
        if {
            "wa_app_secret",
            "wa_phone_number_id",
            "wa_business_account_id",
            "channel_type",
            "active",
            "company_id",
        } & set(vals):
            self.env.registry.clear_cache()  # _whatsapp_receivers
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()  # _whatsapp_receivers
        return super().unlink()

    @api.model
    def _twilio_receivers(self, number):
        """``[(company, channel, auth token), ...]`` that own our Twilio
        ``number`` (the ``To`` of an inbound SMS): the SMS channels set up
        with that number, else the companies whose Odoo Twilio provider lists
        it (read defensively: sms_twilio is not a dependency). ``channel`` is
        empty for the latter; the token is the channel's own or its
        company's."""
        digits = _digits(number)
        if not digits:
            return []
        Company = self.env["res.company"].sudo()
        company_token = (
            (lambda company: company.sms_twilio_auth_token)
            if "sms_twilio_auth_token" in Company._fields
            else (lambda company: False)
        )
        channels = (
            self.sudo()
            .with_context(active_test=True)
            .search([("channel_type", "=", "sms"), ("sms_number", "!=", False)])
            .filtered(lambda channel: _digits(channel.sms_number) == digits)
        )
        receivers = [
            (
                channel.company_id,
                channel,
                channel.sms_twilio_auth_token or company_token(channel.company_id),
            )
            for channel in channels
        ]
        if not receivers and "sms_twilio_number_ids" in Company._fields:
            numbers = (
                self.env["sms.twilio.number"]
                .sudo()
                .search([("number", "!=", False)])
                .filtered(lambda line: _digits(line.number) == digits)
            )
            receivers = [
                (company, self.browse(), company_token(company))
                for company in numbers.company_id
            ]
        return [receiver for receiver in receivers if receiver[2]]

    @api.model
    @ormcache()
    def _whatsapp_receivers(self):
        """Who receives WhatsApp webhooks, kept in memory (one read after a
        channel changes): ``{"numbers": {phone number id: receiver},
        "accounts": {business account id: (receiver, ...)}}``, a receiver
        being ``(channel id, app secret, company id)`` of an active WhatsApp
        channel. A message or a status is checked against the secret of the
        number it is for, and of no other; a template review names the
        business account, which several numbers (channels) may share."""
        channels = (
            self.sudo()
            .with_context(active_test=True)
            .search(
                [
                    ("channel_type", "=", "whatsapp"),
                    ("wa_app_secret", "!=", False),
                    "|",
                    ("wa_phone_number_id", "!=", False),
                    ("wa_business_account_id", "!=", False),
                ]
            )
        )
        numbers, accounts = {}, {}
        for channel in channels:
            receiver = (channel.id, channel.wa_app_secret, channel.company_id.id)
            if channel.wa_phone_number_id:
                numbers[channel.wa_phone_number_id] = receiver
            if channel.wa_business_account_id:
                accounts.setdefault(channel.wa_business_account_id, []).append(receiver)
        return frozendict(
            numbers=frozendict(numbers),
            accounts=frozendict(
                {account: tuple(found) for account, found in accounts.items()}
            ),
        )

    def _whatsapp_rate_limiter(self):
        self.ensure_one()
        rate = max(self.wa_rate_limit or 80, 1)
        with _RATE_LIMITERS_LOCK:
            key = (self.env.cr.dbname, self.id, rate)
            if key not in _RATE_LIMITERS:
                _RATE_LIMITERS[key] = WindowRateLimiter(rate)
            return _RATE_LIMITERS[key]

    def _whatsapp_sender_lock(self):
        """Whether this transaction's connection now holds the right to send
        through this channel (a PostgreSQL session lock, released by
        ``_whatsapp_sender_unlock`` or when the connection ends). Two workers
        never send through the same number at once, so the rate limiter of
        the one sending is the rate of the number."""
        self.ensure_one()
        [[locked]] = self.env.execute_query(
            SQL("SELECT pg_try_advisory_lock(%s, %s)", _ADVISORY_LOCK_CLASS, self.id)
        )
        return locked

    def _whatsapp_sender_unlock(self):
        self.ensure_one()
        self.env.execute_query(
            SQL("SELECT pg_advisory_unlock(%s, %s)", _ADVISORY_LOCK_CLASS, self.id)
        )

    def _whatsapp_token_expired(self, error):
        """Show on the channel that WhatsApp refused its token."""
        self.sudo().write(
            {
                "wa_token_state": "expired",
                "wa_last_error": self._whatsapp_error_message(error),
            }
        )

    def action_sync_templates(self):
        """Fetch the business account's message templates from Meta."""
        self.ensure_one()
        if not self.sudo().wa_business_account_id:
            raise UserError(
                self.env._(
                    "Enter the WhatsApp Business Account ID to sync its templates."
                )
            )
        try:
            templates = self._whatsapp_client().list_templates()
        except WhatsAppError as error:
            # A notification rather than an error, so that an expired token
            # stays recorded on the channel.
            return self._whatsapp_failure_notification(error)
        count = self.env["dunning.whatsapp.template"].sudo()._sync(self, templates)
        return self._notification(
            "success",
            self.env._("%(count)s WhatsApp templates synced.", count=count),
        )

    def action_create_shipped_templates(self):
        """Drafts of the shipped reminder templates (English, Spanish,
        Brazilian Portuguese), to adapt and submit to Meta."""
        self.ensure_one()
        Template = self.env["dunning.whatsapp.template"]
        Template.check_access("create")
        created = Template._create_shipped(self)
        return self._notification(
            "success",
            self.env._(
                "%(count)s template drafts created: review them, then submit them "
                "to Meta.",
                count=len(created),
            ),
        )

    def _whatsapp_failure_notification(self, error):
        if error.kind == "auth":
            self._whatsapp_token_expired(error)
        return self._notification("danger", self._whatsapp_error_message(error))

    def _notification(self, kind, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "message": message,
                "sticky": kind == "danger",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_view_wa_templates(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("WhatsApp templates"),
            "res_model": "dunning.whatsapp.template",
            "view_mode": "list,form",
            "domain": [("channel_id", "=", self.id)],
            "context": {"default_channel_id": self.id},
        }

    def _whatsapp_client(self, pool_size=10):
        self.ensure_one()
        channel = self.sudo()
        missing = [
            channel._fields[name].get_description(self.env)["string"]
            for name in ("wa_phone_number_id", "wa_access_token")
            if not channel[name]
        ]
        if missing:
            raise UserError(
                self.env._(
                    "The WhatsApp channel “%(channel)s” misses: %(fields)s.",
                    channel=channel.name,
                    fields=", ".join(missing),
                )
            )
        return WhatsAppCloudClient(
            channel.wa_phone_number_id,
            channel.wa_access_token,
            api_version=channel.wa_api_version or "v21.0",
            base_url=channel.wa_api_base_url or "https://graph.facebook.com",
            waba_id=channel.wa_business_account_id or None,
            pool_size=pool_size,
        )

    def _whatsapp_error_message(self, error):
        """A provider error in words an accountant understands."""
        messages = {
            "outside_window": self.env._(
                "The customer has not written to us in the last 24 hours, so only "
                "an approved template can be sent."
            ),
            "rate_limited": self.env._(
                "WhatsApp asked us to slow down; the message will be retried."
            ),
            "undeliverable": self.env._(
                "WhatsApp could not deliver the message to this number."
            ),
            "template": self.env._(
                "The WhatsApp template is missing, paused or its parameters do not "
                "match."
            ),
            "auth": self.env._(
                "The WhatsApp access token has expired or is not valid: renew it "
                "in the channel settings."
            ),
            "server": self.env._(
                "WhatsApp did not answer in time or had an error; the message will "
                "be retried."
            ),
            "invalid_request": self.env._("WhatsApp refused the request."),
        }
        return self.env._(
            "%(explanation)s (WhatsApp error %(code)s)",
            explanation=messages.get(error.kind, messages["invalid_request"]),
            code=error.code or "-",
        )

    def action_test_connection(self):
        self.ensure_one()
        try:
            info = self._whatsapp_client().test_connection()
        except WhatsAppError as error:
            return self._whatsapp_failure_notification(error)
        self.sudo().write({"wa_token_state": "ok", "wa_last_error": False})
        return self._notification(
            "success",
            self.env._(
                "Connected to WhatsApp as %(name)s (%(number)s).",
                name=info.get("verified_name") or "-",
                number=info.get("display_phone_number") or "-",
            ),
        )

    _name_company_uniq = models.Constraint(
        "UNIQUE(company_id, channel_type, name)",
        "A company cannot have two channels of the same type with the same name.",
    )

    @api.model
    def _dunning_default_channel_values(self, company):
        """Values of the channels every company starts with."""
        return [
            {
                "name": self.env._("Sandbox"),
                "channel_type": "sandbox",
                "sequence": 1,
                "company_id": company.id,
            },
            {
                "name": self.env._("E-mail"),
                "channel_type": "email",
                "sequence": 30,
                "company_id": company.id,
            },
        ]
