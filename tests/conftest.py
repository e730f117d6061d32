import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "friendly_dunning"


# pytest-odoo, when installed, gives every test session-wide fixtures that open
# an Odoo registry (and fail without --odoo-database). These checks need no Odoo:
# the fixtures of the same names below replace them for the tests of this folder.
# .ci/run also leaves the plugin out (-p no:odoo).
@pytest.fixture(scope="session")
def load_registry():
    yield


@pytest.fixture(scope="session")
def load_http():
    yield


@pytest.fixture(scope="module")
def enable_odoo_test_flag():
    yield


@pytest.fixture(scope="session")
def manifest():
    return ast.literal_eval((ADDON / "__manifest__.py").read_text())


def load_tool(name):
    """Import ``friendly_dunning/tools/<name>.py`` without importing Odoo: the
    tools package is loaded alone, so its modules may import one another."""
    import importlib
    import importlib.util
    import sys

    package = "friendly_dunning_tools"
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            package,
            ADDON / "tools" / "__init__.py",
            submodule_search_locations=[str(ADDON / "tools")],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{package}.{name}")
