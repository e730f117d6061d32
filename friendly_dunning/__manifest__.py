{
    "name": "Friendly Dunning",
    "summary": "Friendly, effective collections: preventive reminders, the right tone "
    "and channel per debtor, a self-service page for customers and KPIs that show "
    "what works.",
    "version": "19.0.1.0.0",
    "category": "Accounting/Accounting",
    "website": "https://github.com/friendly-dunning/friendly_dunning",
    "author": "friendly_dunning contributors",
    "license": "LGPL-3",
    "depends": [
        "account",
        "account_payment",
        "portal",
        "sms",
        "phone_validation",
        "mail",
    ],
    "external_dependencies": {
        "python": ["phonenumbers", "requests"],
    },
    "data": [
        "security/friendly_dunning_security.xml",
        "security/ir.model.access.csv",
        "data/dunning_policy_data.xml",
        "data/dunning_segment_data.xml",
        "data/ir_cron_data.xml",
        "views/dunning_policy_views.xml",
        "views/dunning_channel_views.xml",
        "views/dunning_segment_views.xml",
        "wizards/dunning_wizard_views.xml",
        "views/res_partner_views.xml",
        "views/dunning_communication_views.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
        "views/dunning_report_views.xml",
        "views/dunning_dashboard_views.xml",
        "report/dunning_statement_report.xml",
        "views/friendly_dunning_menus.xml",
    ],
    "demo": [
        "demo/res_partner_demo.xml",
        "demo/account_move_demo.xml",
        "demo/dunning_consent_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "friendly_dunning/static/src/dashboard/*",
        ],
    },
    "post_init_hook": "_post_init_hook",
    "uninstall_hook": "_uninstall_hook",
}
