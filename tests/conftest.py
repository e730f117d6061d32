import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "friendly_dunning"


@pytest.fixture(scope="session")
def manifest():
    return ast.literal_eval((ADDON / "__manifest__.py").read_text())
