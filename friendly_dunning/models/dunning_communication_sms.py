from odoo import fields, models


class DunningCommunication(models.Model):
    """Sending by SMS, through Odoo's SMS queue and the company's provider."""

    _inherit = "dunning.communication"

    def _send_sms(self):
        now = fields.Datetime.now()
        sms_records = (
            self.env["sms.sms"]
            .sudo()
            .create(
                [
                    {
                        "number": message.recipient,
                        "partner_id": message.partner_id.id,
                        "body": message._sms_body(),
                    }
                    for message in self
                ]
            )
        )
        for message, sms in zip(self, sms_records):
            message.write({"state": "sent", "sent_date": now, "sms_id": sms.id})
        # Odoo's SMS queue sends them through the company's provider.
        self.env.ref("sms.ir_cron_sms_scheduler_action")._trigger()

    def _sms_body(self):
        """The text, with the opt-out line every SMS carries."""
        self.ensure_one()
        lang = self.partner_id.lang or "en_US"
        stop = self.with_context(lang=lang).env._("Reply STOP to opt out.")
        return f"{self.body or ''}\n{stop}"
