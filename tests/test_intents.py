"""What customers mean by their replies, in English, Spanish and Portuguese."""

import pytest

from .conftest import load_tool

intents = load_tool("intents")


def intent_of(text, payload=None, rules=None):
    return intents.detect_intent(text, payload=payload, rules=rules)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English
        ("I already paid", "paid"),
        ("I've paid it yesterday", "paid"),
        ("We have just made the payment", "paid"),
        ("Paid.", "paid"),
        ("The transfer was made on Monday", "paid"),
        ("I need more time", "more_time"),
        ("Could I pay next week?", "more_time"),
        ("Can we set up a payment plan?", "more_time"),
        ("I'll pay on Friday", "more_time"),
        ("I can't pay right now", "more_time"),
        ("I didn't get the invoice", "no_invoice"),
        ("Which invoice?", "no_invoice"),
        ("Please resend the invoice", "no_invoice"),
        ("Wrong amount", "dispute"),
        ("This is not mine", "dispute"),
        ("I dispute this charge", "dispute"),
        ("We never ordered this", "dispute"),
        ("STOP", "stop"),
        ("stop.", "stop"),
        ("Stop please", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("CANCEL", "stop"),
        ("End", "stop"),
        ("quit", "stop"),
        ("REVOKE", "stop"),
        ("OPTOUT", "stop"),
        ("opt-out", "stop"),
        ("No more messages please", "stop"),
        ("Please stop sending me these", "stop"),
        ("Don't text me", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("HELP", "help"),
        ("Help please", "help"),
        ("What can I reply?", "help"),
        ("How does this work?", "help"),
        ("Help, I was charged twice", "dispute"),
        ("I want to talk to someone", "talk"),
        ("Can I speak with a real person?", "talk"),
        ("Call me", "talk"),
        # Spanish
        ("Ya pagué", "paid"),
        ("ya pague la factura", "paid"),
        ("YA PAGUÉ!!", "paid"),
        ("Ya hice la transferencia", "paid"),
        ("Les transferí ayer", "paid"),
        ("Ya está pagada", "paid"),
        ("Ya cancelé la factura", "paid"),  # "cancelar una deuda" = to pay it off
        ("Necesito más tiempo", "more_time"),
        ("¿Puedo pagar en cuotas?", "more_time"),
        ("Le pago el viernes", "more_time"),
        ("Necesito una prórroga", "more_time"),
        ("No recibí la factura", "no_invoice"),
        ("No me ha llegado la factura", "no_invoice"),
        ("¿Me pueden enviar la factura?", "no_invoice"),
        ("¿Cuál factura?", "no_invoice"),
        ("El monto está equivocado", "dispute"),
        ("Cobro indebido", "dispute"),
        ("Esa factura no es mía", "dispute"),
        ("Quiero hacer un reclamo", "dispute"),
        ("Baja", "stop"),
        ("Quiero darme de baja", "stop"),
        ("No más mensajes", "stop"),
        ("no me escriban más", "stop"),
        ("Ayuda", "help"),
        ("Necesito ayuda", "help"),
        ("¿Qué puedo responder?", "help"),
        ("¿Cómo funciona esto?", "help"),
        ("Quiero hablar con alguien", "talk"),
        ("¿Me pueden llamar?", "talk"),
        # Portuguese
        ("Já paguei", "paid"),
        ("JA PAGUEI", "paid"),
        ("já paguei o boleto ontem", "paid"),
        ("Fiz o pix hoje", "paid"),
        ("Segue o comprovante", "paid"),
        ("Já está pago", "paid"),
        ("Preciso de mais prazo", "more_time"),
        ("Posso parcelar?", "more_time"),
        ("Pago semana que vem", "more_time"),
        ("Não consigo pagar agora", "more_time"),
        ("Não recebi o boleto", "no_invoice"),
        ("não recebi a fatura", "no_invoice"),
        ("Me manda a segunda via", "no_invoice"),
        ("Valor errado", "dispute"),
        ("Cobrança indevida", "dispute"),
        ("Isso não é meu", "dispute"),
        ("Não comprei nada", "dispute"),
        ("Pare", "stop"),
        ("PARAR", "stop"),
        ("Não quero", "stop"),
        ("Não quero mais receber mensagens", "stop"),
        ("Parem de me mandar mensagem", "stop"),
        ("sair", "stop"),
        ("Ajuda", "help"),
        ("Preciso de ajuda", "help"),
        ("O que eu posso responder?", "help"),
        ("Opções", "help"),
        ("Quero falar com alguém", "talk"),
        ("Falar com um atendente", "talk"),
    ],
)
def test_replies_in_three_languages(text, expected):
    assert intent_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I stopped by the shop yesterday",
        "Nonstop work this week, will check",
        "End of the month I'll have the money",
        "Can I cancel my order?",
        "Quitting my job, sorry",
        "Start date of the contract?",
        "Help me understand",
        "Helpful, thanks",
        "stopwatch",
        "Para pagar necesito el número de cuenta",  # Spanish "para" = "for"
        "Parabéns pela empresa",
        "Sairá amanhã o pagamento?",
        "Obrigado!",
        "Hola, buenas tardes",
        "👍",
        "",
        "   ",
    ],
)
def test_ordinary_words_are_not_keywords(text):
    assert intent_of(text) not in {"stop", "start", "help"}


@pytest.mark.parametrize(
    ("text", "not_expected"),
    [
        ("Não paguei ainda", "paid"),
        ("Ainda não paguei", "paid"),
        ("No transferí nada todavía", "paid"),
        ("I haven't paid yet", "paid"),
        ("I have not paid", "paid"),
        ("Não devo conseguir pagar hoje", "dispute"),
    ],
)
def test_negations_do_not_count(text, not_expected):
    assert intent_of(text) != not_expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ya pagué, no me escriban más", "stop"),
        ("Already paid, stop sending me messages", "stop"),
        ("Valor errado, já paguei o correto", "dispute"),
        ("I already paid but the amount was wrong", "dispute"),
        ("Já paguei, não recebi o boleto novo", "paid"),
        ("I haven't paid yet, I need more time", "more_time"),
        ("No recibí la factura, necesito más tiempo", "no_invoice"),
        ("Need more time, can I talk to someone?", "more_time"),
    ],
)
def test_priority_resolves_conflicts(text, expected):
    assert intent_of(text) == expected


@pytest.mark.parametrize(
    "text",
    ["já paguei", "JÁ PAGUEI", "ja paguei", "Ja  paguei!!!", "já\npaguei", "jÁ PaGuEi"],
)
def test_accents_case_and_spacing_do_not_matter(text):
    assert intent_of(text) == "paid"


def test_fold():
    assert intents.fold("¡Ya PAGUÉ, señor!") == "ya pague senor"
    assert intents.fold("I didn’t get it") == "i didnt get it"
    assert intents.fold("Não\t quero   mais") == "nao quero mais"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("ALREADY_PAID", "paid"),
        ("already_paid", "paid"),
        ("PAY_NOW", "pay_now"),
        ("NEED_TIME", "more_time"),
        ("TALK", "talk"),
        ("STOP", "stop"),
    ],
)
def test_quick_reply_payloads_map_directly(payload, expected):
    # The button title says something else: the payload decides.
    intent, rule = intents.detect_intent("Hola", payload=payload)
    assert intent == expected
    assert payload.upper() in rule["payloads"]


def test_unknown_payload_falls_back_to_the_text():
    assert intent_of("Ya pagué", payload="SOMETHING_ELSE") == "paid"
    assert intent_of(None, payload="SOMETHING_ELSE") == "other"


def test_no_match_is_other_with_no_rule():
    assert intents.detect_intent("Good morning") == ("other", None)
    assert intents.detect_intent(None) == ("other", None)


def test_the_matched_rule_is_returned():
    intent, rule = intents.detect_intent("Não recebi o boleto")
    assert intent == "no_invoice"
    assert (rule["name"], rule["language"]) == ("pt.no_invoice", "pt")


def test_rules_can_be_extended_and_accented_patterns_work():
    extra = {
        "name": "pt.paid.pix",
        "intent": "paid",
        "language": "pt",
        "priority": 80,
        "patterns": [r"\bpix (já )?feito\b"],
    }
    assert intent_of("Pix já feito") == "other"
    assert intent_of("Pix já feito", rules=intents.DEFAULT_RULES + [extra]) == "paid"
    custom = {"intent": "promise", "priority": 65, "payloads": ["PROMISE"]}
    assert intent_of("", payload="promise", rules=[custom]) == "promise"


def test_rules_can_be_replaced():
    only = [{"intent": "paid", "priority": 1, "patterns": [r"^done$"]}]
    assert intent_of("Done!", rules=only) == "paid"
    assert intent_of("STOP", rules=only) == "other"
    assert intent_of("STOP", rules=[]) == "other"


def test_ties_go_to_the_first_rule():
    rules = [
        {"name": "a", "intent": "talk", "priority": 5, "patterns": ["hello"]},
        {"name": "b", "intent": "help", "priority": 5, "patterns": ["hello"]},
        {"name": "c", "intent": "paid", "priority": 4, "patterns": ["hello"]},
    ]
    assert intents.detect_intent("hello", rules=rules)[1]["name"] == "a"


def test_default_rules_are_valid_and_cover_three_languages():
    intents.validate_rules(intents.DEFAULT_RULES)
    languages = {rule["language"] for rule in intents.DEFAULT_RULES}
    assert {"en", "es", "pt"} <= languages
    for intent in ("paid", "more_time", "no_invoice", "dispute", "stop", "talk"):
        for language in ("en", "es", "pt"):
            assert any(
                r["intent"] == intent and r["language"] == language
                for r in intents.DEFAULT_RULES
            ), (intent, language)


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"intent": "paid", "patterns": ["(unclosed"]}, ValueError),
        ({"intent": "paid", "patterns": []}, ValueError),
        ({"patterns": ["x"]}, ValueError),
        ("paid", ValueError),
        ({"intent": "paid", "patterns": [3]}, TypeError),
        ({"intent": "paid", "priority": "high", "patterns": ["x"]}, TypeError),
    ],
)
def test_invalid_rules_are_reported(rule, error):
    with pytest.raises(error):
        intents.validate_rules([rule])


def test_an_invalid_pattern_raises_a_value_error_at_detection_too():
    with pytest.raises(ValueError):
        intents.detect_intent("x", rules=[{"intent": "paid", "patterns": ["[x"]}])


def test_long_replies_are_bounded():
    text = "blah " * 10_000 + "ya pagué"
    assert intent_of(text) == "other"  # beyond MAX_TEXT_LENGTH
    assert intent_of("ya pagué " + "blah " * 10_000) == "paid"


@pytest.mark.parametrize(
    ("title", "payload"),
    [
        ("Pay now", "PAY_NOW"),
        ("I already paid", "ALREADY_PAID"),
        ("I need more time", "NEED_TIME"),
        ("Talk to someone", "TALK"),
        ("Ya pagué", "ALREADY_PAID"),
        ("Necesito más tiempo", "NEED_TIME"),
        ("Falar com alguém", "TALK"),
        ("Pagar agora", "PAY_NOW"),
        ("Something else", "SOMETHING_ELSE"),
    ],
)
def test_quick_reply_buttons_carry_payloads_the_rules_know(title, payload):
    assert intents.quick_reply_payload(title) == payload
    if payload != "SOMETHING_ELSE":
        intent, _rule = intents.detect_intent("", payload=payload)
        assert intent != intents.OTHER
