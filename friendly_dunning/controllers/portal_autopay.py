"""Automatic payments on the customer's collections page: the page that
saves a payment method (Odoo's payment form in validation mode, which leaves
a ``payment.token``) and lets the customer authorise charges with one of
their saved methods, and the forms that start and stop them. Each route
checks who is asking as the page's other routes do (portal.py)."""

from odoo import http
from odoo.exceptions import UserError, ValidationError
from odoo.http import request
from odoo.tools import format_date, formatLang

from .portal import BASE, MAX_FORM_BYTES, ROUTE
from .portal_forms import FORM_ROUTE, DunningPortalForms, _Refusal


class DunningPortalAutopay(DunningPortalForms):
    @staticmethod
    def _dunning_autopay_providers(partner, company):
        """The providers of ``company`` that save a payment method for
        ``partner`` (sudo)."""
        return (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id, partner.id, 0.0, force_tokenization=True, is_validation=True
            )
        )

    @staticmethod
    def _dunning_autopay_tokens(partner, company):
        """The saved payment methods of ``partner`` automatic payments can
        charge in ``company`` (sudo)."""
        return (
            request.env["payment.token"]
            .sudo()
            .search(
                [
                    ("partner_id", "child_of", partner.commercial_partner_id.id),
                    ("provider_id.company_id", "=", company.id),
                    ("provider_id.state", "!=", "disabled"),
                ],
                order="id desc",
            )
        )

    @staticmethod
    def _dunning_token_label(token):
        """How the page names a saved method: its kind and its masked
        details."""
        return f"{token.payment_method_id.name} {token.display_name}"

    def _dunning_autopay_author(self, partner):
        """Who acts: the logged-in user's contact, or the link's customer."""
        if request.env.user._is_public() or self._dunning_session():
            return partner
        return request.env.user.partner_id

    def _dunning_autopay_values(self, env, partner, company, has_rows):
        """What the collections page shows about automatic payments: the
        active authorisation, or whether to offer one."""
        Autopay = env["dunning.autopay"].sudo()
        autopay = Autopay._dunning_active(partner, company)
        if autopay:
            upcoming = autopay._dunning_next_charge()
            return {
                "active": {
                    "method": self._dunning_token_label(autopay.token_id),
                    "plan": autopay.plan_id.name,
                    "next_date": format_date(env, upcoming[0]) if upcoming else None,
                    "next_amount": formatLang(
                        env, upcoming[1], currency_obj=upcoming[2]
                    )
                    if upcoming
                    else None,
                    "retrying": any(
                        charge.state == "retry" for charge in autopay.charge_ids
                    ),
                },
                "offer": False,
            }
        plan = Autopay._dunning_active_plan(partner, company)
        offer = bool(
            (has_rows or plan)
            and (
                self._dunning_autopay_tokens(partner, company)
                or self._dunning_autopay_providers(partner, company)
            )
        )
        return {"active": None, "offer": offer, "plan": plan.name}

    def _dunning_render(self, partner, company, base, error=None, status=200, **extra):
        env = request.env
        has_rows = bool(
            self._dunning_open_moves(partner, company, self._dunning_via_link())
        )
        extra["autopay"] = self._dunning_autopay_values(env, partner, company, has_rows)
        return super()._dunning_render(
            partner, company, base, error=error, status=status, **extra
        )

    def _dunning_done_message(self, env, key):
        return {
            "autopay": env._(
                "Automatic payments are on. We will thank you after each charge."
            ),
            "autopay_stop": env._(
                "Automatic payments are off. Nothing more will be charged."
            ),
        }.get(key) or super()._dunning_done_message(env, key)

    # ------------------------------------------------------------------
    # The page that saves a method and authorises charges
    # ------------------------------------------------------------------

    @http.route(f"{BASE}/autopay", methods=["GET"], **ROUTE)
    def dunning_autopay(self, **kwargs):
        resolved = self._dunning_resolve()
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, base = resolved
        request.update_context(lang=partner.lang or request.env.lang)
        env = request.env
        Autopay = env["dunning.autopay"].sudo()
        plan = Autopay._dunning_active_plan(partner, company)
        autopay = Autopay._dunning_active(partner, company)
        providers = self._dunning_autopay_providers(partner, company)
        payment_methods = (
            env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(
                providers.ids, partner.id, force_tokenization=True
            )
        )
        values = {
            "partner": partner,
            "res_company": company,
            "base": base,
            "csrf": request.csrf_token(),
            "autopay": autopay,
            "plan": plan,
            "authorisation": Autopay._dunning_authorisation_text(
                partner, company, plan, lang=env.lang
            ),
            "tokens": self._dunning_autopay_tokens(partner, company),
            "token_label": self._dunning_token_label,
            # Odoo's payment form, in validation mode: it saves a method and
            # charges nothing.
            "mode": "validation",
            "allow_token_selection": False,
            "allow_token_deletion": False,
            "reference_prefix": None,
            "partner_id": partner.id,
            "providers_sudo": providers,
            "payment_methods_sudo": payment_methods,
            "tokens_sudo": env["payment.token"].sudo(),
            "availability_report": {},
            "transaction_route": f"{base}/autopay/transaction",
            "landing_route": f"{base}/autopay",
            "access_token": None,
            "currency": company.currency_id,
            "amount": None,
        }
        return self._dunning_page(
            "friendly_dunning.portal_collections_autopay", values, scripts=True
        )

    @http.route(
        f"{BASE}/autopay/transaction",
        type="jsonrpc",
        auth="public",
        max_content_length=MAX_FORM_BYTES,
    )
    def dunning_autopay_transaction(self, **kwargs):
        """The validation transaction of the payment form: it saves the
        method (the provider creates the token) and charges nothing."""
        resolved = self._dunning_resolve(kind="pay")
        if not isinstance(resolved, tuple):
            if getattr(resolved, "status_code", None) == 429:
                raise ValidationError(
                    request.env._("Too many requests. Please try again later.")
                )
            raise ValidationError(request.env._("This link has expired."))
        partner, company, base = resolved
        request.update_context(lang=partner.lang or request.env.lang)
        kwargs.pop("access_token", None)
        self._validate_transaction_kwargs(kwargs)
        provider = self._dunning_autopay_providers(partner, company).filtered(
            lambda p: p.id == kwargs.get("provider_id")
        )
        if not provider or kwargs.get("flow") == "token":
            raise ValidationError(
                request.env._("This payment method cannot be saved here.")
            )
        kwargs.update(
            {
                "amount": None,
                "currency_id": None,
                "partner_id": self._dunning_autopay_author(partner).id,
                "is_validation": True,
                "tokenization_requested": True,
                "landing_route": f"{base}/autopay",
                "reference_prefix": None,
            }
        )
        tx_sudo = self._create_transaction(**kwargs)
        return tx_sudo._get_processing_values()

    # ------------------------------------------------------------------
    # Starting and stopping
    # ------------------------------------------------------------------

    @http.route(f"{BASE}/autopay/start", **FORM_ROUTE)
    def dunning_autopay_start(self, **post):
        return self._dunning_act("autopay", self._dunning_do_autopay_start, post)

    def _dunning_do_autopay_start(self, env, partner, company, moves, post):
        try:
            token_id = int(post.get("token_id") or 0)
        except ValueError:
            token_id = 0
        if not token_id:
            raise _Refusal(env._("Please choose a payment method."))
        token = env["payment.token"].sudo().browse(token_id)
        try:
            env["dunning.autopay"].sudo().with_company(company)._dunning_start(
                partner, company, token, self._dunning_autopay_author(partner)
            )
        except UserError as error:
            raise _Refusal(str(error), status=403) from error
        return env["account.move"], None

    @http.route(f"{BASE}/autopay/stop", **FORM_ROUTE)
    def dunning_autopay_stop(self, **post):
        return self._dunning_act("autopay_stop", self._dunning_do_autopay_stop, post)

    def _dunning_do_autopay_stop(self, env, partner, company, moves, post):
        """Stop automatic payments; a second click finds them stopped and
        changes nothing."""
        author = self._dunning_autopay_author(partner)
        env["dunning.autopay"].sudo()._dunning_active(partner, company)._dunning_stop(
            author, env._("Stopped by the customer on their page.")
        )
        return env["account.move"], None
