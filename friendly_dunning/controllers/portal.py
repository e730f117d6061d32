"""The customer's collections page.

Reached without logging in through the signed link every message carries
(``/collections/<token>``, see ``res.partner._dunning_portal_url``), or by a
portal user at ``/my/collections``. The page shows one commercial partner's
open invoices of one company, and every form on it acts on those invoices only.
"""

from collections import defaultdict

from markupsafe import Markup
from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.http import request
from odoo.tools import SQL, format_date, formatLang

from odoo.addons.account_payment.controllers.portal import PortalAccount

from ..models.dunning_step import CHANNELS
from ..models.res_partner import BEST_TIMES

# Proofs and dispute documents: what a customer may upload.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
ROUTE = {
    "type": "http",
    "auth": "public",
    "website": True,
    "sitemap": False,
}


class _Refusal(Exception):
    """A customer-facing refusal of a form: its message and HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


class DunningPortal(PortalAccount):
    # ------------------------------------------------------------------
    # Who is asking
    # ------------------------------------------------------------------

    def _dunning_resolve(self, token):
        """``(partner, company, base path)`` the request may act for, or the
        response to send instead (the expired-link page, the login page)."""
        if token:
            found = request.env["res.partner"]._dunning_portal_check_token(token)
            if not found:
                return self._dunning_expired()
            partner, company = found
            return partner, company, f"/collections/{token}"
        if request.env.user._is_public():
            return request.redirect("/web/login?redirect=/my/collections")
        partner = request.env.user.partner_id.commercial_partner_id.sudo()
        return partner, request.env.company, "/my/collections"

    def _dunning_expired(self):
        return request.render(
            "friendly_dunning.portal_collections_expired", {}, status=403
        )

    def _dunning_open_moves(self, partner, company, token):
        """The partner's open customer invoices of ``company``, sudo, oldest
        due first. A logged-in portal user reads them through the record
        rules; a link visitor through the link's partner."""
        domain = [
            ("commercial_partner_id", "=", partner.id),
            ("company_id", "=", company.id),
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", ("not_paid", "partial")),
        ]
        Move = request.env["account.move"]
        if token:
            Move = Move.sudo()
        return Move.search(domain, order="invoice_date_due, id").sudo()

    def _dunning_ensure_access_tokens(self, moves):
        """Invoice access tokens for the pay and download links, in one
        statement rather than one write per invoice."""
        missing = moves.filtered(lambda move: not move.access_token)
        if missing:
            request.env.execute_query(
                SQL(
                    "UPDATE account_move SET access_token = gen_random_uuid()::text "
                    "WHERE id = ANY(%s) AND access_token IS NULL",
                    missing.ids,
                )
            )
            missing.invalidate_recordset(["access_token"])

    # ------------------------------------------------------------------
    # The page
    # ------------------------------------------------------------------

    @http.route(["/collections/<string:token>", "/my/collections"], **ROUTE)
    def dunning_collections(self, token=None, **kwargs):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        return self._dunning_render(*resolved, token=token, done=kwargs.get("done"))

    def _dunning_render(
        self, partner, company, base, token=None, error=None, status=200, **extra
    ):
        request.update_context(lang=partner.lang or request.env.lang)
        env = request.env
        moves = self._dunning_open_moves(partner, company, token)
        self._dunning_ensure_access_tokens(moves)
        today = fields.Date.context_today(partner)
        rows = []
        overdue_totals = defaultdict(float)
        due_totals = defaultdict(float)
        for move in moves:
            days_late = (today - move.invoice_date_due).days
            (overdue_totals if days_late > 0 else due_totals)[move.currency_id] += (
                move.amount_residual
            )
            rows.append(
                {
                    "move": move,
                    "days_late": days_late,
                    "due": format_date(env, move.invoice_date_due),
                    "date": format_date(env, move.invoice_date),
                    "amount": formatLang(
                        env, move.amount_residual, currency_obj=move.currency_id
                    ),
                    "pay_url": f"{move.access_url}?access_token={move.access_token}"
                    "&payment=True#portal_pay",
                }
            )
        values = {
            "partner": partner.with_env(env(su=True)),
            "company": company,
            "res_company": company,
            "base": base,
            "rows": rows,
            "overdue_totals": [
                (currency, formatLang(env, total, currency_obj=currency))
                for currency, total in overdue_totals.items()
            ],
            "due_totals": [
                (currency, formatLang(env, total, currency_obj=currency))
                for currency, total in due_totals.items()
            ],
            "pay_currencies": list(
                dict.fromkeys(move.currency_id for move in moves if move.currency_id)
            ),
            "has_overdue": bool(overdue_totals),
            "today": today,
            "error": error,
            "done": self._dunning_done_message(env, extra.pop("done", None)),
            "channels": CHANNELS,
            "csrf": request.csrf_token(),
            "pause_labels": dict(
                moves._fields["dunning_pause_reason"]._description_selection(env)
            ),
            "best_times": list(
                request.env["res.partner"]
                ._fields["dunning_best_time"]
                ._description_selection(env)
            ),
            "whatsapp": partner.dunning_whatsapp_consent,
            "rate_case": request.env["dunning.feedback"]
            .sudo()
            .with_company(company)
            ._dunning_case(partner, company)
            if not overdue_totals
            else False,
            "plans_enabled": "dunning.payment.plan" in request.env,
            "limits": {},
            "preview": None,
        }
        values["greeting"] = env._("Hi, %(name)s", name=partner.name)
        values["intro"] = env._(
            "Here is everything you have open with %(company)s.", company=company.name
        )
        if values["plans_enabled"]:
            limits = (
                request.env["dunning.payment.plan"]
                .sudo()
                ._dunning_limits(partner, company)
            )
            values["limits"] = limits
            values["plan_hint"] = env._(
                "Up to %(count)s payments over %(days)s days are approved at once; "
                "anything longer waits for our team's OK.",
                count=limits["max_installments"],
                days=limits["max_days"],
            )
            values["promise_hint"] = env._(
                "We will pause reminders until then (up to %(days)s days from today).",
                days=limits["promise_max_days"],
            )
        values.update(extra)
        return request.render(
            "friendly_dunning.portal_collections_page", values, status=status
        )

    def _dunning_done_message(self, env, key):
        return {
            "promise": env._("Thank you! We noted your promise and paused reminders."),
            "plan": env._("Thank you! Your payment plan has been recorded."),
            "payment_reported": env._(
                "Thank you! We will check your payment; reminders are paused meanwhile."
            ),
            "dispute": env._(
                "Thank you for telling us. Reminders for this invoice are paused "
                "while we look into it."
            ),
            "preferences": env._("Your preferences are saved."),
            "rating": env._("Thank you for your rating!"),
        }.get(key)

    # ------------------------------------------------------------------
    # Forms: one handler per action, the same checks for all
    # ------------------------------------------------------------------

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

    @staticmethod
    def _dunning_attach(moves, upload):
        if not upload:
            return request.env["ir.attachment"]
        name, content, mimetype = upload
        return (
            request.env["ir.attachment"]
            .sudo()
            .create(
                [
                    {
                        "name": name,
                        "raw": content,
                        "mimetype": mimetype,
                        "res_model": "account.move",
                        "res_id": move.id,
                    }
                    for move in moves
                ]
            )
        )

    @staticmethod
    def _dunning_log(partner, moves, body, attachments=None):
        """Note ``body`` in the chatter of the customer and of ``moves``."""
        by_move = {a.res_id: a.ids for a in attachments or []}
        partner.sudo()._message_log(body=body, author_id=partner.id)
        for move in moves.sudo():
            move._message_log(
                body=body,
                author_id=partner.id,
                attachment_ids=by_move.get(move.id, []),
            )

    @staticmethod
    def _dunning_activity(partner, company, moves, summary, note):
        """A to-do for the accountant following the customer, on the invoice
        (or on the customer for several invoices)."""
        Users = request.env["res.users"].sudo()
        responsible = (
            moves.invoice_user_id.filtered(lambda u: not u.share)[:1]
            or partner.user_id.filtered(lambda u: not u.share)[:1]
            or Users.search(
                [
                    (
                        "group_ids",
                        "in",
                        request.env.ref("friendly_dunning.group_dunning_user").ids,
                    ),
                    ("company_ids", "in", company.ids),
                    ("share", "=", False),
                ],
                order="id",
                limit=1,
            )
        )
        target = moves if len(moves) == 1 else partner
        target.sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=note,
            user_id=responsible.id or request.env.ref("base.user_admin").id,
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
        attachments = self._dunning_attach(picked, upload)
        picked.action_dunning_pause("payment_reported")
        body = Markup("%s<br/>%s") % (
            env._(
                "Reported on the collections page a payment of %(invoices)s "
                "made on %(date)s.",
                invoices=self._dunning_invoice_names(picked),
                date=format_date(env, paid_on) if paid_on else env._("an unknown date"),
            ),
            note or (env._("Proof attached.") if upload else ""),
        )
        self._dunning_log(partner, picked, body, attachments)
        self._dunning_activity(
            partner,
            company,
            picked,
            env._("Check the payment the customer reported"),
            body,
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
        attachments = self._dunning_attach(picked, upload)
        picked.action_dunning_pause("dispute")
        body = Markup("%s<br/>%s") % (
            env._(
                "Disputed %(invoice)s on the collections page:",
                invoice=picked.name,
            ),
            reason,
        )
        self._dunning_log(partner, picked, body, attachments)
        self._dunning_activity(
            partner, company, picked, env._("Look into the customer's dispute"), body
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
        self._dunning_log(
            partner,
            picked,
            env._(
                "Said on the collections page that %(invoice)s never arrived, and "
                "downloaded it.",
                invoice=picked.name,
            ),
        )
        return picked, f"/invoice/{picked.id}/pdf"

    @http.route(
        [
            "/collections/<string:token>/invoice/<int:invoice_id>/pdf",
            "/my/collections/invoice/<int:invoice_id>/pdf",
        ],
        methods=["GET"],
        **ROUTE,
    )
    def dunning_invoice_pdf(self, invoice_id, token=None, **kwargs):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, _base = resolved
        Move = request.env["account.move"]
        if token:
            Move = Move.sudo()
        invoice = Move.search(
            [
                ("id", "=", invoice_id),
                ("commercial_partner_id", "=", partner.id),
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
            ]
        ).sudo()
        if not invoice:
            raise NotFound()
        request.update_context(lang=partner.lang)
        return self._show_report(
            model=invoice,
            report_type="pdf",
            report_ref="account.account_invoices",
            download=True,
        )

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

    # ------------------------------------------------------------------
    # Paying everything in one go
    # ------------------------------------------------------------------

    @http.route(
        [
            "/collections/<string:token>/pay/<int:currency_id>",
            "/my/collections/pay/<int:currency_id>",
        ],
        methods=["GET"],
        **ROUTE,
    )
    def dunning_pay_all(self, currency_id, token=None, **kwargs):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        request.update_context(lang=partner.lang)
        moves = self._dunning_open_moves(partner, company, token).filtered(
            lambda m: m.currency_id.id == currency_id
        )
        if not moves:
            return request.redirect(base, local=True)
        amount = sum(moves.mapped("amount_residual"))
        values = self._get_common_page_view_values(
            invoices_data={
                "partner": partner,
                "company": company,
                "total_amount": amount,
                "currency": moves.currency_id,
                "amount_residual": amount,
                "landing_route": base,
                "transaction_route": f"{base}/transaction/{currency_id}",
            },
            access_token=token,
        )
        values |= {
            "partner": partner,
            "res_company": company,
            "base": base,
            "amount": amount,
            "moves": moves,
            "total": formatLang(request.env, amount, currency_obj=moves.currency_id),
        }
        return request.render("friendly_dunning.portal_collections_pay", values)

    @http.route(
        [
            "/collections/<string:token>/transaction/<int:currency_id>",
            "/my/collections/transaction/<int:currency_id>",
        ],
        type="jsonrpc",
        auth="public",
    )
    def dunning_pay_all_transaction(self, currency_id, token=None, **kwargs):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            raise ValidationError(request.env._("This link has expired."))
        partner, company, _base = resolved
        moves = self._dunning_open_moves(partner, company, token).filtered(
            lambda m: m.currency_id.id == currency_id
        )
        if not moves:
            raise ValidationError(request.env._("There is nothing left to pay."))
        kwargs.pop("access_token", None)
        self._validate_transaction_kwargs(kwargs)
        logged_in = not request.env.user._is_public()
        kwargs.update(
            {
                # The amount is what is open, whatever the browser sends.
                "amount": sum(moves.mapped("amount_residual")),
                "currency_id": currency_id,
                "partner_id": request.env.user.partner_id.id
                if logged_in
                else partner.id,
                "reference_prefix": None,
            }
        )
        tx_sudo = self._create_transaction(
            custom_create_values={"invoice_ids": [Command.set(moves.ids)]},
            **kwargs,
        )
        return tx_sudo._get_processing_values()
