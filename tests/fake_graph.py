"""The loopback fake of Meta's Graph API lives in the bench addon
(friendly_dunning_bench/tools/fake_graph.py, which the WhatsApp benchmark
serves); loaded here by path, without Odoo."""

import importlib.util
from pathlib import Path

_PATH = (
    Path(__file__).resolve().parent.parent
    / "friendly_dunning_bench/tools/fake_graph.py"
)
_spec = importlib.util.spec_from_file_location(
    "friendly_dunning_bench_fake_graph", _PATH
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

API_VERSION = _module.API_VERSION
PHONE_NUMBER_ID = _module.PHONE_NUMBER_ID
TOKEN = _module.TOKEN
WABA_ID = _module.WABA_ID
FakeGraph = _module.FakeGraph
graph_error = _module.graph_error
signed_webhook = _module.signed_webhook
template_category_webhook = _module.template_category_webhook
template_review_webhook = _module.template_review_webhook
template = _module.template
