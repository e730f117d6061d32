"""The customer's collections page.

Reached without logging in through the signed link every message carries
(``/collections/<token>``, see ``res.partner._dunning_portal_url``), or by a
portal user at ``/my/collections``. The page shows one commercial partner's
open invoices of one company. Its forms are handled in portal_forms.py.
"""

from collections import defaultdict

from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import ValidationError
from odoo.fields import Command, Domain
from odoo.http import request
from odoo.tools import format_date, formatLang

from odoo.addons.account_payment.controllers.portal import PortalAccount

from ..models.dunning_step import CHANNELS

ROUTE = {
    "type": "http",
    "auth": "public",
    "website": True,
    "sitemap": False,
}


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
        Move = request.env["account.move"]
        if token:
            Move = Move.sudo()
        domain = (
            Domain("commercial_partner_id", "=", partner.id)
            & Domain("company_id", "=", company.id)
            & Move._dunning_open_invoice_domain()
        )
        return Move.search(domain, order="invoice_date_due, id").sudo()

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
        # The pay and download links carry each invoice's access token.
        moves._dunning_ensure_access_tokens()
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
