"""The customer's collections page.

Reached without logging in through the signed link every message carries
(``/collections/<token>``, see ``res.partner._dunning_portal_url``), or by a
portal user at ``/my/collections``. The link is only an entry: its first
visit exchanges the token for a short session cookie (see
res_partner_portal_session.py) and redirects to ``/my/collections``, so the
token appears in no later address, history entry or Referer. The page shows
one commercial partner's open invoices of one company; it downloads and pays
them through its own routes, checked against the session each time, never
through Odoo's invoice access tokens (which neither expire nor follow a
revocation). Its forms are handled in portal_forms.py.
"""

import re
import time
from collections import defaultdict

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
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
BASE = "/my/collections"
# ``?then=pay-due-<currency id>`` on a link: straight to paying what is due;
# ``?then=autopay``: straight to saving a method for automatic payments.
PAY_DUE_THEN = re.compile(r"^pay-due-(\d{1,9})$")
AUTOPAY_THEN = "autopay"
PAGE_COOKIE = "fd_collections"
# Requests without files carry a few form fields at most.
MAX_FORM_BYTES = 64 * 1024
# Pages with money on them: kept by no cache, sent to no other site, and
# running our own scripts only (no analytics, no custom code of a website).
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
PAGE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class DunningPortal(PortalAccount):
    # ------------------------------------------------------------------
    # Who is asking
    # ------------------------------------------------------------------

    def _dunning_client_address(self):
        """The visitor's address, the unit the rate limits count per party."""
        return request.httprequest.remote_addr or "unknown"

    def _dunning_session(self):
        """``(partner, company)`` of the visitor's collections session,
        ``None`` without a session cookie, ``False`` for a cookie that no
        longer opens anything (revoked, ended, tampered)."""
        value = request.httprequest.cookies.get(PAGE_COOKIE)
        if not value:
            return None
        return request.env["res.partner"]._dunning_portal_check_session(value) or False

    def _dunning_resolve(self, token=None, kind="view"):
        """``(partner, company, base path)`` the request may act for, or the
        response to send instead (the expired-link page, the login page, the
        too-many-requests page). ``kind`` is the rate limit the request
        counts against (see dunning_portal_rate.py), ``None`` for a caller
        that counts itself."""
        for name, value in PRIVATE_HEADERS.items():
            request.future_response.headers.set(name, value)
        if token:
            found = request.env["res.partner"]._dunning_portal_check_token(token)
            if not found:
                return self._dunning_expired()
            partner, company = found
        else:
            found = self._dunning_session()
            if found is False:
                return self._dunning_expired()
            if found:
                partner, company = found
            elif request.env.user._is_public():
                return request.redirect("/web/login?redirect=/my/collections")
            else:
                partner = request.env.user.partner_id.commercial_partner_id.sudo()
                company = request.env.company
        if kind and not request.env["dunning.portal.rate"].sudo()._dunning_allow(
            kind, partner, self._dunning_client_address()
        ):
            return self._dunning_too_many(partner, company)
        return partner, company, BASE

    def _dunning_via_link(self):
        """Whether the page is read through a link's session (the link's
        customer, sudo) rather than as the logged-in user."""
        return bool(self._dunning_session()) or request.env.user._is_public()

    def _dunning_expired(self):
        """The page of a link or session that opens nothing. Tokens that
        open nothing are counted per visitor: past the limit the answer is a
        bare 429, for that visitor only."""
        allowed = (
            request.env["dunning.portal.rate"]
            .sudo()
            ._dunning_allow_bad_link(self._dunning_client_address())
        )
        request.future_response.set_cookie(PAGE_COOKIE, "", max_age=0, path=BASE)
        if not allowed:
            return request.make_response(
                request.env._("Too many requests. Please try again later."),
                headers=[("Content-Type", "text/plain; charset=utf-8")],
                status=429,
            )
        return self._dunning_page(
            "friendly_dunning.portal_collections_expired", {}, status=403
        )

    def _dunning_too_many(self, partner, company):
        request.update_context(lang=partner.lang or request.env.lang)
        return self._dunning_page(
            "friendly_dunning.portal_collections_busy",
            {"res_company": company},
            status=429,
        )

    def _dunning_page(self, template, values, status=200, scripts=False):
        """Render one of the page's templates; without ``scripts`` the page
        runs no script at all (its forms are plain HTML)."""
        if not scripts:
            request.future_response.headers.set("Content-Security-Policy", PAGE_CSP)
        return request.render(template, values, status=status)

    def _dunning_open_moves(self, partner, company, via_link):
        """The partner's open customer invoices of ``company``, sudo, oldest
        due first: the invoices the page shows, the only ones it acts on. A
        logged-in portal user reads them through the record rules; a link
        visitor through the link's partner."""
        Move = request.env["account.move"]
        if via_link:
            Move = Move.sudo()
        domain = (
            Domain("commercial_partner_id", "=", partner.id)
            & Domain("company_id", "=", company.id)
            & Move._dunning_open_invoice_domain()
        )
        return Move.search(domain, order="invoice_date_due, id").sudo()

    # ------------------------------------------------------------------
    # The entry and the page
    # ------------------------------------------------------------------

    @http.route("/collections/<string:token>", methods=["GET"], **ROUTE)
    def dunning_collections_link(self, token, **kwargs):
        """Exchange the link's token for a session, then show the page at an
        address without the token."""
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        value, expiry = partner._dunning_portal_session(company, token)
        request.future_response.set_cookie(
            PAGE_COOKIE,
            value,
            max_age=max(0, expiry - int(time.time())),
            path=BASE,
            secure=request.httprequest.scheme == "https",
            httponly=True,
            samesite="Lax",
        )
        # A chat's "Pay now" link opens the payment of what is due in one
        # currency; the payment page checks what that is.
        then = PAY_DUE_THEN.match(kwargs.get("then") or "")
        if then:
            return request.redirect(f"{base}/pay-due/{int(then.group(1))}", local=True)
        if kwargs.get("then") == AUTOPAY_THEN:
            return request.redirect(f"{base}/autopay", local=True)
        return request.redirect(base, local=True)

    @http.route(BASE, methods=["GET"], **ROUTE)
    def dunning_collections(self, **kwargs):
        resolved = self._dunning_resolve()
        if not isinstance(resolved, tuple):
            return resolved
        return self._dunning_render(*resolved, done=kwargs.get("done"))

    @staticmethod
    def _dunning_instalments(moves):
        """``{move: [instalment, ...]}``: the unpaid instalments of ``moves``
        (open invoices, already checked; sudo), oldest due first, each a dict
        with its ``line``, ``due`` date, ``number`` among the invoice's
        instalments and their ``count``; in one query. An invoice with one
        due date has one instalment."""
        Move = moves.env["account.move"]
        terms = (
            moves.env["account.move.line"]
            .sudo()
            .search(
                Domain("move_id", "in", moves.ids)
                & Domain("display_type", "=", "payment_term"),
                order="date_maturity, id",
            )
        )
        open_terms = terms.filtered_domain(Move._dunning_open_instalment_domain())
        by_move = defaultdict(list)
        for line in terms:
            by_move[line.move_id].append(line)
        instalments = {}
        for move, lines in by_move.items():
            instalments[move] = [
                {
                    "line": line,
                    "due": line.date_maturity or move.invoice_date_due,
                    "number": number,
                    "count": len(lines),
                }
                for number, line in enumerate(lines, start=1)
                if line in open_terms
            ]
        return instalments

    @staticmethod
    def _dunning_due_instalments(instalments, today):
        """The lines of ``instalments`` (``_dunning_instalments``) due today or
        earlier: what "pay what is due" pays."""
        return [
            item["line"]
            for items in instalments.values()
            for item in items
            if item["due"] <= today
        ]

    def _dunning_render(self, partner, company, base, error=None, status=200, **extra):
        request.update_context(lang=partner.lang or request.env.lang)
        env = request.env
        moves = self._dunning_open_moves(partner, company, self._dunning_via_link())
        today = fields.Date.context_today(partner)
        instalments = self._dunning_instalments(moves)
        try:
            charges = moves.sudo()._dunning_late_charges(today)
        except UserError:
            # A reference rate is missing: the accountant sees why on the
            # invoice; the customer's page shows no charges meanwhile.
            charges = {}
        early_discounts = moves._dunning_early_discounts(today)
        rows = []
        overdue_totals = defaultdict(float)
        due_totals = defaultdict(float)
        due_now_totals = defaultdict(float)
        for move in moves:
            currency = move.currency_id
            lines = []
            for item in instalments.get(move, []):
                days_late = (today - item["due"]).days
                residual = item["line"].amount_residual_currency
                (overdue_totals if days_late > 0 else due_totals)[currency] += residual
                if days_late >= 0:
                    due_now_totals[currency] += residual
                lines.append(
                    {
                        "number": item["number"],
                        "count": item["count"],
                        "days_late": days_late,
                        "date": item["due"],
                        "due": format_date(env, item["due"]),
                        "residual": residual,
                        "amount": formatLang(env, residual, currency_obj=currency),
                    }
                )
            first = lines[0] if lines else None
            due_now = sum(line["residual"] for line in lines if line["days_late"] >= 0)
            rows.append(
                {
                    "move": move,
                    # The invoice is as late as its oldest unpaid instalment.
                    "days_late": first["days_late"] if first else 0,
                    "first_due": first["date"] if first else move.invoice_date_due,
                    "due": first["due"] if first else "",
                    "date": format_date(env, move.invoice_date),
                    "amount": formatLang(
                        env, move.amount_residual, currency_obj=currency
                    ),
                    "pay_url": f"{base}/invoice/{move.id}/pay",
                    "instalments": lines if first and first["count"] > 1 else [],
                    "due_now_amount": formatLang(env, due_now, currency_obj=currency),
                    "pay_due_url": f"{base}/invoice/{move.id}/pay-due"
                    if 0 < due_now < move.amount_residual - currency.rounding / 2
                    else None,
                    "late_charges": self._dunning_charges_shown(
                        env, move, charges.get(move), today
                    ),
                    "early_discount": move._dunning_early_discount_text(
                        early_discounts[move],
                        lambda day: format_date(env, day),
                        lambda amount, currency=currency: formatLang(
                            env, amount, currency_obj=currency
                        ),
                    )
                    if move in early_discounts
                    else None,
                }
            )
        # Oldest unpaid instalment first (Odoo's invoice due date is the
        # last instalment's).
        rows.sort(key=lambda row: row["first_due"])
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
            # Per currency, what is due today or earlier when it is less than
            # everything open: the page then offers to pay just that.
            "pay_due": {
                currency: formatLang(env, amount, currency_obj=currency)
                for currency, amount in due_now_totals.items()
                if currency.compare_amounts(amount, 0) > 0
                and currency.compare_amounts(
                    amount, overdue_totals[currency] + due_totals[currency]
                )
                < 0
            },
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
        return self._dunning_page(
            "friendly_dunning.portal_collections_page", values, status=status
        )

    @staticmethod
    def _dunning_charges_shown(env, move, charges, today):
        """The late-payment interest and fee of the invoice ``move`` as the page
        shows them (formatted), whether they are invoiced separately, and the
        date by which paying in full waives them, if one was offered; or
        ``None`` when there are none."""
        if not charges or not (charges["interest"] or charges["fee"]):
            return None
        currency = move.currency_id
        waiver_until = move.sudo().dunning_waiver_until
        return {
            "interest": formatLang(env, charges["interest"], currency_obj=currency)
            if charges["interest"]
            else None,
            "fee": formatLang(env, charges["fee"], currency_obj=currency)
            if charges["fee"]
            else None,
            "invoiced": move.company_id.dunning_interest_use == "invoiced",
            "waiver_until": format_date(env, waiver_until)
            if waiver_until and waiver_until >= today
            else None,
        }

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

    def _dunning_not_on_page(self):
        return request.make_response(
            request.env._("This invoice is not on your page."),
            headers=[("Content-Type", "text/plain; charset=utf-8")],
            status=404,
        )

    @http.route(f"{BASE}/invoice/<int:invoice_id>/pdf", methods=["GET"], **ROUTE)
    def dunning_invoice_pdf(self, invoice_id, **kwargs):
        resolved = self._dunning_resolve(kind="download")
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, _base = resolved
        request.update_context(lang=partner.lang or request.env.lang)
        invoice = self._dunning_open_moves(
            partner, company, self._dunning_via_link()
        ).filtered(lambda move: move.id == invoice_id)
        if not invoice:
            return self._dunning_not_on_page()
        return self._show_report(
            model=invoice,
            report_type="pdf",
            report_ref="account.account_invoices",
            download=True,
        )

    # ------------------------------------------------------------------
    # Paying: everything in one currency, or one invoice; or of either only
    # the instalments due today or earlier
    # ------------------------------------------------------------------

    @http.route(f"{BASE}/pay/<int:currency_id>", methods=["GET"], **ROUTE)
    def dunning_pay_all(self, currency_id, **kwargs):
        return self._dunning_pay_page(
            lambda move: move.currency_id.id == currency_id,
            f"transaction/{currency_id}",
        )

    @http.route(f"{BASE}/pay-due/<int:currency_id>", methods=["GET"], **ROUTE)
    def dunning_pay_all_due(self, currency_id, **kwargs):
        return self._dunning_pay_page(
            lambda move: move.currency_id.id == currency_id,
            f"transaction-due/{currency_id}",
            due_only=True,
        )

    @http.route(f"{BASE}/invoice/<int:invoice_id>/pay", methods=["GET"], **ROUTE)
    def dunning_pay_invoice(self, invoice_id, **kwargs):
        return self._dunning_pay_page(
            lambda move: move.id == invoice_id,
            f"invoice/{invoice_id}/transaction",
        )

    @http.route(f"{BASE}/invoice/<int:invoice_id>/pay-due", methods=["GET"], **ROUTE)
    def dunning_pay_invoice_due(self, invoice_id, **kwargs):
        return self._dunning_pay_page(
            lambda move: move.id == invoice_id,
            f"invoice/{invoice_id}/transaction-due",
            due_only=True,
        )

    def _dunning_payable(self, partner, company, pick, due_only):
        """``(invoices, amount in their currency, instalment lines)`` the
        visitor may pay among the page's invoices picked by ``pick``: all
        that is open, or with ``due_only`` the instalments due today or
        earlier (and the invoices they belong to). The amount is computed
        here, never taken from the browser. One invoice paid in full before
        its early-payment discount date costs the discounted amount: Odoo
        books the discount for a payment of that amount on one invoice."""
        moves = self._dunning_open_moves(
            partner, company, self._dunning_via_link()
        ).filtered(pick)
        today = fields.Date.context_today(partner)
        if not due_only:
            discount = len(moves) == 1 and moves._dunning_early_discounts(today)
            if discount:
                return moves, discount[moves]["amount"], None
            return moves, sum(moves.mapped("amount_residual")), None
        due = self._dunning_due_instalments(self._dunning_instalments(moves), today)
        lines = (
            request.env["account.move.line"].sudo().browse([line.id for line in due])
        )
        return lines.move_id, sum(lines.mapped("amount_residual_currency")), lines

    def _dunning_pay_page(self, pick, transaction_path, due_only=False):
        resolved = self._dunning_resolve(kind="pay")
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        request.update_context(lang=partner.lang or request.env.lang)
        moves, amount, lines = self._dunning_payable(partner, company, pick, due_only)
        if not moves:
            return request.redirect(base, local=True)
        values = self._get_common_page_view_values(
            invoices_data={
                "partner": partner,
                "company": company,
                "total_amount": amount,
                "currency": moves.currency_id,
                "amount_residual": amount,
                "landing_route": base,
                "transaction_route": f"{base}/{transaction_path}",
            },
        )
        full = sum(moves.mapped("amount_residual"))
        values |= {
            "partner": partner,
            "res_company": company,
            "base": base,
            "amount": amount,
            "moves": moves,
            "total": formatLang(request.env, amount, currency_obj=moves.currency_id),
            # Why the amount is below what the invoice says.
            "early_discount_saving": formatLang(
                request.env, full - amount, currency_obj=moves.currency_id
            )
            if not due_only and moves.currency_id.compare_amounts(full, amount) > 0
            else None,
            "due_only": due_only,
            "due_lines": [
                (
                    line.move_id.name,
                    format_date(request.env, line.date_maturity),
                    formatLang(
                        request.env,
                        line.amount_residual_currency,
                        currency_obj=line.currency_id,
                    ),
                )
                for line in lines or []
            ],
        }
        # The payment form runs Odoo's and the payment provider's scripts.
        return self._dunning_page(
            "friendly_dunning.portal_collections_pay", values, scripts=True
        )

    @http.route(
        f"{BASE}/transaction/<int:currency_id>",
        type="jsonrpc",
        auth="public",
        max_content_length=MAX_FORM_BYTES,
    )
    def dunning_pay_all_transaction(self, currency_id, **kwargs):
        return self._dunning_transaction(
            lambda move: move.currency_id.id == currency_id, kwargs
        )

    @http.route(
        f"{BASE}/invoice/<int:invoice_id>/transaction",
        type="jsonrpc",
        auth="public",
        max_content_length=MAX_FORM_BYTES,
    )
    def dunning_pay_invoice_transaction(self, invoice_id, **kwargs):
        return self._dunning_transaction(lambda move: move.id == invoice_id, kwargs)

    @http.route(
        f"{BASE}/transaction-due/<int:currency_id>",
        type="jsonrpc",
        auth="public",
        max_content_length=MAX_FORM_BYTES,
    )
    def dunning_pay_all_due_transaction(self, currency_id, **kwargs):
        return self._dunning_transaction(
            lambda move: move.currency_id.id == currency_id, kwargs, due_only=True
        )

    @http.route(
        f"{BASE}/invoice/<int:invoice_id>/transaction-due",
        type="jsonrpc",
        auth="public",
        max_content_length=MAX_FORM_BYTES,
    )
    def dunning_pay_invoice_due_transaction(self, invoice_id, **kwargs):
        return self._dunning_transaction(
            lambda move: move.id == invoice_id, kwargs, due_only=True
        )

    def _dunning_transaction(self, pick, kwargs, due_only=False):
        resolved = self._dunning_resolve(kind="pay")
        if not isinstance(resolved, tuple):
            if getattr(resolved, "status_code", None) == 429:
                raise ValidationError(
                    request.env._("Too many requests. Please try again later.")
                )
            raise ValidationError(request.env._("This link has expired."))
        partner, company, _base = resolved
        request.update_context(lang=partner.lang or request.env.lang)
        moves, amount, _lines = self._dunning_payable(partner, company, pick, due_only)
        if not moves or len(moves.currency_id) != 1:
            raise ValidationError(request.env._("There is nothing left to pay."))
        kwargs.pop("access_token", None)
        self._validate_transaction_kwargs(kwargs)
        logged_in = not request.env.user._is_public()
        kwargs.update(
            {
                # The amount is what is open (or due), whatever the browser
                # sends.
                "amount": amount,
                "currency_id": moves.currency_id.id,
                "partner_id": request.env.user.partner_id.id
                if logged_in and not self._dunning_session()
                else partner.id,
                "reference_prefix": None,
            }
        )
        tx_sudo = self._create_transaction(
            custom_create_values={"invoice_ids": [Command.set(moves.ids)]},
            **kwargs,
        )
        return tx_sudo._get_processing_values()
