"""The forms of the customer's collections page (controllers/portal.py):
one POST handler per action, each checked the same way (who is asking, body
size before any parsing, rate limit, the invoices on the page only, every
value checked, uploads by their content) and logged in
``dunning.portal.log``. What an action does lives on the models.
"""

import logging
import math

from markupsafe import Markup

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.http import request
from odoo.tools import format_date, formatLang

from ..models.dunning_dispute import REASONS as DISPUTE_REASONS
from ..models.dunning_step import CHANNELS
from ..models.res_partner import BEST_TIMES
from ..tools.uploads import MAX_UPLOAD_BYTES, TOO_LARGE, UploadRefused, check_upload
from .portal import BASE, MAX_FORM_BYTES, ROUTE, DunningPortal

_logger = logging.getLogger(__name__)

# The whole body of a form with one upload: the file, its multipart framing
# and the other fields. Larger bodies are refused (413) before being read.
MAX_UPLOAD_FORM_BYTES = MAX_UPLOAD_BYTES + MAX_FORM_BYTES
FORM_ROUTE = ROUTE | {"methods": ["POST"], "max_content_length": MAX_FORM_BYTES}
UPLOAD_ROUTE = FORM_ROUTE | {"max_content_length": MAX_UPLOAD_FORM_BYTES}
# Dates a customer can mean: payments of the last years, plans and promises
# of the next ones (the plan and promise rules narrow this further).
DATE_RANGE_DAYS = 5 * 366


class _Refusal(Exception):
    """A customer-facing refusal of a form: its message and HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


class DunningPortalForms(DunningPortal):
    def _dunning_act(self, action, handler, post):
        resolved = self._dunning_resolve(kind=None)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        Log = request.env["dunning.portal.log"].sudo()
        request.update_context(lang=partner.lang or request.env.lang)
        env = request.env
        if (
            not env["dunning.portal.rate"]
            .sudo()
            ._dunning_allow("form", partner, self._dunning_client_address())
        ):
            return self._dunning_render(
                partner,
                company,
                base,
                status=429,
                error=env._(
                    "You have done a lot on this page in the last few minutes. "
                    "Please wait ten minutes and try again, or just reply to our "
                    "message."
                ),
            )
        moves = self._dunning_open_moves(partner, company, self._dunning_via_link())
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
            refusal = error
        except (ValueError, TypeError, ArithmeticError) as error:
            # A value the checks above let through and the models could not
            # use: the customer's input, not a fault of the page.
            _logger.info("Collections page: %s refused a value: %s", action, error)
            refusal = _Refusal(env._("Please check what you entered and try again."))
        else:
            refusal = None
        if refusal is not None:
            Log.create(log_values | {"refused": True})
            return self._dunning_render(
                partner,
                company,
                base,
                status=getattr(refusal, "status", 400),
                error=getattr(refusal, "message", None) or str(refusal),
            )
        if isinstance(result, dict):  # a step before confirming
            return self._dunning_render(partner, company, base, **result)
        touched, suffix = result
        Log.create(log_values | {"move_ids": [Command.set(touched.ids)]})
        return request.redirect(
            f"{base}{suffix}" if suffix else f"{base}?done={action}", local=True
        )

    @staticmethod
    def _dunning_pick(env, moves, invoice_id, allow_all=True):
        """The invoices a form is about: one of ``moves`` or, with "all", the
        overdue ones, those with an instalment past its due date (all open
        ones when nothing is overdue yet)."""
        if allow_all and invoice_id in (None, "", "all"):
            today = fields.Date.context_today(moves)
            instalments = DunningPortal._dunning_instalments(moves)
            return (
                moves.filtered(
                    lambda m: any(
                        item["due"] < today for item in instalments.get(m, [])
                    )
                )
                or moves
            )
        if invoice_id in (None, ""):
            raise _Refusal(env._("Please choose an invoice."))
        try:
            wanted = int(invoice_id)
        except (TypeError, ValueError):
            raise _Refusal(env._("Please choose an invoice.")) from None
        picked = moves.filtered(lambda m: m.id == wanted)
        if not picked:
            raise _Refusal(env._("This invoice is not on your page."), status=404)
        return picked

    @staticmethod
    def _dunning_date(env, value, label):
        """The date the customer entered, ``None`` when empty; refuses what
        is not a date, or a date no customer can mean."""
        try:
            date = fields.Date.to_date(value or None)
        except (TypeError, ValueError):
            date = False
        today = fields.Date.context_today(env.user)
        if date is False or (date and abs((date - today).days) > DATE_RANGE_DAYS):
            raise _Refusal(env._("Please enter a valid date for %(what)s.", what=label))
        return date

    @staticmethod
    def _dunning_amount(env, value):
        """A positive, finite amount, or ``None`` when empty."""
        if value in (None, ""):
            return None
        try:
            amount = float(value)
        except (TypeError, ValueError):
            raise _Refusal(env._("Please enter the amount as a number.")) from None
        if not math.isfinite(amount) or amount <= 0 or amount >= 1e12:
            raise _Refusal(env._("Please enter a valid amount above zero."))
        return amount

    @staticmethod
    def _dunning_upload(env, upload):
        """``(name, content, mimetype)`` of an uploaded proof, or ``None`` when
        none was sent; refuses anything that is not a PDF, PNG or JPEG by its
        content, or that is too large (``tools/uploads.py``)."""
        if upload is None or not getattr(upload, "filename", None):
            return None
        content = upload.read(MAX_UPLOAD_BYTES + 1)
        try:
            return check_upload(
                upload.filename,
                content,
                default_stem=env._("document"),
                max_bytes=MAX_UPLOAD_BYTES,
            )
        except UploadRefused as refusal:
            if refusal.kind == TOO_LARGE:
                raise _Refusal(
                    env._("The file is too large: please send at most 5 MB."),
                    status=413,
                ) from None
            raise _Refusal(
                env._("Please send a PDF, PNG or JPEG file."), status=415
            ) from None

    def _dunning_invoice_names(self, moves):
        return ", ".join(moves.mapped("name"))

    # -- promise ------------------------------------------------------

    @http.route(
        f"{BASE}/promise",
        **FORM_ROUTE,
    )
    def dunning_promise(self, **post):
        return self._dunning_act("promise", self._dunning_do_promise, post)

    def _dunning_do_promise(self, env, partner, company, moves, post):
        if "dunning.promise" not in env:
            raise _Refusal(env._("Promises are not available yet."), status=404)
        picked = self._dunning_pick(env, moves, post.get("invoice_id"))
        promised = self._dunning_date(env, post.get("promised_date"), env._("the date"))
        if not promised:
            raise _Refusal(env._("Please tell us by which date you will pay."))
        amount = self._dunning_amount(env, post.get("amount"))
        env["dunning.promise"].sudo().with_company(company)._dunning_promise(
            partner, picked, promised, amount=amount, source="portal"
        )
        return picked, None

    # -- payment plan -------------------------------------------------

    @http.route(
        f"{BASE}/plan",
        **FORM_ROUTE,
    )
    def dunning_plan(self, **post):
        return self._dunning_act("plan", self._dunning_do_plan, post)

    def _dunning_do_plan(self, env, partner, company, moves, post):
        if "dunning.payment.plan" not in env:
            raise _Refusal(env._("Payment plans are not available yet."), status=404)
        Plan = env["dunning.payment.plan"].sudo().with_company(company)
        picked = Plan._dunning_plannable(moves)
        if not picked:
            raise _Refusal(env._("There is nothing to spread over a plan."))
        try:
            installments = int(post.get("installments") or 0)
        except ValueError:
            installments = 0
        Plan._dunning_check_installment_choice(partner, company, installments)
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
        f"{BASE}/paid",
        **UPLOAD_ROUTE,
    )
    def dunning_paid(self, **post):
        return self._dunning_act("payment_reported", self._dunning_do_paid, post)

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
        f"{BASE}/dispute",
        **UPLOAD_ROUTE,
    )
    def dunning_dispute(self, **post):
        return self._dunning_act("dispute", self._dunning_do_dispute, post)

    def _dunning_do_dispute(self, env, partner, company, moves, post):
        picked = self._dunning_pick(env, moves, post.get("invoice_id"), allow_all=False)
        reason = (post.get("reason") or "").strip()[:2000]
        if len(reason) < 3:
            raise _Refusal(env._("Please tell us what is wrong with this invoice."))
        category = post.get("category") or "other"
        if category not in dict(DISPUTE_REASONS):
            raise _Refusal(env._("Please choose among the options shown."))
        upload = self._dunning_upload(env, post.get("attachment"))
        body = Markup("%s<br/>%s") % (
            env._(
                "Disputed %(invoice)s on the collections page:",
                invoice=picked.name,
            ),
            reason,
        )
        partner.with_company(company)._dunning_open_dispute(
            picked,
            note=body,
            proof=upload,
            reason=category,
            words=reason,
            source="portal",
        )
        return picked, None

    # -- invoice not received -------------------------------------------

    @http.route(
        f"{BASE}/not-received",
        **FORM_ROUTE,
    )
    def dunning_not_received(self, **post):
        return self._dunning_act("not_received", self._dunning_do_not_received, post)

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
        f"{BASE}/preferences",
        **FORM_ROUTE,
    )
    def dunning_preferences(self, **post):
        return self._dunning_act("preferences", self._dunning_do_preferences, post)

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
        f"{BASE}/rate",
        **FORM_ROUTE,
    )
    def dunning_rate(self, **post):
        return self._dunning_act("rating", self._dunning_do_rate, post)

    def _dunning_do_rate(self, env, partner, company, moves, post):
        env["dunning.feedback"].sudo().with_company(company)._dunning_rate(
            partner, post.get("rating"), comment=post.get("comment") or ""
        )
        return moves.browse(), None
