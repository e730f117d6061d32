"""Hand-written SQL that agrees with the ORM cache.

Set-based statements beat the ORM on the engine's hot paths (see docs/DESIGN.md),
but the ORM keeps pending writes and cached values of its own. Every statement
that reads or writes the tables behind ORM fields goes through ``run_sql``: it
flushes the fields the statement reads or writes first, and invalidates the
fields it wrote after, so neither side overwrites or hides the other.

The values of company-dependent fields, one jsonb column each keyed by company,
are stored and removed for one company with ``set_company_values`` and
``clear_company_values``.

Records given a value each are written in one go with ``write_each``: the
ORM's notifications of the change run once for them all, not once per record.

Planner settings (``jit``, ``random_page_cost``) go through ``sql_settings``:
they hold for the statements inside the ``with`` block only, not for the rest
of the transaction.
"""

from contextlib import contextmanager

from odoo.tools import SQL


def _fields_by_model(spec):
    """``{"res.partner": ["phone"], "account.move": None}`` (None: every
    field) or an iterable of model names, as ``(model, fields)`` pairs."""
    if isinstance(spec, dict):
        return list(spec.items())
    return [(model, None) for model in spec]


def run_sql(env, query, *, reads=(), writes=()):
    """Execute ``query`` and return its rows (if it returns any).

    ``reads`` and ``writes`` name the ORM models and fields the statement
    touches: a dict ``{model: [field, ...] or None}`` or a list of models
    (every field). Pending ORM writes to all of them are flushed first; the
    cache of ``writes`` is invalidated after, so the next ORM read sees what
    the statement wrote."""
    written = _fields_by_model(writes)
    for model, fnames in _fields_by_model(reads) + written:
        env[model].flush_model(fnames)
    rows = env.execute_query(query)
    for model, fnames in written:
        env[model].invalidate_model(fnames)
    return rows


def clear_company_values(env, model, columns, company, where, *, reads=()):
    """Remove ``company``'s value of the company-dependent ``columns`` of
    ``model`` from the rows matching ``where`` (SQL on the model's table)."""
    key = str(company.id)
    run_sql(
        env,
        SQL(
            "UPDATE %s SET %s WHERE %s",
            SQL.identifier(env[model]._table),
            SQL(", ").join(
                SQL("%s = %s - %s", SQL.identifier(column), SQL.identifier(column), key)
                for column in columns
            ),
            where,
        ),
        reads=reads,
        writes={model: list(columns)},
    )


def set_company_values(env, model, columns, company, values, *, reads=()):
    """Set ``company``'s value of the company-dependent ``columns`` of
    ``model`` from ``values``: a query answering one row per record, its id
    then its value of each of ``columns`` in that order.

    Rows whose values are already right are left alone: each row rewritten
    costs a new row version."""
    key = str(company.id)
    run_sql(
        env,
        SQL(
            "UPDATE %s AS stored SET %s FROM (%s) AS v(id, %s) "
            "WHERE stored.id = v.id AND (%s)",
            SQL.identifier(env[model]._table),
            SQL(", ").join(
                SQL(
                    "%s = COALESCE(stored.%s, '{}'::jsonb) "
                    "|| jsonb_build_object(%s, v.%s)",
                    SQL.identifier(column),
                    SQL.identifier(column),
                    key,
                    SQL.identifier(column),
                )
                for column in columns
            ),
            values,
            SQL(", ").join(SQL.identifier(column) for column in columns),
            SQL(" OR ").join(
                SQL(
                    "stored.%s -> %s IS DISTINCT FROM "
                    "COALESCE(to_jsonb(v.%s), 'null'::jsonb)",
                    SQL.identifier(column),
                    key,
                    SQL.identifier(column),
                )
                for column in columns
            ),
        ),
        reads=reads,
        writes={model: list(columns)},
    )


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


@contextmanager
def sql_settings(env, **settings):
    """PostgreSQL settings for the statements run inside the block only.

    ``SET LOCAL`` alone would last until the end of the transaction and
    change the plans of every later query of the same request or job; the
    previous values are put back when the block ends. On an error the
    transaction (or its savepoint) is rolled back, which undoes the settings
    too."""
    # One statement reads the previous values and sets the new ones: the
    # select list is evaluated from left to right.
    previous = env.execute_query(
        SQL(
            "SELECT %s, %s",
            SQL(", ").join(SQL("current_setting(%s)", name) for name in settings),
            _assignments({name: str(value) for name, value in settings.items()}),
        )
    )[0][: len(settings)]
    yield
    env.execute_query(SQL("SELECT %s", _assignments(dict(zip(settings, previous)))))


def _assignments(values):
    return SQL(", ").join(
        SQL("set_config(%s, %s, true)", name, value) for name, value in values.items()
    )
