import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "friendly_dunning"


@pytest.fixture(scope="session")
def manifest():
    return ast.literal_eval((ADDON / "__manifest__.py").read_text())


def load_tool(name):
    """Import ``friendly_dunning/tools/<name>.py`` without importing Odoo."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"friendly_dunning_tools_{name}", ADDON / "tools" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
