from odoo import models


def write_each(records, values_list):
    """``records[i].write(values_list[i])`` for every i, as one write: the
    ORM's notifications of the change (what depends on the fields before and
    after it) run once for all the records instead of once per record, which
    is what makes many single-record writes slow.

    For fields stored in a column of their own, without an inverse (a
    computed field only if it may be written), and without the model's own
    ``write`` overrides: the caller knows they have nothing to do for these
    fields."""
    if not records:
        return
    fnames = {fname for values in values_list for fname in values}
    protected = set()
    for fname in fnames:
        field = records._fields[fname]
        if (
            not (field.store and field.column_type)
            or field.inverse
            or (field.compute and field.readonly)
        ):
            raise ValueError(f"write_each() cannot write {records._name}.{fname}")
        if field.compute:
            protected.update(records.pool.field_computed.get(field, [field]))
    records.check_access("write")
    for fname in fnames:
        records._check_field_access(records._fields[fname], "write")
    # As write(): computed alongside a written field, computed first.
    to_compute = [field.name for field in protected if field.name not in fnames]
    if to_compute:
        records._recompute_recordset(to_compute)
    modifying = [
        fname
        for fname in fnames
        if records.pool.is_modifying_relations(records._fields[fname])
    ]
    with records.env.protecting(protected, records):
        records.modified(modifying, before=True)
        for record, values in zip(records, values_list, strict=True):
            for fname, value in values.items():
                record._fields[fname].write(record, value)
        if records._log_access:
            records._fields["write_uid"].write(records, records.env.uid)
            records._fields["write_date"].write(records, records.env.cr.now())
            fnames |= {"write_uid", "write_date"}
        records.modified(fnames)
        records._validate_fields(fnames)
    if records._check_company_auto:
        records._check_company(list(fnames))


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def _generate_journal_entry(
        self, write_off_line_vals=None, force_balance=None, line_ids=None
    ):
        """With ``dunning_batch_entries`` in the context (the automatic
        payments' job posting a batch of payments), the journal entries are
        created as Odoo does and linked to their payments in one write instead
        of one write per payment. The payment's own ``write`` would only
        synchronise fields that are not written here, and the job writes with
        tracking off."""
        if (
            not self.env.context.get("dunning_batch_entries")
            or write_off_line_vals
            or force_balance
            or line_ids
        ):
            return super()._generate_journal_entry(
                write_off_line_vals=write_off_line_vals,
                force_balance=force_balance,
                line_ids=line_ids,
            )
        need_move = self.filtered(lambda p: not p.move_id and p.outstanding_account_id)
        moves = self.env["account.move"].create(
            [payment._generate_move_vals() for payment in need_move]
        )
        write_each(
            need_move,
            [{"move_id": move.id, "state": "in_process"} for move in moves],
        )
        return None
