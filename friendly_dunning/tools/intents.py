"""What a customer means by a reply: rules in English, Spanish and Portuguese.

A rule is a plain dict so that the manager can add or replace rules later::

    {"name": "es.paid", "intent": "paid", "language": "es", "priority": 70,
     "patterns": [r"\\bya pague\\b"]}

or, for quick-reply buttons, ``"payloads": ["ALREADY_PAID"]`` instead of
patterns. Patterns are regular expressions matched against the *folded*
reply: lower case, accents and apostrophes removed, any other punctuation
turned into a space, single spaces, trimmed ("¡Ya pagué!" -> ``ya pague``,
"didn't" -> ``didnt``). Accents and apostrophes are also removed from the
patterns themselves, so a rule may be written "já paguei".

Carrier keywords (STOP, START, HELP ...) must be the whole reply, or for the
unambiguous ones its first word, so "I stopped by the shop" is not an
opt-out; phrases ("no more messages", "não quero mais receber") count
anywhere. When several rules match, the highest ``priority`` wins, then the
first in the list.
"""

import re
import unicodedata
from functools import lru_cache

PAID = "paid"
PAY_NOW = "pay_now"
MORE_TIME = "more_time"
NO_INVOICE = "no_invoice"
DISPUTE = "dispute"
STOP = "stop"
START = "start"
HELP = "help"
TALK = "talk"
OTHER = "other"

PRIORITY = {
    STOP: 100,
    START: 95,
    DISPUTE: 90,
    PAID: 80,
    PAY_NOW: 75,
    NO_INVOICE: 70,
    MORE_TIME: 60,
    TALK: 50,
    HELP: 40,
}

# Replies are short; bounding the text bounds the cost of any custom pattern.
MAX_TEXT_LENGTH = 2000

_POLITE = r"( please| pls| por favor| porfa| obrigad[oa]| gracias| thanks)?"


def _keyword(words):
    """The whole reply is one of ``words`` (optionally said politely)."""
    return rf"^({words}){_POLITE}$"


def _leading(words):
    """The reply starts with one of ``words`` as a whole word."""
    return rf"^({words})\b"


def _rule(intent, language, *patterns):
    return {
        "name": f"{language}.{intent}",
        "intent": intent,
        "language": language,
        "priority": PRIORITY[intent],
        "patterns": list(patterns),
    }


DEFAULT_RULES = [
    {
        "name": f"payload.{intent}",
        "intent": intent,
        "language": "any",
        "priority": PRIORITY[intent],
        "payloads": payloads,
    }
    for intent, payloads in (
        (STOP, ["STOP", "UNSUBSCRIBE", "OPT_OUT"]),
        (DISPUTE, ["DISPUTE", "NOT_MINE"]),
        (PAID, ["ALREADY_PAID", "PAID"]),
        (PAY_NOW, ["PAY_NOW", "PAY"]),
        (NO_INVOICE, ["NO_INVOICE", "SEND_INVOICE"]),
        (MORE_TIME, ["NEED_TIME", "MORE_TIME", "PAYMENT_PLAN"]),
        (TALK, ["TALK", "CALL_ME"]),
    )
] + [
    # Carrier keywords. CANCEL, END, QUIT and REVOKE open many ordinary
    # sentences ("end of month I'll pay"), so only alone do they opt out.
    _rule(
        STOP,
        "en",
        _leading("stop|stopall|unsubscribe|optout|opt out"),
        _keyword("cancel|end|quit|revoke"),
        r"\bunsubscribe\b",
        r"\bno more (messages|texts|sms|reminders|whatsapps?)\b",
        r"\bstop (sending|messaging|texting|contacting|writing|bothering|spamming)\b",
        r"\b(dont|do not) (message|text|contact|write to|whatsapp) (me|us)\b",
        r"\bremove (me|us|my number) from\b",
    ),
    _rule(
        STOP,
        "es",
        _leading("baja|desuscribir|desuscribirme"),
        _keyword("cancelar|basta"),
        r"\bdar(me|nos)? de baja\b",
        r"\bno mas (mensajes|sms|whatsapps?|recordatorios)\b",
        r"\bno quiero (recibir )?(mas )?(mensajes|sms|whatsapps?|recordatorios)\b",
        r"\bno me (escriban|escriba|envien|envie|manden|mande|contacten|molesten)"
        r" mas\b",
        r"\bdejen de (escribir|enviar|mandar|molestar)",
    ),
    _rule(
        STOP,
        "pt",
        _leading("pare|parar|sair|descadastrar"),
        _keyword("cancelar|nao quero( mais)?|chega"),
        r"\bnao quero (mais )?(receber|mensage(m|ns)|sms|whatsapp|contato)\b",
        r"\b(parem|pare|para) de (me )?(mandar|enviar|ligar|perturbar|incomodar)\b",
        r"\bnao (me )?(mandem|mande|envie|enviem) mais\b",
        r"\bchega de mensage(m|ns)\b",
        r"\bdescadastr(ar|e|em|o)\b",
        r"\bsair da lista\b",
    ),
    _rule(START, "en", _keyword("start|unstop"), _leading("unstop")),
    # Asking what one can do: answered with the replies we understand. Any
    # other intent in the same reply wins ("help, I was charged twice").
    _rule(
        HELP,
        "en",
        _keyword("help|info|menu|options"),
        r"\b(i|we) need (some )?help\b",
        r"\bwhat can (i|we) (reply|answer|say|do)\b",
        r"\bhow does (this|it) work\b",
    ),
    _rule(
        HELP,
        "es",
        _keyword("ayuda|informacion|menu|opciones"),
        r"\bnecesit(o|amos) ayuda\b",
        r"\bque (puedo|podemos) (responder|contestar|hacer)\b",
        r"\bcomo funciona\b",
    ),
    _rule(
        HELP,
        "pt",
        _keyword("ajuda|informacao|socorro|menu|opcoes"),
        r"\bpreciso de ajuda\b",
        r"\bo que (eu )?(posso|podemos) (responder|fazer)\b",
        r"\bcomo funciona\b",
    ),
    _rule(
        DISPUTE,
        "en",
        r"\bwrong (amount|invoice|bill|value|price|total|person|customer|number)\b",
        r"\b(amount|invoice|bill|charge|total) (is |was )?(wrong|incorrect)\b",
        r"\b(not|isnt|is not|wasnt|was not) (mine|ours)\b",
        r"\bnot (my|our) (invoice|bill|debt|account|order)\b",
        r"\bdisput(e|ed|ing)\b",
        r"\b(overcharged|double charged|charged twice|billing error)\b",
        r"\b(dont|do not|dont think (i|we)) owe\b",
        r"\b(i|we) (never|didnt|did not) "
        r"(order|ordered|buy|bought|purchase|purchased)\b",
        r"\b(i|we) (never|didnt|did not) (get|receive|received) (the |any |my )?"
        r"(goods|service|order|product|products|delivery)\b",
    ),
    _rule(
        DISPUTE,
        "es",
        r"\b(monto|valor|importe|cobro|precio|total|factura) "
        r"(es |esta )?(incorrect[oa]|equivocad[oa]|errad[oa]|erroneo|indebido|mal)\b",
        r"\bcobro (indebido|duplicado|doble)\b",
        r"\bno es (mia|mio|nuestra|nuestro|mi (factura|deuda|cuenta))\b",
        r"\b(disputa|reclamo|reclamacion|impugnar|impugno)\b",
        r"\bno (le |les )?debo (nada|eso|ese monto|esa factura)\b",
        r"\bno (compre|pedi|solicite|contrate)\b",
        r"\berror en (la|el) (factura|cobro|monto)\b",
        r"\bcobrado dos veces\b",
    ),
    _rule(
        DISPUTE,
        "pt",
        r"\b(valor|cobranca|preco|total|boleto|fatura) "
        r"(esta |ta |veio )?(errad[oa]|incorret[oa]|indevid[oa]|duplicad[oa])\b",
        r"\bcobranca indevida\b",
        r"\bnao (e|eh) (meu|minha|nosso|nossa)\b",
        r"\bnao (comprei|pedi|contratei|solicitei)\b",
        r"\bnao devo (nada|isso|esse valor|essa)\b",
        r"\b(contestar|contestacao|contesto|disputa)\b",
        r"\berro (na|no) (fatura|boleto|cobranca|valor)\b",
        r"\bcobrad[oa] (duas vezes|em dobro)\b",
    ),
    _rule(
        PAID,
        "en",
        _keyword("paid|already paid"),
        r"\b(i|we)(ve| have)? (already |just )?paid\b",
        r"\balready (paid|settled|transferred)\b",
        r"\b(i|we)(ve| have)? (already |just )?(made|sent|done) (the |a )?"
        r"(payment|transfer|deposit)\b",
        r"\b(payment|transfer) (was |has been )?(made|sent|done)\b",
        r"\b(i|we) transferred\b",
        r"\bproof of payment\b",
    ),
    _rule(
        PAID,
        "es",
        _keyword("(ya )?pague|pagado"),
        r"\bya (lo |la |les |le )?(pague|cancele|abone|transferi|deposite)\b",
        r"\bya (hice|realice|efectue|mande|envie) (el |la |un |una )?"
        r"(pago|transferencia|deposito)\b",
        r"(?<!\bno )\b(hice|realice|efectue) (el |la )?(pago|transferencia|deposito)\b",
        r"(?<!\bno )\b(transferi|deposite)\b",
        r"\bpague (ayer|hoy|la factura|el total)\b",
        r"\bya (esta|fue|quedo) pagad[oa]\b",
        r"\bya se pago\b",
        r"\bcomprobante de pago\b",
    ),
    _rule(
        PAID,
        "pt",
        r"(?<!\bnao )(?<!\bno )\b(paguei|transferi|depositei|quitei)\b",
        r"\bja (fiz|efetuei|realizei|mandei) o (pagamento|pix|deposito)\b",
        r"(?<!\bnao )\b(fiz|efetuei|realizei|mandei) o (pagamento|pix|deposito)\b",
        r"\bja (esta|foi|ta) pag[oa]\b",
        r"\bcomprovante\b",
    ),
    _rule(
        NO_INVOICE,
        "en",
        r"\b(didnt|did not|havent|have not|never|dont|do not) "
        r"(get|got|receive|received|see|seen|have)( the| an| any| my| your| this)? "
        r"(invoice|bill|statement)\b",
        r"\b(invoice|bill) (never|didnt|did not|hasnt|has not) "
        r"(arrive|arrived|come|came)\b",
        r"\b(what|which) invoice\b",
        r"\b(send|resend|forward) (me |us )?(again )?(the |a |that )?(copy of the )?"
        r"(invoice|bill)\b",
    ),
    _rule(
        NO_INVOICE,
        "es",
        r"\bno (me )?(he |ha |han )?(recibi|recibido|llego|llegado|tengo|encuentro)"
        r"( la| el| ninguna| ningun| una| un)? (factura|recibo|boleta)\b",
        r"\b(factura|recibo) no (me )?(llego|ha llegado)\b",
        r"\b(que|cual) factura\b",
        r"\b(enviar|mandar|reenviar|envien|envie|manden|mande|reenvien)(me|nos)?"
        r"( de nuevo| otra vez)?( la| el| una| un)? (factura|recibo|boleta)\b",
    ),
    _rule(
        NO_INVOICE,
        "pt",
        r"\bnao (recebi|recebemos|chegou|tenho|encontrei|achei)"
        r"( o| a| nenhum| nenhuma| um| uma)? (boleto|fatura|nota|cobranca)\b",
        r"\b(boleto|fatura) nao (chegou|veio)\b",
        r"\b(qual|que) (boleto|fatura|cobranca)\b",
        r"\b(envia|envie|manda|mande|enviar|mandar|reenviar|reenvia|reenvie)"
        r"( pra mim| para mim)?( de novo| novamente)?( o| a| um| uma)? "
        r"(segunda via|boleto|fatura)\b",
        r"\bsegunda via\b",
    ),
    _rule(
        MORE_TIME,
        "en",
        r"\b(need|want|give me|ask for|request|get) (some |a bit |a little )?"
        r"(more|extra|additional) (time|days)\b",
        r"\b(an |for an )?extension\b",
        r"\bpayment plan\b",
        r"\binstal?l?ments?\b",
        r"\bpay (it )?(later|next week|next month|in parts|partially)\b",
        r"\b(can|could|may) (i|we) pay (it )?(later|next|on|by|at|in|after)\b",
        r"\b(ill|i will|well|we will) pay (it )?"
        r"(next|on|by|at the end|tomorrow|later|after|in)\b",
        r"\b(postpone|delay|defer)\b",
        r"\b(cant|cannot|can not) pay (it )?(now|right now|this month|yet|today)\b",
        r"\bpartial payment\b",
        r"\bsplit (the )?(payment|amount|invoice|bill)\b",
        r"\ba few (more )?days\b",
    ),
    _rule(
        MORE_TIME,
        "es",
        r"\bmas (tiempo|plazo|dias)\b",
        r"\b(unos|algunos) dias( mas)?\b",
        r"\bprorroga\b",
        r"\b(en|a) (cuotas|plazos|partes)\b",
        r"\bplan de pagos?\b",
        r"\bpagar (despues|luego|mas tarde|la proxima semana|el proximo mes)\b",
        r"\b(le |les )?(pago|pagare|pagamos) (el|la proxima|el proximo|manana|"
        r"despues|luego|a fin)\b",
        r"\bno (puedo|podemos) pagar (ahora|este mes|todavia|aun|hoy)\b",
        r"\bpagos? parcial(es)?\b",
        r"\b(aplazar|posponer|diferir)\b",
    ),
    _rule(
        MORE_TIME,
        "pt",
        r"\bmais (uns )?(prazo|tempo|dias)\b",
        r"\b(parcelar|parcelamento|parcelad[oa]|parcelas)\b",
        r"\bpagar (depois|mais tarde|semana que vem|mes que vem|na proxima|"
        r"em partes)\b",
        r"\b(pago|vou pagar|consigo pagar|posso pagar|pagamos) (amanha|semana que vem|"
        r"mes que vem|na (proxima|sexta|segunda)|depois|no dia|ate|dia)\b",
        r"\bnao (consigo|posso|conseguimos) pagar (agora|este mes|esse mes|hoje|ainda|"
        r"no momento)\b",
        r"\b(adiar|prorrogar|prorrogacao)\b",
        r"\bpagamento parcial\b",
    ),
    _rule(
        TALK,
        "en",
        _keyword("agent|human|operator|representative"),
        r"\b(talk|speak|chat) (to|with) (someone|somebody|a (real )?(person|human)|"
        r"an? (agent|operator|representative|manager|advisor)|support|"
        r"customer service|the (manager|team|accountant))\b",
        r"\b(call me|give me a call|phone me|ring me)\b",
    ),
    _rule(
        TALK,
        "es",
        _keyword("asesor|agente|humano|operador"),
        r"\bhablar con (alguien|una persona|un (asesor|agente|humano|ejecutivo|"
        r"representante|operador)|soporte|el gerente|ustedes)\b",
        r"\b(llamenme|llameme|me (pueden|puede|podrian) llamar|me llamen|me llame)\b",
    ),
    _rule(
        TALK,
        "pt",
        _keyword("atendente|humano|atendimento"),
        r"\bfalar com (alguem|uma pessoa|um (atendente|humano|agente|representante|"
        r"operador)|o (gerente|suporte|financeiro)|voces|atendimento)\b",
        r"\b(me liga|me liguem|me ligue|pode me ligar|podem me ligar)\b",
    ),
]


def _strip_accents(text):
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def fold(text):
    """``text`` as the patterns see it: lower case, no accents or apostrophes,
    other punctuation as spaces, single spaces."""
    text = _strip_accents(str(text)[:MAX_TEXT_LENGTH]).casefold()
    text = re.sub(r"['\u2018\u2019\u02bc`´]", "", text)
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


@lru_cache(maxsize=1024)
def compile_pattern(pattern):
    """A rule pattern, compiled as the detector uses it; ``ValueError`` when
    it is not a valid regular expression."""
    source = re.sub(r"['\u2018\u2019\u02bc`´]", "", _strip_accents(pattern))
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"Invalid pattern {pattern!r}: {error}") from error


def validate_rules(rules):
    """Raise ``ValueError`` (``TypeError`` for a value of the wrong type) on
    the first rule the detector could not use: for a constraint on rules a
    manager edits."""
    for rule in rules:
        if not isinstance(rule, dict) or not rule.get("intent"):
            raise ValueError(f"A rule needs an intent: {rule!r}")
        if not isinstance(rule.get("priority", 0), int):
            raise TypeError(f"A rule priority must be an integer: {rule!r}")
        if not rule.get("patterns") and not rule.get("payloads"):
            raise ValueError(f"A rule needs patterns or payloads: {rule!r}")
        for pattern in rule.get("patterns") or ():
            if not isinstance(pattern, str):
                raise TypeError(f"A pattern must be text: {pattern!r}")
            compile_pattern(pattern)


def _best(matches):
    """The rule of highest priority, the earliest one on a tie."""
    if not matches:
        return None
    return max(matches, key=lambda rule: rule.get("priority", 0))


def detect_intent(text, payload=None, rules=None):
    """``(intent, matched_rule)`` for a customer reply, ``("other", None)``
    when no rule matches.

    ``payload`` is the quick-reply payload (or interactive button id); a known
    payload decides alone. ``rules`` replaces ``DEFAULT_RULES`` (pass
    ``DEFAULT_RULES + extra`` to extend them).
    """
    rules = DEFAULT_RULES if rules is None else rules
    if payload:
        wanted = str(payload).strip().upper()
        rule = _best(
            [
                rule
                for rule in rules
                if wanted in {str(p).upper() for p in rule.get("payloads") or ()}
            ]
        )
        if rule:
            return rule["intent"], rule
    folded = fold(text) if text else ""
    if not folded:
        return OTHER, None
    rule = _best(
        [
            rule
            for rule in rules
            if any(
                compile_pattern(pattern).search(folded)
                for pattern in rule.get("patterns") or ()
            )
        ]
    )
    if rule:
        return rule["intent"], rule
    return OTHER, None


# The payload each quick-reply button of a reminder template carries back.
QUICK_REPLY_PAYLOADS = {
    PAY_NOW: "PAY_NOW",
    PAID: "ALREADY_PAID",
    MORE_TIME: "NEED_TIME",
    TALK: "TALK",
    NO_INVOICE: "SEND_INVOICE",
    DISPUTE: "DISPUTE",
    STOP: "STOP",
}

# Button titles of the reminder templates that no reply rule needs to read
# ("Pay now" as a reply is not an intent of its own).
_BUTTON_TITLES = {
    PAY_NOW: r"^(pay now|pagar ahora|pagar agora|pagar)$",
    PAID: r"^(i already paid|already paid|ya pague|ja paguei)$",
    MORE_TIME: r"^(i need more time|need more time|necesito mas tiempo|"
    r"preciso de mais tempo|preciso mais tempo)$",
    TALK: r"^(talk to someone|hablar con alguien|falar com alguem)$",
}


def quick_reply_payload(button_text):
    """The payload of a quick-reply button from its title ("I already paid"
    -> ``ALREADY_PAID``) in English, Spanish or Portuguese; an unknown title
    becomes its own folded, upper-cased text so it still reaches the rules."""
    folded = fold(button_text)
    for intent, pattern in _BUTTON_TITLES.items():
        if re.fullmatch(pattern, folded):
            return QUICK_REPLY_PAYLOADS[intent]
    intent, _rule = detect_intent(button_text)
    if intent in QUICK_REPLY_PAYLOADS:
        return QUICK_REPLY_PAYLOADS[intent]
    return folded.upper().replace(" ", "_")[:128] or "OTHER"
