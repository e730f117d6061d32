"""What the planner decides, as plain values: the instalments a message
speaks of (:class:`InvoiceLine`), the channel that reaches a contact
(:class:`Route`), what one customer gets (:class:`Decision`) and what decides
it (:class:`Reach`, :class:`SendingLimits`).
"""

from dataclasses import dataclass, field, replace
from datetime import date
from typing import NamedTuple


class InvoiceLine(NamedTuple):
    """What a message says of one instalment due (for an invoice with a
    single due date, of the invoice), and what the run records on it."""

    id: int  # the invoice (account.move)
    name: str
    due: date
    residual: float  # in the invoice's currency
    currency_id: int
    residual_signed: float  # in the company's currency
    has_access_token: bool
    line_id: int | None = None  # the receivable line; None: the whole invoice
    instalment: int = 1  # its place among the invoice's instalments
    instalments: int = 1  # how many the invoice has


def invoice_lines(invoices):
    """The invoices ``invoices`` as :class:`InvoiceLine`, oldest due first:
    one per instalment still owed of an open invoice with several, one per
    invoice otherwise."""
    lines = []
    for move in invoices:
        terms = move.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).sorted(lambda line: (line.date_maturity, line.id))
        owed = terms.filtered(lambda line: not line.reconciled)
        if len(terms) > 1 and owed and move.payment_state in ("not_paid", "partial"):
            lines += [
                InvoiceLine(
                    move.id,
                    move.name,
                    line.date_maturity,
                    line.amount_residual_currency,
                    move.currency_id.id,
                    line.amount_residual,
                    bool(move.access_token),
                    line.id,
                    list(terms).index(line) + 1,
                    len(terms),
                )
                for line in owed
            ]
            continue
        lines.append(
            InvoiceLine(
                move.id,
                move.name,
                move.invoice_date_due,
                move.amount_residual,
                move.currency_id.id,
                move.amount_residual_signed,
                bool(move.access_token),
            )
        )
    return sorted(lines, key=_by_due_date)


def instalments_due(invoices, today):
    """What ``invoices`` ask the customer to pay by ``today``, as
    :class:`InvoiceLine`, oldest due first: the instalments due by then, and
    of an invoice with none due yet its next one (for an invoice with a single
    due date, the invoice)."""
    owed_by_invoice = {}
    for line in invoice_lines(invoices):
        owed_by_invoice.setdefault(line.id, []).append(line)
    chosen = []
    for owed in owed_by_invoice.values():
        chosen += [line for line in owed if line.due and line.due <= today] or owed[:1]
    return sorted(chosen, key=_by_due_date)


def _by_due_date(line):
    return line.due, line.id, line.line_id or 0


@dataclass(frozen=True)
class Route:
    """The channel that reaches a contact, or why none does."""

    channel: str | None = None
    channel_record: object = None  # the dunning.channel that carries it
    recipient: str | None = None
    unreachable_reason: str | None = None


@dataclass(frozen=True, eq=False)
class Decision:
    """What one customer gets from one planning: a message, or why not.

    Exactly one outcome holds: held for now (``hold_reason``: quiet hours,
    quiet day or frequency cap, a later run reaches them), unreachable
    (``unreachable_reason``, recorded as a failed message), or sendable
    (``channel``, ``recipient``, ``subject`` and ``body``)."""

    partner: object  # res.partner, the commercial partner
    contact: object  # res.partner written to
    step: object  # dunning.step whose wording (and bookkeeping) applies
    invoices: object  # account.move covered by the message
    # The instalments due as InvoiceLine, oldest due first (read from
    # ``invoices`` when not given).
    lines: tuple | None = None
    # Instalment (receivable line) id: id of the step it reaches (what the
    # run records as done).
    step_by_instalment: dict = field(default_factory=dict)
    kind: str = "reminder"
    # (record, subject field, body field) of the texts; None: the step's.
    texts: tuple | None = None
    channel: str | None = None
    channel_record: object = None
    recipient: str | None = None
    subject: str | None = None
    body: str | None = None
    hold_reason: str | None = None
    unreachable_reason: str | None = None
    # What the compliance guard did (see ComplianceGuard): the pack applied
    # (a dunning.compliance.pack, or None), allowed / held / changed, and why.
    compliance_pack: object = None
    compliance_outcome: str | None = None
    compliance_note: str | None = None
    # The running experiment of the step (a dunning.experiment) and the
    # variant it gives this customer; with a hold-out's challenger variant,
    # ``held_out``: the step is done for them, no message leaves.
    experiment: object = None
    variant: str | None = None
    held_out: bool = False

    def __post_init__(self):
        if self.lines is None:
            object.__setattr__(self, "lines", tuple(invoice_lines(self.invoices)))

    @property
    def is_held(self):
        return bool(self.hold_reason)

    @property
    def is_unreachable(self):
        return bool(self.unreachable_reason)

    @property
    def is_sendable(self):
        return bool(self.channel) and not (self.hold_reason or self.unreachable_reason)

    def routed(self, route):
        """This decision sent the way ``route`` says (or unreachable)."""
        return replace(
            self,
            channel=route.channel,
            channel_record=route.channel_record,
            recipient=route.recipient,
            unreachable_reason=route.unreachable_reason,
        )

    def with_text(self, subject, body):
        """This decision with its message's subject and body."""
        return replace(self, subject=subject, body=body)

    def with_compliance(self, pack, outcome, note, body=None):
        """This decision as the compliance guard left it: its ``pack``,
        ``outcome`` and ``note``, and the ``body`` it completed (unchanged
        when not given)."""
        return replace(
            self,
            compliance_pack=pack,
            compliance_outcome=outcome,
            compliance_note=note,
            body=self.body if body is None else body,
        )

    def as_unreachable(self, reason):
        """This decision recorded as unreachable, for ``reason``."""
        return replace(self, channel=None, unreachable_reason=reason)


@dataclass(frozen=True)
class Reach:
    """What decides whether a channel may be used for some customers: whom to
    write to, the contacts' numbers, the e-mail and phone blacklists and the
    customers' consent ledger."""

    contacts: dict  # customer id: contact written to
    numbers: dict  # contact id: (E.164 number, problem)
    blocked_emails: set
    blocked_phones: set
    consents: dict  # (customer id, channel): latest consent state


@dataclass(frozen=True)
class SendingLimits:
    """What holds a message back at this moment: a quiet day, and the
    messages each customer already received in the last day and week."""

    quiet_day: str | None
    sent_today: dict
    sent_week: dict
