"""Which WhatsApp messages Meta charges, and at which rate of the rate card.

Meta charges per delivered template message, by the template's category and
the recipient's market. A utility template sent while the customer's 24-hour
service window is open is free, and so is every message that is not a
template (a service message: text, media, interactive) inside that window.
The ``pricing`` object of a status webhook (``billable``, ``pricing_model``,
``category``, ``type``) says what Meta actually did and wins over our own
reckoning."""

# What a delivered message costs, and why.
CHARGED = "charged"
NO_RATE = "no_rate"  # charged, but the rate card has no price for it
FREE_WINDOW = "free_window"  # a utility template inside the service window
FREE_SERVICE = "free_service"  # not a template: a service message
FREE_ENTRY_POINT = "free_entry_point"
FREE_PROVIDER = "free_provider"  # Meta said it is not billable

# What the status webhook's pricing said of the charge.
REGULAR = "regular"
FREE_CUSTOMER_SERVICE = "free_customer_service"
FREE_ENTRY_POINT_TYPE = "free_entry_point"
NOT_BILLABLE = "not_billable"

SERVICE = "service"
UTILITY = "utility"
# Meta's categories priced as one of the rate card's when the card has no row
# of their own.
CATEGORY_FALLBACK = {
    "authentication_international": "authentication",
    "marketing_lite": "marketing",
}


def template_category(category):
    """The pricing category of a message sent with a template of Meta's
    ``category`` (``"UTILITY"``), or of a non-template message (``None``)."""
    return (category or "").strip().lower() or SERVICE


def fold_pricing(pricing, category, pricing_type):
    """``(category, pricing type)`` of a message once a status webhook's
    ``pricing`` object is known, from what was known before. Meta's category
    replaces ours; its ``type`` tells a free message from a charged one, and
    ``billable: false`` alone says it is free."""
    if not isinstance(pricing, dict):
        return category, pricing_type
    new_category = pricing.get("category")
    if isinstance(new_category, str) and new_category.strip():
        category = new_category.strip().lower()
    kind = pricing.get("type")
    billable = pricing.get("billable")
    if kind in (REGULAR, FREE_CUSTOMER_SERVICE, FREE_ENTRY_POINT_TYPE):
        if kind == REGULAR and billable is False:
            return category, NOT_BILLABLE
        return category, kind
    if billable is False:
        return category, NOT_BILLABLE
    if billable is True:
        return category, REGULAR
    return category, pricing_type


def charge_of(category, pricing_type, window_open):
    """Why a delivered message of pricing ``category`` is charged or free:
    Meta's ``pricing_type`` when a webhook gave one, else the rule (a
    service message is free, a utility template is free inside the open
    window ``window_open``, any other template is charged)."""
    if pricing_type == FREE_ENTRY_POINT_TYPE:
        return FREE_ENTRY_POINT
    if pricing_type == FREE_CUSTOMER_SERVICE:
        return FREE_SERVICE if category == SERVICE else FREE_WINDOW
    if pricing_type == NOT_BILLABLE:
        return FREE_PROVIDER
    if pricing_type == REGULAR:
        return CHARGED
    if not category or category == SERVICE:
        return FREE_SERVICE
    if category == UTILITY and window_open:
        return FREE_WINDOW
    return CHARGED


def pick_rate(rates, company_id, channel_id, country, category):
    """The rate of ``rates`` (dicts with ``company_id``, ``channel_id``,
    ``country``, ``category``) that prices a message of ``category`` to a
    number of ``country`` (ISO code) sent through ``channel_id`` of
    ``company_id``, or ``None``. An empty company, channel or country on a
    rate means any; of the rates that apply, the one for the country wins,
    then the one for the channel, then the one for the company."""
    for wanted in dict.fromkeys((category, CATEGORY_FALLBACK.get(category))):
        if not wanted:
            continue
        candidates = [
            rate
            for rate in rates
            if rate["category"] == wanted
            and rate["company_id"] in (None, company_id)
            and rate["channel_id"] in (None, channel_id)
            and rate["country"] in (None, country)
        ]
        if candidates:
            return max(
                candidates,
                key=lambda rate: (
                    rate["country"] is not None,
                    rate["channel_id"] is not None,
                    rate["company_id"] is not None,
                ),
            )
    return None
