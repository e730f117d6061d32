from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools.whatsapp_cloud import WhatsAppCloudClient, WhatsAppError


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

    _wa_phone_number_uniq = models.Constraint(
        "UNIQUE(wa_phone_number_id)",
        "This WhatsApp phone number is already configured on another channel.",
    )

    def _compute_wa_webhook_url(self):
        for channel in self:
            channel.wa_webhook_url = (
                channel.get_base_url() + "/friendly_dunning/webhook/whatsapp"
            )

    def _whatsapp_client(self):
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
            raise UserError(self._whatsapp_error_message(error)) from error
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Connected to WhatsApp as %(name)s (%(number)s).",
                    name=info.get("verified_name") or "-",
                    number=info.get("display_phone_number") or "-",
                ),
            },
        }

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
