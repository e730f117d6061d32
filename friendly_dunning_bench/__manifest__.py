{
    "name": "Friendly Dunning Benchmarks",
    "summary": "Benchmarks, the dataset generator and a fake WhatsApp Graph API for "
    "friendly_dunning: installed only where someone measures.",
    "version": "19.0.1.0.0",
    "category": "Hidden/Tools",
    "website": "https://github.com/friendly-dunning/friendly_dunning",
    "author": "friendly_dunning contributors",
    "license": "LGPL-3",
    # payment_demo: the payment provider the automatic payments benchmark
    # charges (friendly_dunning itself works with any provider that saves
    # payment methods).
    "depends": ["friendly_dunning", "payment_demo"],
}
