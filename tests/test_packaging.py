"""The addon is complete and packaged as promised, checked without Odoo."""

import ast
import csv
import re
import subprocess
import sys
import zipfile

from lxml import etree

from .conftest import ADDON, REPO

BENCH = REPO / "friendly_dunning_bench"


def test_manifest_promises(manifest):
    assert manifest["version"].startswith("19.0.")
    assert re.fullmatch(r"19\.0\.\d+\.\d+\.\d+", manifest["version"])
    assert manifest["license"] == "LGPL-3"
    assert set(manifest["depends"]) == {
        "account",
        "account_payment",
        "portal",
        "sms",
        "phone_validation",
        "mail",
    }
    assert set(manifest["external_dependencies"]["python"]) == {
        "phonenumbers",
        "requests",
    }


def test_every_manifest_file_exists_and_xml_parses(manifest):
    for name in manifest["data"] + manifest.get("demo", []):
        path = ADDON / name
        assert path.is_file(), name
        if path.suffix == ".xml":
            etree.parse(str(path))


def test_access_rules_name_existing_groups(manifest):
    security_xml = (ADDON / "security" / "friendly_dunning_security.xml").read_text()
    with open(ADDON / "security" / "ir.model.access.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        group = row["group_id:id"]
        assert group.removeprefix("friendly_dunning.") in security_xml, group


def test_every_python_file_is_imported():
    """By the package, or (a plain helper such as raw_sql) by a sibling."""
    for package in ("models", "tests"):
        init = (ADDON / package / "__init__.py").read_text()
        siblings = "".join(path.read_text() for path in (ADDON / package).glob("*.py"))
        for path in (ADDON / package).glob("*.py"):
            if path.name == "__init__.py" or path.name == "common.py":
                continue
            if package == "tests" and not path.name.startswith("test_"):
                continue
            if package == "models" and f"from .{path.stem} import " in siblings:
                continue
            assert f"from . import {path.stem}\n" in init, path


def test_readme_fragments_exist():
    for fragment in ("DESCRIPTION", "USAGE", "CONFIGURE", "CONTRIBUTORS"):
        text = (ADDON / "readme" / f"{fragment}.md").read_text()
        assert len(text.strip()) > 40, fragment


def test_icon_is_a_png():
    assert (ADDON / "static/description/icon.png").read_bytes()[:8] == (
        b"\x89PNG\r\n\x1a\n"
    )


def build_wheel(addon, wheel_dir):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheel_dir),
            str(addon),
        ],
        check=True,
        cwd=REPO,
    )
    [wheel] = wheel_dir.glob(f"odoo_addon_{addon.name}-19.0.*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(
            next(name for name in names if name.endswith("METADATA"))
        ).decode()
    return names, metadata


def test_pip_wheel_builds_the_addon_wheel(tmp_path):
    names, metadata = build_wheel(ADDON, tmp_path)
    assert "odoo/addons/friendly_dunning/__manifest__.py" in names
    assert "Name: odoo-addon-friendly_dunning" in metadata
    assert "Requires-Dist: phonenumbers" in metadata


# The bench addon: benchmarks, the dataset generator and the fake Graph API.


def bench_manifest():
    return ast.literal_eval((BENCH / "__manifest__.py").read_text())


def test_bench_manifest_promises():
    manifest = bench_manifest()
    assert manifest["version"] == "19.0.1.0.0"
    assert manifest["license"] == "LGPL-3"
    # payment_demo (Odoo Community) is the provider the automatic payments
    # benchmark charges; friendly_dunning itself does not depend on it.
    assert manifest["depends"] == ["friendly_dunning", "payment_demo"]
    # installable and not auto-installed: the defaults, which pylint-odoo
    # (manifest-superfluous-key) wants left out of the manifest
    assert manifest.get("installable", True) is True
    assert not manifest.get("auto_install")
    assert not manifest.get("application")


def test_bench_readme_fragments_exist():
    for fragment in ("DESCRIPTION", "USAGE"):
        text = (BENCH / "readme" / f"{fragment}.md").read_text()
        assert len(text.strip()) > 40, fragment


def test_bench_test_modules_are_imported():
    init = (BENCH / "tests" / "__init__.py").read_text()
    modules = list((BENCH / "tests").glob("test_*.py"))
    assert modules
    for path in modules:
        assert f"from . import {path.stem}\n" in init, path


def test_bench_commands_are_named_after_their_files():
    """Odoo finds an addon's command in ``cli/<name>.py`` and refuses a
    Command whose name differs from its module's."""
    commands = sorted((BENCH / "cli").glob("*.py"))
    assert {path.stem for path in commands} >= {
        "dunning_bench",
        "dunning_dataset",
        "dunning_forecast_backtest",
        "dunning_kpi_bench",
        "dunning_portal_bench",
        "dunning_wa_bench",
        "dunning_webhook_bench",
    }
    for path in commands:
        names = [
            node.value.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == ["name"]
            and isinstance(node.value, ast.Constant)
        ]
        assert names == [path.stem], path


def test_the_product_ships_no_benchmark_code():
    assert not (ADDON / "cli").exists()
    for path in ADDON.rglob("*.py"):
        text = path.read_text()
        assert "friendly_dunning_bench" not in text, path
        assert "odoo.cli" not in text, path


def test_metapackage_lists_every_addon():
    metapackage = (REPO / "setup/_metapackage/pyproject.toml").read_text()
    addons = sorted(path.parent.name for path in REPO.glob("*/__manifest__.py"))
    assert addons == ["friendly_dunning", "friendly_dunning_bench"]
    for addon in addons:
        assert f'"odoo-addon-{addon}==19.0.*"' in metapackage, addon


def test_pip_wheel_builds_the_bench_wheel(tmp_path):
    names, metadata = build_wheel(BENCH, tmp_path)
    for path in (
        "__manifest__.py",
        "cli/dunning_dataset.py",
        "tools/fake_graph.py",
        "scripts/dashboard_load.js",
    ):
        assert f"odoo/addons/friendly_dunning_bench/{path}" in names, path
    assert "Name: odoo-addon-friendly_dunning_bench" in metadata
    assert "Requires-Dist: odoo-addon-friendly_dunning" in metadata
