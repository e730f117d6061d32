from odoo import http
from odoo.http import content_disposition, request

from .portal import ROUTE, DunningPortal


class DunningStatementPortal(DunningPortal):
    """The customer's statement, downloadable from their collections page by
    whoever the page is open to (``_dunning_resolve``)."""

    @http.route(
        [
            "/collections/<string:token>/statement.pdf",
            "/my/collections/statement.pdf",
        ],
        methods=["GET"],
        **ROUTE,
    )
    def dunning_statement_pdf(self, token=None, **kwargs):
        resolved = self._dunning_resolve(token)
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, _base = resolved
        # The statement points back to the page it was downloaded from: the
        # same link, never one signed anew (its expiry is final).
        pdf = (
            partner.with_company(company)
            .with_context(lang=partner.lang)
            ._dunning_statement_pdf(
                collections_token=token, collections_login=not token
            )
        )
        filename = request.env._("Statement - %(name)s.pdf", name=partner.name)
        return request.make_response(
            pdf,
            headers=[
                ("Content-Type", "application/pdf"),
                ("Content-Length", len(pdf)),
                ("Content-Disposition", content_disposition(filename)),
            ],
        )
