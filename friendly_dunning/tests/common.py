from datetime import datetime, timedelta

from odoo.tests import new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

# The moment most engine tests freeze: a Tuesday, inside the sending window.
NOW = datetime(2026, 6, 30, 10, 0)  # 10:00 UTC
TODAY = NOW.date()


def days(offset):
    """The date ``offset`` days from ``TODAY``."""
    return TODAY + timedelta(days=offset)


class DunningCommon(AccountTestInvoicingCommon):
    """Two companies, each with its collections defaults, and one collections
    user and one collections manager per company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The accountant the account tests run as also manages collections.
        cls.env.user.group_ids |= cls.env.ref("friendly_dunning.group_dunning_manager")
        cls.company_a = cls.company_data["company"]
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.companies = cls.company_a | cls.company_b
        cls.companies._dunning_ensure_defaults()
        # As after a manager turned automatic sending on (off after install).
        cls.companies.write({"dunning_auto_send": True})
        cls.dunning_user_a = cls._dunning_new_user(
            "dunning_user_a", cls.company_a, "friendly_dunning.group_dunning_user"
        )
        cls.dunning_manager_a = cls._dunning_new_user(
            "dunning_manager_a", cls.company_a, "friendly_dunning.group_dunning_manager"
        )

    @classmethod
    def _dunning_users_around(cls, customer):
        """Who else may ask about ``customer``: ``employee``, an employee of
        company A with no accounting rights; ``billing``, an invoicing user of
        company A; ``portal_user``, the customer's own portal login."""
        cls.employee = new_test_user(
            cls.env,
            login="employee",
            groups="base.group_user",
            company_id=cls.company_a.id,
            company_ids=[cls.company_a.id],
        )
        cls.billing = cls._dunning_new_user(
            "billing", cls.company_a, "account.group_account_invoice"
        )
        cls.portal_user = new_test_user(
            cls.env, login="acme_portal", groups="base.group_portal"
        )
        cls.portal_user.partner_id.parent_id = customer

    @classmethod
    def _dunning_new_user(cls, login, company, groups):
        return new_test_user(
            cls.env,
            login=login,
            groups=f"base.group_user,{groups}",
            company_id=company.id,
            company_ids=[company.id],
        )

    @classmethod
    def _dunning_customer(cls, name, **values):
        return cls.env["res.partner"].create(
            {"name": name, "is_company": True, "email": f"{name.lower()}@example.com"}
            | values
        )

    @classmethod
    def _dunning_invoice(cls, partner, due, amount=100.0, invoice_date=None, **values):
        """A posted invoice of ``amount`` (no tax) due on ``due``."""
        invoice = cls._create_invoice_one_line(
            price_unit=amount,
            tax_ids=[],
            partner_id=partner,
            invoice_date=invoice_date or due,
            invoice_date_due=due,
            invoice_payment_term_id=False,
            **values,
        )
        invoice.action_post()
        return invoice

    @classmethod
    def _dunning_pay(cls, invoice, date, amount=None):
        values = {"payment_date": date}
        if amount is not None:
            values["amount"] = amount
        cls.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create(values)._create_payments()
