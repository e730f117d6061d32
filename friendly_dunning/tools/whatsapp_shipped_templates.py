"""The WhatsApp templates shipped for the steps of the shipped policies, in
English, Spanish and Brazilian Portuguese, as Meta reviews them.

Each template's name is the one its steps carry (``dunning.step``'s
``wa_template_name``). Bodies use Meta's positional variables; ``variables``
says which of our values (``VARIABLES`` of ``dunning.whatsapp.template``)
fills ``{{1}}``, ``{{2}}`` ... The URL button's ``{{1}}`` receives the
customer's page token: ``{base_url}`` is the database's address. Quick-reply
titles are those ``tools.intents.quick_reply_payload`` maps to intents.

Wording rules: friendly, no threats, nothing promotional -- a reminder that
advertises anything is MARKETING for Meta, and we send only UTILITY.
"""

# Meta's language codes.
LANGUAGES = ("en", "es", "pt_BR")

URL_PATH = "/collections/{{1}}"

_SEE_AND_PAY = {"en": "See and pay", "es": "Ver y pagar", "pt_BR": "Ver e pagar"}
_PAID = {"en": "I already paid", "es": "Ya pagué", "pt_BR": "Já paguei"}
_MORE_TIME = {
    "en": "I need more time",
    "es": "Necesito más tiempo",
    "pt_BR": "Preciso de mais tempo",
}
_TALK = {
    "en": "Talk to someone",
    "es": "Hablar con alguien",
    "pt_BR": "Falar com alguém",
}


def _buttons(*quick_replies):
    """``{language: [button, ...]}``: the page link, then ``quick_replies``."""
    return {
        language: [{"type": "URL", "text": _SEE_AND_PAY[language], "url": URL_PATH}]
        + [
            {"type": "QUICK_REPLY", "text": titles[language]}
            for titles in quick_replies
        ]
        for language in LANGUAGES
    }


SHIPPED_TEMPLATES = {
    "fd_reminder_before_due": {
        "variables": ("name", "company", "amount", "due_date", "invoices"),
        "bodies": {
            "en": "Hi {{1}}, this is a friendly reminder from {{2}}: {{3}} will be "
            "due on {{4}} (invoices: {{5}}).\nYou can see the details and pay in a "
            "few taps with the button below. If it is already on its way, thank you!",
            "es": "Hola {{1}}, te escribimos de {{2}} para recordarte que {{3}} "
            "vence el {{4}} (facturas: {{5}}).\nPuedes ver el detalle y pagar en "
            "pocos pasos con el botón de abajo. Si ya está en camino, ¡gracias!",
            "pt_BR": "Olá {{1}}, aqui é da {{2}}, com um lembrete amigável: {{3}} "
            "vence em {{4}} (faturas: {{5}}).\nVocê pode ver os detalhes e pagar em "
            "poucos toques pelo botão abaixo. Se já estiver a caminho, obrigado!",
        },
        "buttons": _buttons(_PAID, _MORE_TIME),
    },
    "fd_reminder_due_today": {
        "variables": ("name", "company", "amount", "invoices"),
        "bodies": {
            "en": "Hi {{1}}, a quick reminder from {{2}}: {{3}} is due today "
            "(invoices: {{4}}).\nYou can pay online in a minute with the button "
            "below. Thank you!",
            "es": "Hola {{1}}, un recordatorio rápido de {{2}}: {{3}} vence hoy "
            "(facturas: {{4}}).\nPuedes pagar en línea en un minuto con el botón "
            "de abajo. ¡Muchas gracias!",
            "pt_BR": "Olá {{1}}, um lembrete rápido da {{2}}: {{3}} vence hoje "
            "(faturas: {{4}}).\nVocê pode pagar online em um minuto pelo botão "
            "abaixo. Muito obrigado!",
        },
        "buttons": _buttons(_PAID, _MORE_TIME),
    },
    "fd_reminder_overdue": {
        "variables": (
            "name",
            "company",
            "amount",
            "due_date",
            "days_overdue",
            "invoices",
        ),
        "bodies": {
            "en": "Hi {{1}}, this is {{2}}. We have not received {{3}} yet, due on "
            "{{4}} ({{5}} days ago). Invoices: {{6}}.\nIt may simply have slipped "
            "through: you can pay with the button below, or tell us if you already "
            "paid.",
            "es": "Hola {{1}}, te escribimos de {{2}}. Aún no hemos recibido {{3}}, "
            "que vencía el {{4}} (hace {{5}} días). Facturas: {{6}}.\nQuizá se pasó "
            "por alto: puedes pagar con el botón de abajo o avisarnos si ya pagaste.",
            "pt_BR": "Olá {{1}}, aqui é da {{2}}. Ainda não recebemos {{3}}, com "
            "vencimento em {{4}} (há {{5}} dias). Faturas: {{6}}.\nTalvez tenha "
            "passado despercebido: você pode pagar pelo botão abaixo ou nos avisar "
            "se já pagou.",
        },
        "buttons": _buttons(_PAID, _MORE_TIME),
    },
    "fd_reminder_solutions": {
        "variables": ("name", "amount", "company", "days_overdue", "invoices"),
        "bodies": {
            "en": "Hello {{1}}, {{2}} owed to {{3}} has been overdue for {{4}} days "
            "(invoices: {{5}}).\nWe would like to find a solution that works for "
            "you: on your page you can pay, propose a date or ask for a payment "
            "plan. Reply if you would rather talk it through.",
            "es": "Hola {{1}}, {{2}} con {{3}} lleva {{4}} días vencido (facturas: "
            "{{5}}).\nQueremos encontrar una solución que te funcione: en tu página "
            "puedes pagar, proponer una fecha o pedir un plan de pagos. Responde si "
            "prefieres hablarlo.",
            "pt_BR": "Olá {{1}}, {{2}} com a {{3}} está vencido há {{4}} dias "
            "(faturas: {{5}}).\nQueremos encontrar uma solução que funcione para "
            "você: na sua página você pode pagar, propor uma data ou pedir um "
            "parcelamento. Responda se preferir conversar.",
        },
        "buttons": _buttons(_MORE_TIME, _TALK),
    },
    "fd_reminder_firm": {
        "variables": ("name", "amount", "days_overdue", "invoices", "company"),
        "bodies": {
            "en": "Dear {{1}}, {{2}} has been overdue for {{3}} days despite our "
            "reminders (invoices: {{4}}).\nPlease pay or agree a payment plan with "
            "{{5}} within 7 days, using the button below. If something is holding "
            "you back, reply and we will help.",
            "es": "Estimado/a {{1}}, {{2}} lleva {{3}} días vencido a pesar de "
            "nuestros recordatorios (facturas: {{4}}).\nPor favor, paga o acuerda "
            "un plan de pagos con {{5}} en los próximos 7 días con el botón de "
            "abajo. Si algo te lo impide, responde y te ayudaremos.",
            "pt_BR": "Prezado(a) {{1}}, {{2}} está vencido há {{3}} dias apesar dos "
            "nossos lembretes (faturas: {{4}}).\nPor favor, pague ou combine um "
            "parcelamento com a {{5}} em até 7 dias pelo botão abaixo. Se algo "
            "estiver impedindo, responda e vamos ajudar.",
        },
        "buttons": _buttons(_PAID, _MORE_TIME, _TALK),
    },
}


def shipped_templates(base_url):
    """The shipped templates as ``[{name, language, category, body,
    variables, buttons}, ...]``, their URL buttons on ``base_url``."""
    base_url = base_url.rstrip("/")
    return [
        {
            "name": name,
            "language": language,
            "category": "UTILITY",
            "body": spec["bodies"][language],
            "variables": list(spec["variables"]),
            "buttons": [
                button | {"url": base_url + button["url"]}
                if button["type"] == "URL"
                else dict(button)
                for button in spec["buttons"][language]
            ],
        }
        for name, spec in SHIPPED_TEMPLATES.items()
        for language in LANGUAGES
    ]
