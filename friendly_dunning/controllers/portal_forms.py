"""The forms of the customer's collections page (controllers/portal.py):
one POST handler per action, each checked the same way (who is asking, rate
limit, the invoices on the page only, uploads by their content) and logged in
``dunning.portal.log``. What an action does lives on the models.
"""

from markupsafe import Markup

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.http import request
from odoo.tools import format_date, formatLang

from ..models.dunning_step import CHANNELS
from ..models.res_partner import BEST_TIMES
from .portal import ROUTE, DunningPortal

# Proofs and dispute documents: what a customer may upload.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class _Refusal(Exception):
    """A customer-facing refusal of a form: its message and HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


class DunningPortalForms(DunningPortal):
    def _dunning_act(self, token, action, handler, post):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        Log = request.env["dunning.portal.log"].sudo()
        request.update_context(lang=partner.lang or request.env.lang)
        env = request.env
        if Log._dunning_rate_limited(partner):
            return self._dunning_render(
                partner,
                company,
                base,
                token=token,
                status=429,
                error=env._(
                    "You have done a lot on this page in the last few minutes. "
                    "Please wait ten minutes and try again, or just reply to our "
                    "message."
                ),
            )
        moves = self._dunning_open_moves(partner, company, token)
        log_values = {
            "partner_id": partner.id,
            "company_id": company.id,
            "action": action,
        }
        try:
            with request.env.cr.savepoint():
                result = handler(
                    env, partner.with_env(env(su=True)), company, moves, post
                )
        except (_Refusal, UserError, ValidationError) as error:
            Log.create(log_values | {"refused": True})
            return self._dunning_render(
                partner,
                company,
                base,
                token=token,
                status=getattr(error, "status", 400),
                error=getattr(error, "message", None) or str(error),
            )
        if isinstance(result, dict):  # a step before confirming
            return self._dunning_render(partner, company, base, token=token, **result)
        touched, suffix = result
        Log.create(log_values | {"move_ids": [Command.set(touched.ids)]})
        return request.redirect(
            f"{base}{suffix}" if suffix else f"{base}?done={action}", local=True
        )

    @staticmethod
    def _dunning_pick(env, moves, invoice_id, allow_all=True):
        """The invoices a form is about: one of ``moves`` or, with "all", the
        overdue ones (all open ones when nothing is overdue yet)."""
        if allow_all and invoice_id in (None, "", "all"):
            today = fields.Date.context_today(moves)
            return moves.filtered(lambda m: m.invoice_date_due < today) or moves
        try:
            picked = moves.filtered(lambda m: m.id == int(invoice_id))
        except (TypeError, ValueError):
            picked = moves.browse()
        if not picked:
            raise _Refusal(env._("This invoice is not on your page."), status=404)
        return picked

    @staticmethod
    def _dunning_date(env, value, label):
        try:
            return fields.Date.to_date(value or None)
        except ValueError:
            raise _Refusal(
                env._("Please enter a valid date for %(what)s.", what=label)
            ) from None

    @staticmethod
    def _dunning_upload(env, upload):
        """``(name, content, mimetype)`` of an uploaded proof, or ``None`` when
        none was sent; refuses anything that is not a PDF, PNG or JPEG by its
        content, or that is too large."""
        if upload is None or not getattr(upload, "filename", None):
            return None
        content = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise _Refusal(
                env._("The file is too large: please send at most 5 MB."), status=413
            )
        for signature, mimetype in UPLOAD_SIGNATURES:
            if content.startswith(signature):
                return upload.filename[:200], content, mimetype
        raise _Refusal(
            env._("Please send a PDF, PNG or JPEG file."),
            status=415,
        )

    def _dunning_invoice_names(self, moves):
        return ", ".join(moves.mapped("name"))

    # -- promise ------------------------------------------------------

    @http.route(
        ["/collections/<string:token>/promise", "/my/collections/promise"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_promise(self, token=None, **post):
        return self._dunning_act(token, "promise", self._dunning_do_promise, post)

    def _dunning_do_promise(self, env, partner, company, moves, post):
        if "dunning.promise" not in env:
            raise _Refusal(env._("Promises are not available yet."), status=404)
        picked = self._dunning_pick(env, moves, post.get("invoice_id"))
        promised = self._dunning_date(env, post.get("promised_date"), env._("the date"))
        if not promised:
            raise _Refusal(env._("Please tell us by which date you will pay."))
        amount = None
        if post.get("amount"):
            try:
                amount = float(post["amount"])
            except ValueError:
                raise _Refusal(env._("Please enter the amount as a number.")) from None
        env["dunning.promise"].sudo().with_company(company)._dunning_promise(
            partner, picked, promised, amount=amount, source="portal"
        )
        return picked, None

    # -- payment plan -------------------------------------------------

    @http.route(
        ["/collections/<string:token>/plan", "/my/collections/plan"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_plan(self, token=None, **post):
        return self._dunning_act(token, "plan", self._dunning_do_plan, post)

    def _dunning_do_plan(self, env, partner, company, moves, post):
        if "dunning.payment.plan" not in env:
            raise _Refusal(env._("Payment plans are not available yet."), status=404)
        Plan = env["dunning.payment.plan"].sudo().with_company(company)
        picked = moves.filtered(lambda m: m.dunning_pause_reason != "dispute")
        if not picked:
            raise _Refusal(env._("There is nothing to spread over a plan."))
        try:
            installments = int(post.get("installments") or 0)
        except ValueError:
            installments = 0
        if installments < 1:
            raise _Refusal(env._("Please choose the number of instalments."))
        first_date = self._dunning_date(
            env, post.get("first_date"), env._("the first payment")
        )
        if not first_date:
            raise _Refusal(env._("Please choose the date of the first payment."))
        if not post.get("confirm"):
            schedule = Plan._dunning_schedule(partner, picked, installments, first_date)
            currency = company.currency_id
            return {
                "preview": {
                    "installments": installments,
                    "first_date": fields.Date.to_string(first_date),
                    "lines": [
                        (
                            format_date(env, line["date_due"]),
                            formatLang(env, line["amount"], currency_obj=currency),
                        )
                        for line in schedule
                    ],
                }
            }
        Plan._dunning_propose(
            partner, picked, installments, first_date, source="portal"
        )
        return picked, None

    # -- payment already made -------------------------------------------

    @http.route(
        ["/collections/<string:token>/paid", "/my/collections/paid"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_paid(self, token=None, **post):
        return self._dunning_act(token, "payment_reported", self._dunning_do_paid, post)

    def _dunning_do_paid(self, env, partner, company, moves, post):
        picked = self._dunning_pick(env, moves, post.get("invoice_id"))
        if not picked:
            raise _Refusal(env._("There is no open invoice to report a payment for."))
        paid_on = self._dunning_date(
            env, post.get("payment_date"), env._("the payment")
        )
        if paid_on and paid_on > fields.Date.context_today(partner):
            raise _Refusal(env._("The payment date cannot be in the future."))
        upload = self._dunning_upload(env, post.get("proof"))
        note = (post.get("note") or "").strip()[:500]
        body = Markup("%s<br/>%s") % (
            env._(
                "Reported on the collections page a payment of %(invoices)s "
                "made on %(date)s.",
                invoices=self._dunning_invoice_names(picked),
                date=format_date(env, paid_on) if paid_on else env._("an unknown date"),
            ),
            note or (env._("Proof attached.") if upload else ""),
        )
        partner.with_company(company)._dunning_report_payment(
            picked, note=body, proof=upload
        )
        return picked, None

    # -- dispute ------------------------------------------------------

    @http.route(
        ["/collections/<string:token>/dispute", "/my/collections/dispute"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_dispute(self, token=None, **post):
        return self._dunning_act(token, "dispute", self._dunning_do_dispute, post)

    def _dunning_do_dispute(self, env, partner, company, moves, post):
        picked = self._dunning_pick(env, moves, post.get("invoice_id"), allow_all=False)
        reason = (post.get("reason") or "").strip()[:2000]
        if len(reason) < 3:
            raise _Refusal(env._("Please tell us what is wrong with this invoice."))
        upload = self._dunning_upload(env, post.get("attachment"))
        body = Markup("%s<br/>%s") % (
            env._(
                "Disputed %(invoice)s on the collections page:",
                invoice=picked.name,
            ),
            reason,
        )
        partner.with_company(company)._dunning_open_dispute(
            picked, note=body, proof=upload
        )
        return picked, None

    # -- invoice not received -------------------------------------------

    @http.route(
        ["/collections/<string:token>/not-received", "/my/collections/not-received"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_not_received(self, token=None, **post):
        return self._dunning_act(
            token, "not_received", self._dunning_do_not_received, post
        )

    def _dunning_do_not_received(self, env, partner, company, moves, post):
        picked = self._dunning_pick(env, moves, post.get("invoice_id"), allow_all=False)
        partner._dunning_log_from_customer(
            picked,
            env._(
                "Said on the collections page that %(invoice)s never arrived, and "
                "downloaded it.",
                invoice=picked.name,
            ),
        )
        return picked, f"/invoice/{picked.id}/pdf"

    # -- contact preferences --------------------------------------------

    @http.route(
        ["/collections/<string:token>/preferences", "/my/collections/preferences"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_preferences(self, token=None, **post):
        return self._dunning_act(
            token, "preferences", self._dunning_do_preferences, post
        )

    def _dunning_do_preferences(self, env, partner, company, moves, post):
        whatsapp = post.get("whatsapp") or ""
        channel = post.get("preferred_channel") or ""
        best_time = post.get("best_time") or ""
        if (
            whatsapp not in ("", "opted_in", "opted_out")
            or channel not in ("", *dict(CHANNELS))
            or best_time not in ("", *BEST_TIMES)
        ):
            raise _Refusal(env._("Please choose among the options shown."))
        if whatsapp and whatsapp != partner.dunning_whatsapp_consent:
            env["dunning.consent"].sudo()._record(
                partner, "whatsapp", whatsapp, "portal", note=env._("Collections page")
            )
        values = {
            "dunning_preferred_channel": channel or False,
            "dunning_best_time": best_time or False,
        }
        if any(partner[name] != value for name, value in values.items()):
            partner.sudo().write(values)
            partner.sudo()._message_log(
                body=env._(
                    "Contact preferences set on the collections page: channel "
                    "%(channel)s, best time %(time)s.",
                    channel=dict(CHANNELS).get(channel, env._("any")),
                    time=best_time or env._("any"),
                ),
                author_id=partner.id,
            )
        return moves.browse(), None

    # -- rating -------------------------------------------------------

    @http.route(
        ["/collections/<string:token>/rate", "/my/collections/rate"],
        methods=["POST"],
        **ROUTE,
    )
    def dunning_rate(self, token=None, **post):
        return self._dunning_act(token, "rating", self._dunning_do_rate, post)

    def _dunning_do_rate(self, env, partner, company, moves, post):
        env["dunning.feedback"].sudo().with_company(company)._dunning_rate(
            partner, post.get("rating"), comment=post.get("comment") or ""
        )
        return moves.browse(), None
