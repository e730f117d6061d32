from markupsafe import Markup

from odoo import fields, models
from odoo.tools import html_escape


class DunningCommunication(models.Model):
    """Sending by e-mail: the step's template rendered in the customer's
    language, with the invoices (and the statement) attached."""

    _inherit = "dunning.communication"

    def _send_email(self):
        now = fields.Datetime.now()
        rendered = self._email_rendered()
        mails = (
            self.env["mail.mail"]
            .sudo()
            .create(
                [
                    {
                        "email_to": message.recipient,
                        "subject": rendered[message.id][0]
                        or message.subject
                        or self.env._(
                            "Your invoices with %(company)s",
                            company=message.company_id.name,
                        ),
                        "body_html": rendered[message.id][1],
                        "model": "res.partner",
                        "res_id": message.partner_id.id,
                        "email_from": message.company_id.email_formatted
                        or self.env.user.email_formatted,
                        "auto_delete": False,
                        "attachment_ids": [
                            fields.Command.set(message._email_attachments().ids)
                        ],
                    }
                    for message in self
                ]
            )
        )
        for message, mail in zip(self, mails):
            message.write({"state": "sent", "sent_date": now, "mail_id": mail.id})

    def _email_rendered(self):
        """``{id: (subject, body)}`` from each step's e-mail template (else
        the standard one), rendered in each customer's language, one
        rendering per template."""
        default = self.env.ref(
            "friendly_dunning.mail_template_dunning_reminder", raise_if_not_found=False
        )
        rendered = {}
        templates = {}
        for message in self:
            template = message.step_id.mail_template_id or default
            templates.setdefault(template, self.browse())
            templates[template] |= message
        for template, messages in templates.items():
            if not template:
                rendered |= {m.id: (None, m._email_body()) for m in messages}
                continue
            template = template.sudo()
            subjects = template._render_field(
                "subject", messages.ids, compute_lang=True
            )
            bodies = template._render_field(
                "body_html",
                messages.ids,
                compute_lang=True,
                options={"post_process": True},
            )
            rendered |= {m.id: (subjects[m.id], bodies[m.id]) for m in messages}
        return rendered

    def _email_attachments(self):
        """The PDFs of the invoices this e-mail is about, and for a reminder
        the customer's statement when the company attaches it."""
        self.ensure_one()
        documents = [
            move._get_invoice_legal_documents("pdf", allow_fallback=True)
            for move in self.move_ids
        ]
        if self.kind == "reminder" and self.company_id.dunning_attach_statement:
            partner = self.partner_id.commercial_partner_id.with_company(
                self.company_id
            ).with_context(lang=self.partner_id.lang)
            documents.append(
                {
                    "filename": self.env._(
                        "Statement - %(name)s.pdf", name=partner.name
                    ),
                    "content": partner._dunning_statement_pdf(),
                }
            )
        return (
            self.env["ir.attachment"]
            .sudo()
            .create(
                [
                    {
                        "name": document["filename"],
                        "raw": document["content"],
                        "mimetype": "application/pdf",
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                    for document in documents
                    if document and document.get("content")
                ]
            )
        )

    def _email_body(self):
        self.ensure_one()
        return Markup("<div>%s</div>") % Markup("<br/>").join(
            html_escape(line) for line in (self.body or "").split("\n")
        )
