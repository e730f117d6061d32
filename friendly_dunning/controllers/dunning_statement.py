from odoo import http
from odoo.http import content_disposition, request

from .portal import BASE, ROUTE, DunningPortal


class DunningStatementPortal(DunningPortal):
    """The customer's statement, downloadable from their collections page by
    whoever the page is open to (``_dunning_resolve``)."""

    @http.route(f"{BASE}/statement.pdf", methods=["GET"], **ROUTE)
    def dunning_statement_pdf(self, **kwargs):
        resolved = self._dunning_resolve(kind="download")
        if not isinstance(resolved, tuple):
            return resolved
        partner, company, _base = resolved
        # The statement points back to the page at its address without a
        # token, never to a link signed anew (a link's expiry is final).
        pdf = (
            partner.with_company(company)
            .with_context(lang=partner.lang)
            ._dunning_statement_pdf(collections_login=True)
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
