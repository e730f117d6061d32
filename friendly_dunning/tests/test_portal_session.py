import json
import time
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_portal import CSRF, PAGE_COOKIE, PortalPageCommon, page_links

FORMS = (
    "/promise",
    "/plan",
    "/paid",
    "/dispute",
    "/rate",
    "/not-received",
    "/preferences",
)
SESSION_TIME = "odoo.addons.friendly_dunning.models.res_partner_portal_session.time"


@tagged("post_install", "-at_install")
class TestPortalSession(PortalPageCommon):
    """The link's token is exchanged for a short session, and nothing the
    page handed out outlives the link."""

    def _collect(self, url=None):
        """Every address of this site the page and its pay pages hand out
        (but the logo and the style sheets)."""
        self._provider()
        page = self.open_page(url)
        links = page_links(page.text)
        for link in list(links):
            if "/pay" in link:
                links += page_links(self.url_open(link).text)
        return page, sorted(
            {
                link
                for link in links
                if link.startswith("/") and not link.startswith(("/web/", "/logo"))
            }
        )

    @mute_logger("odoo.http")  # the refused transactions
    def _assert_nothing_opens(self, page, links):
        csrf = CSRF.search(page.text).group(1)
        opened = []
        for link in links:
            if link.endswith(FORMS):
                response = self.url_open(
                    link,
                    data={"csrf_token": csrf, "invoice_id": self.late.id},
                    allow_redirects=False,
                )
            elif "/transaction" in link:
                response = self.url_open(
                    link,
                    data=json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}}),
                    headers={"Content-Type": "application/json"},
                )
                if "error" in response.json():
                    continue
            else:
                response = self.url_open(link, allow_redirects=False)
            if response.status_code == 200 or (
                response.status_code in (301, 302, 303)
                and "/web/login" not in response.headers["Location"]
            ):
                opened.append((link, response.status_code))
        self.assertFalse(opened)
        self.assertFalse(self.late.dunning_pause_reason)

    def test_link_is_exchanged_for_a_session_at_an_address_without_it(self):
        url = self.page_url()
        token = url.rsplit("/", 1)[1]
        response = self.url_open(url, allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        location = response.headers["Location"]
        self.assertEqual(urlsplit(location).path, "/my/collections")
        self.assertNotIn(token, location)
        cookie = response.headers["Set-Cookie"]
        self.assertIn(f"{PAGE_COOKIE}=", cookie)
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Lax", cookie)
        self.assertIn("Path=/my/collections", cookie)
        value = self.opener.cookies.get(PAGE_COOKIE)
        self.assertNotIn(value.rsplit("-", 1)[1], url)  # not the link's signature
        page = self.url_open(location)
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.late.name, page.text)
        self.assertNotIn(token, page.text)
        # A session value is no link.
        self.assertEqual(self.url_open(f"/collections/{value}").status_code, 403)

    def test_private_headers_and_no_third_party_script(self):
        self._provider()
        base = self.page_base()
        for path in (
            base,
            f"{base}/invoice/{self.late.id}/pdf",
            f"{base}/invoice/{self.late.id}/pay",
            f"{base}/pay/{self.late.currency_id.id}",
        ):
            response = self.url_open(path)
            self.assertEqual(response.headers.get("Cache-Control"), "no-store", path)
            self.assertEqual(
                response.headers.get("Referrer-Policy"), "no-referrer", path
            )
        expired = self.url_open("/collections/garbage")
        self.assertEqual(expired.headers.get("Cache-Control"), "no-store")
        self.assertEqual(expired.headers.get("Referrer-Policy"), "no-referrer")
        self.open_page()
        page = self.url_open(base)
        self.assertIn("script-src 'none'", page.headers["Content-Security-Policy"])
        self.assertNotIn("<script", page.text)
        # Whatever the frontend layout is given (website's analytics and
        # custom code hang there), the collections pages do not use it.
        self.env["ir.ui.view"].create(
            {
                "name": "Third-party tracker",
                "type": "qweb",
                "inherit_id": self.env.ref("web.frontend_layout").id,
                "arch": '<xpath expr="//head" position="inside">'
                '<script src="https://tracker.example.com/t.js"/></xpath>',
            }
        )
        for path in (base, f"{base}/pay/{self.late.currency_id.id}"):
            self.assertNotIn("tracker.example.com", self.url_open(path).text)

    def test_nothing_from_the_page_opens_after_revocation(self):
        page, links = self._collect()
        self.assertIn(f"/my/collections/invoice/{self.late.id}/pdf", links)
        self.assertIn(f"/my/collections/invoice/{self.late.id}/pay", links)
        self.assertNotIn("access_token", page.text)
        self.customer.action_dunning_revoke_portal_link()
        self._assert_nothing_opens(page, links)

    def test_nothing_from_the_page_opens_after_expiry(self):
        self.company_a.dunning_portal_link_days = 1
        token = self.customer.with_company(self.company_a)._dunning_portal_token(
            now=time.time() - 86400 + 60
        )
        page, links = self._collect(f"/collections/{token}")
        cookie_expiry = int(self.opener.cookies.get(PAGE_COOKIE).split("-")[2])
        self.assertLessEqual(cookie_expiry, int(token.split("-")[2]))
        with patch(f"{SESSION_TIME}.time", return_value=time.time() + 120):
            self._assert_nothing_opens(page, links)

    def test_session_ends_two_hours_later_at_most(self):
        self.open_page()
        value = self.opener.cookies.get(PAGE_COOKIE)
        Partner = self.env["res.partner"]
        self.assertTrue(Partner._dunning_portal_check_session(value))
        later = time.time() + 2 * 3600 + 5
        self.assertIsNone(Partner._dunning_portal_check_session(value, now=later))

    def test_tampered_or_foreign_session_opens_nothing(self):
        self.open_page()
        value = self.opener.cookies.get(PAGE_COOKIE)
        partner_id, company_id, expiry, signature = value.split("-")
        tampered = ("0" if signature[0] != "0" else "1") + signature[1:]
        for forged in (
            f"{partner_id}-{company_id}-{expiry}-{tampered}",
            f"{self.other.id}-{company_id}-{expiry}-{signature}",
            f"{partner_id}-{self.company_b.id}-{expiry}-{signature}",
            f"{partner_id}-{company_id}-{int(expiry) + 3600}-{signature}",
        ):
            self.opener.cookies.set(PAGE_COOKIE, forged, path="/my/collections")
            response = self.url_open("/my/collections")
            self.assertEqual(response.status_code, 403, forged)
            self.assertNotIn(self.late.name, response.text)
            self.assertNotIn("Globex", response.text)

    def test_invoice_access_tokens_handed_out_before_stop_working(self):
        self.late._portal_ensure_token()
        old = f"/my/invoices/{self.late.id}?access_token={self.late.access_token}"
        self.assertEqual(self.url_open(old, allow_redirects=False).status_code, 200)
        self.customer._dunning_portal_forget_invoice_access()
        response = self.url_open(old, allow_redirects=False)
        self.assertNotEqual(response.status_code, 200)
