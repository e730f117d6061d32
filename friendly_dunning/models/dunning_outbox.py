"""The outbox writer: what the engine decided, stored as the ORM would store
it but set-based, a few statements per batch whatever its size."""

from collections import defaultdict
from datetime import timedelta

from odoo.tools import SQL
from odoo.tools.mail import generate_tracking_message_id

from .raw_sql import run_sql
from .res_partner_collections_link import mask_portal_links

# Columns of the outbox records the engine writes, with their SQL types.
MESSAGE_COLUMNS = (
    ("company_id", "int"),
    ("partner_id", "int"),
    ("kind", "varchar"),
    ("date", "timestamp"),
    ("step_id", "int"),
    ("policy_id", "int"),
    ("amount_due", "float8"),
    ("state", "varchar"),
    ("error_message", "text"),
    ("channel", "varchar"),
    ("channel_id", "int"),
    ("recipient", "varchar"),
    ("subject", "varchar"),
    ("body", "text"),
    ("needs_review", "bool"),
    ("compliance_pack_id", "int"),
    ("compliance_note", "text"),
)


class DunningOutbox:
    """Writes the decisions of a :class:`~.dunning_planner.DunningPlanner`:
    the ``dunning.communication`` records and their invoices, a chatter note
    per message, the accountant's to-dos (and their following the customer),
    and each invoice's step done."""

    def __init__(self, planner):
        self.planner = planner
        self.env = planner.env
        self.company = planner.company
        self.now = planner.now
        self.today = planner.today
        self.sandbox = planner.sandbox
        self.guard = planner.guard
        self.Communication = planner.env["dunning.communication"].sudo()
        self.Step = planner.Step
        self.renderer = planner.renderer
        self._later_offsets = {}
        # Who gets the to-do about a customer with no salesperson of their own
        # nor on the invoices: the same user for the whole run.
        self._fallback_user = None

    def queue(self, decisions):
        """Create the outbox records of ``decisions`` (a failed one, with the
        reason, for each unreachable customer; nothing for a held one, whose
        step stays due for a later run, nor for one an experiment holds out,
        whose step is done), log them and mark the invoices' steps done.
        Every message passes the compliance guard last, whoever wrote its
        text. Returns the counts ``{"queued", "unreachable", "held",
        "held_out"}`` and the records created."""
        counts = {"queued": 0, "unreachable": 0, "held": 0, "held_out": 0}
        to_create = []
        done = []
        held_out = []
        decisions = self.env["dunning.experiment"]._dunning_assign(
            self.planner, decisions
        )
        for decision in decisions:
            if decision.is_held:
                counts["held"] += 1
                continue
            if decision.held_out:
                counts["held_out"] += 1
                held_out.append(decision)
                continue
            step = decision.step
            values = {
                "company_id": self.company.id,
                "partner_id": decision.partner.id,
                "kind": decision.kind,
                "date": self.now,
                "step_id": step.id,
                # Given rather than computed after the INSERT, in one UPDATE more.
                "policy_id": step.policy_id.id,
                "amount_due": sum(line.residual_signed for line in decision.lines),
            }
            if decision.is_unreachable:
                counts["unreachable"] += 1
                values |= {
                    "state": "failed",
                    "error_message": decision.unreachable_reason,
                }
            else:
                counts["queued"] += 1
                decision = self.guard.finish(decision)
                values |= {
                    "state": "queued",
                    "channel": decision.channel,
                    "channel_id": decision.channel_record.id,
                    "recipient": decision.recipient,
                    "subject": decision.subject,
                    "body": decision.body,
                    "needs_review": step.manual_review and decision.kind == "reminder",
                    "compliance_pack_id": decision.compliance_pack.id or False,
                    "compliance_note": decision.compliance_note,
                }
            to_create.append(values)
            done.append(decision)
        messages = self._insert_messages(to_create)
        self._link_invoices(messages, done)
        self._log_in_chatter(to_create)
        self._schedule_activities(done)
        self._mark_steps_done(done + held_out)
        self._pull_charge_levers([d for d in done if d.is_sendable])
        return counts, messages

    def _pull_charge_levers(self, decisions):
        """For the reminders sent: record the waiver their step offered on the
        invoices with late charges, and mark for invoicing the charges of the
        invoices with an instalment that reached a step invoicing them."""
        charges = self.renderer._late_charges
        if not charges:
            return
        Move = self.env["account.move"].sudo()
        offered = Move
        to_invoice = Move
        invoices_charges = self.company.dunning_interest_use == "invoiced"
        for decision in decisions:
            if decision.kind != "reminder":
                continue
            charged = decision.invoices.filtered(
                lambda invoice: (
                    (found := charges.get(invoice))
                    and (found["interest"] or found["fee"])
                )
            )
            if decision.step.offer_charge_waiver:
                offered |= charged
            if invoices_charges:
                reached = Move.browse(
                    {
                        line.id
                        for line in decision.lines
                        if self.Step.browse(
                            decision.step_by_instalment.get(line.line_id)
                        ).invoice_late_charges
                    }
                )
                to_invoice |= charged & reached
        if offered:
            offered._dunning_offer_waiver(self.renderer.waiver_until())
        if to_invoice:
            to_invoice.dunning_charges_to_invoice = True

    def _insert_messages(self, values_list):
        """Store the outbox records, in the order given, in one INSERT that
        takes each column as one array: what ``create`` would store for these
        values (no other field of the outbox has a default), without building
        each record in memory first."""
        Communication = self.Communication
        if not values_list:
            return Communication
        now = self.env.cr.now()
        columns = SQL(", ").join(
            SQL.identifier(name) for name, _type in MESSAGE_COLUMNS
        )
        rows = run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_communication (%s, create_uid, create_date, "
                "write_uid, write_date) "
                "SELECT %s, %s, %s, %s, %s FROM unnest(%s) "
                "WITH ORDINALITY AS v(%s, position) ORDER BY position "
                "RETURNING id",
                columns,
                SQL(", ").join(
                    SQL("v.%s", SQL.identifier(name)) for name, _type in MESSAGE_COLUMNS
                ),
                self.env.uid,
                now,
                self.env.uid,
                now,
                SQL(", ").join(
                    SQL(
                        "%s::%s[]",
                        [
                            # False is the ORM's "no value": NULL in SQL.
                            value if value is not False or sql_type == "bool" else None
                            for value in (values.get(name) for values in values_list)
                        ],
                        SQL(sql_type),
                    )
                    for name, sql_type in MESSAGE_COLUMNS
                ),
                columns,
            ),
            writes={
                "dunning.communication": None,
                "res.partner": ["dunning_communication_ids"],
            },
        )
        return Communication.browse([row[0] for row in rows])

    def _link_invoices(self, messages, decisions):
        """Link each message to the invoices it covers, in one INSERT: the
        ORM's many2many write reads each new message's (empty) links first."""
        rows = [
            (message.id, move_id)
            for message, decision in zip(messages, decisions, strict=True)
            for move_id in decision.invoices.ids
        ]
        if not rows:
            return
        message_ids, move_ids = zip(*rows, strict=True)
        run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_communication_account_move_rel "
                "(communication_id, move_id) "
                "SELECT * FROM unnest(%s::int[], %s::int[])",
                list(message_ids),
                list(move_ids),
            ),
            writes={
                "dunning.communication": ["move_ids"],
                "account.move": ["dunning_communication_ids"],
            },
        )

    def _log_in_chatter(self, values_list):
        """One note per message on the customer, as ``mail.message.create``
        would store it, in one INSERT; ``values_list`` holds what each message
        was created with (``_insert_messages``), so nothing is read back.

        Every employee who may read the customer reads its chatter: the note
        shows the text with its collections link masked; the outbox record
        keeps the working one for sending.

        The ORM would sanitize each body again (it is built from escaped text
        already) and update, for each note, the cached message list of every
        customer of the batch: time that grows with the square of the batch.
        """
        logged = [values for values in values_list if values["state"] != "failed"]
        if not logged:
            return
        sandbox_ids = set(self.sandbox.ids)
        note = self.env.ref("mail.mt_note")
        author = self.env.user.partner_id
        sender = self.company.email_formatted or author.email_formatted or None
        now = self.env.cr.now()
        titles = {}
        partner_ids = [values["partner_id"] for values in logged]
        # Each column as one array: one SQL fragment per note would cost more
        # than the INSERT itself.
        run_sql(
            self.env,
            SQL(
                "INSERT INTO mail_message (model, res_id, message_type, subtype_id, "
                "author_id, email_from, reply_to, message_id, body, date, "
                "create_uid, create_date, write_uid, write_date) "
                "SELECT 'res.partner', v.res_id, 'notification', %s, %s, %s, %s, "
                "v.message_id, v.body, %s, %s, %s, %s, %s "
                "FROM unnest(%s::int[], %s::varchar[], %s::text[]) "
                "AS v(res_id, message_id, body)",
                note.id,
                author.id,
                sender,
                sender,
                now,
                self.env.uid,
                now,
                self.env.uid,
                now,
                partner_ids,
                [
                    generate_tracking_message_id(f"{partner_id}-res.partner")
                    for partner_id in partner_ids
                ],
                [
                    str(
                        self.Communication._chatter_note(
                            values["channel"],
                            values["channel_id"] in sandbox_ids,
                            bool(values["needs_review"]),
                            mask_portal_links(values["body"]),
                            titles,
                        )
                    )
                    for values in logged
                ],
            ),
            writes={
                "mail.message": None,
                "res.partner": [
                    "message_ids",
                    "message_needaction",
                    "message_needaction_counter",
                ],
            },
        )

    def _schedule_activities(self, decisions):
        """A to-do for the responsible accountant of each customer whose step
        asks for one, stored as ``mail.activity.create`` would store it but in
        one INSERT: the ORM creates them one by one and re-reads each customer.

        As Odoo does, the accountant follows the customers given to them (in
        one call per accountant) and their activity counter is told once; no
        e-mail per activity, which would be a flood: the to-dos wait in the
        accountant's list and the bell.
        """
        with_activity = [
            d for d in decisions if d.kind == "reminder" and d.step.create_activity
        ]
        if not with_activity:
            return
        todo = self.env.ref("mail.mail_activity_data_todo")
        model_id = self.env["ir.model"]._get_id("res.partner")
        now = self.env.cr.now()
        rows = []
        by_user = defaultdict(list)
        for decision in with_activity:
            partner = decision.partner
            user = self._responsible_user(decision)
            by_user[user].append(partner.id)
            rows.append(
                SQL(
                    "(%s, 'res.partner', %s, %s, %s, %s, %s, %s, %s, TRUE, TRUE, "
                    "%s, %s, %s, %s)",
                    model_id,
                    partner.id,
                    partner.complete_name,
                    todo.id,
                    user.id,
                    user.tz,
                    self.env._("Follow up: %(step)s", step=decision.step.name),
                    self.today,
                    self.env.uid,
                    now,
                    self.env.uid,
                    now,
                )
            )
        run_sql(
            self.env,
            SQL(
                "INSERT INTO mail_activity (res_model_id, res_model, res_id, "
                "res_name, activity_type_id, user_id, user_tz, summary, "
                "date_deadline, automated, active, create_uid, create_date, "
                "write_uid, write_date) VALUES %s",
                SQL(", ").join(rows),
            ),
            writes={"mail.activity": None, "res.partner": ["activity_ids"]},
        )
        for user, partner_ids in by_user.items():
            self._follow(partner_ids, user.partner_id)
            user._bus_send(
                "mail.activity/updated",
                {"activity_created": True, "count_diff": len(partner_ids)},
            )

    def _responsible_user(self, decision):
        """``res.partner._dunning_responsible_user`` of the decision's
        customer, without a query per customer: only the invoices'
        salesperson is read (for the whole batch at once), and the company's
        fallback user is looked up once per run."""
        partner = decision.partner
        # Oldest due first: the salesperson of the oldest invoice comes first.
        invoices = (
            decision.invoices.browse(
                list(dict.fromkeys(line.id for line in decision.lines))
            )
            .with_prefetch(decision.invoices._prefetch_ids)
            .with_context(prefetch_fields=False)
        )
        if partner.user_id or invoices.invoice_user_id:
            return partner._dunning_responsible_user(invoices)
        if self._fallback_user is None:
            self._fallback_user = partner._dunning_responsible_user(invoices)
        return self._fallback_user

    def _follow(self, partner_ids, follower):
        """Make ``follower`` follow the customers ``partner_ids`` with the
        default subtypes, as ``message_subscribe`` does, keeping any existing
        subscription; in two statements rather than one ``mail.followers``
        record created at a time."""
        default, _internal, external = self.env[
            "mail.message.subtype"
        ].default_subtypes("res.partner")
        subtypes = external if follower.partner_share else default
        written = {
            "mail.followers": None,
            "res.partner": [
                "message_follower_ids",
                "message_partner_ids",
                "message_is_follower",
            ],
        }
        rows = run_sql(
            self.env,
            SQL(
                "INSERT INTO mail_followers (res_model, res_id, partner_id) "
                "SELECT 'res.partner', res_id, %s FROM unnest(%s::int[]) AS res_id "
                "ON CONFLICT (res_model, res_id, partner_id) DO NOTHING RETURNING id",
                follower.id,
                partner_ids,
            ),
            writes=written,
        )
        if rows and subtypes:
            run_sql(
                self.env,
                SQL(
                    "INSERT INTO mail_followers_mail_message_subtype_rel "
                    "(mail_followers_id, mail_message_subtype_id) "
                    "SELECT follower_id, subtype_id "
                    "FROM unnest(%s::int[]) AS follower_id, "
                    "unnest(%s::int[]) AS subtype_id",
                    [row[0] for row in rows],
                    subtypes.ids,
                ),
                writes=written,
            )

    def _mark_steps_done(self, decisions):
        """Remember, per instalment, the step reached, today, and when the
        next step falls due (``dunning.invoice.progress``); and give the
        invoice each sent message links to (the oldest it covers) its portal
        access token, so that sending does not write one per message.

        The next step falls due at its offset from the instalment's due date,
        and after an overdue step not before the policy's gap has passed."""
        steps = {}  # instalment id: (invoice id, step id, next date)
        without_token = []
        for decision in decisions:
            lines = decision.lines
            for line in lines:
                step_id = decision.step_by_instalment.get(line.line_id)
                if not step_id:
                    continue
                next_offset, gap = self._next_offset(step_id)
                next_date = None
                if next_offset is not None:
                    next_date = max(
                        line.due + timedelta(days=next_offset),
                        self.today + timedelta(days=gap),
                    )
                steps[line.line_id] = (line.id, step_id, next_date)
            if decision.is_sendable and lines and not lines[0].has_access_token:
                without_token.append(lines[0].id)
        self.env["dunning.invoice.progress"]._dunning_record_steps(
            self.company, self.today, steps
        )
        # Only the token column is read back: the invoices' other columns are
        # of no use here.
        self.env["account.move"].sudo().browse(without_token).with_context(
            prefetch_fields=False
        )._dunning_ensure_access_tokens()

    def _next_offset(self, step_id):
        """``(offset, gap)``: the offset of the step that follows ``step_id``
        in its policy (None after the last), and the days that must pass
        before it (the policy's gap after an overdue step, else none)."""
        if step_id not in self._later_offsets:
            step = self.Step.browse(step_id)
            later = [
                offset
                for offset in step.policy_id.step_ids.mapped("offset_days")
                if offset > step.offset_days
            ]
            self._later_offsets[step_id] = (
                min(later) if later else None,
                step.policy_id.escalation_gap_days if step.offset_days > 0 else 0,
            )
        return self._later_offsets[step_id]
