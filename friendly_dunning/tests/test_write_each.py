from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged

from ..models.raw_sql import write_each


@tagged("post_install", "-at_install")
class TestWriteEach(TransactionCase):
    """``write_each``: a value per record, written as one write."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.acme, cls.globex = Partner.create(
            [
                {"name": "Acme", "is_company": True},
                {"name": "Globex", "is_company": True},
            ]
        )
        cls.contacts = Partner.create(
            [{"name": f"Contact {index}"} for index in range(4)]
        )

    def test_each_record_gets_its_value_and_dependents_follow(self):
        parents = [self.acme, self.globex, self.acme, self.globex]
        write_each(
            self.contacts,
            [
                {"parent_id": parent.id, "ref": f"R{index}"}
                for index, parent in enumerate(parents)
            ],
        )
        self.env.flush_all()
        self.env.invalidate_all()
        for index, (contact, parent) in enumerate(
            zip(self.contacts, parents, strict=True)
        ):
            self.assertEqual(contact.parent_id, parent)
            self.assertEqual(contact.ref, f"R{index}")
            # A stored field computed from the written one is recomputed.
            self.assertEqual(contact.commercial_partner_id, parent)
        self.assertEqual(self.acme.child_ids, self.contacts[0] | self.contacts[2])

    def test_one_round_of_recomputation_for_the_whole_batch(self):
        """Fewer queries than a write per record: what depends on the
        change is looked up once."""
        cr = self.env.cr
        Partner = self.env["res.partner"]
        singly = Partner.create([{"name": f"Single {index}"} for index in range(5)])
        batch = Partner.create([{"name": f"Batch {index}"} for index in range(5)])
        self.env.flush_all()
        before = cr.sql_log_count
        for contact in singly:
            contact.write({"parent_id": self.acme.id})
            self.env.flush_all()
        one_by_one = cr.sql_log_count - before
        before = cr.sql_log_count
        write_each(batch, [{"parent_id": self.acme.id}] * 5)
        self.env.flush_all()
        self.assertLess((cr.sql_log_count - before) * 2, one_by_one)
        self.assertEqual(batch.commercial_partner_id, self.acme)

    def test_refuses_fields_it_cannot_write_alone(self):
        with self.assertRaises(ValueError):
            write_each(self.contacts[:1], [{"commercial_partner_id": self.acme.id}])
        with self.assertRaises(ValueError):
            write_each(self.contacts[:1], [{"child_ids": []}])

    def test_checks_the_users_rights(self):
        portal = self.env["res.users"].create(
            {
                "name": "Portal Pat",
                "login": "portal.pat@example.com",
                "group_ids": [(6, 0, [self.env.ref("base.group_portal").id])],
            }
        )
        with self.assertRaises(AccessError):
            write_each(self.contacts[:1].with_user(portal), [{"ref": "stolen"}])
