"""The addon is complete and packaged as promised, checked without Odoo."""

import csv
import re
import subprocess
import sys
import zipfile

from lxml import etree

from .conftest import ADDON, REPO


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
    for package in ("models", "tests"):
        init = (ADDON / package / "__init__.py").read_text()
        for path in (ADDON / package).glob("*.py"):
            if path.name == "__init__.py" or path.name == "common.py":
                continue
            if package == "tests" and not path.name.startswith("test_"):
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


def test_pip_wheel_builds_the_addon_wheel(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(ADDON),
        ],
        check=True,
        cwd=REPO,
    )
    [wheel] = tmp_path.glob("odoo_addon_friendly_dunning-19.0.*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(
            next(name for name in names if name.endswith("METADATA"))
        ).decode()
    assert "odoo/addons/friendly_dunning/__manifest__.py" in names
    assert "Name: odoo-addon-friendly_dunning" in metadata
    assert "Requires-Dist: phonenumbers" in metadata
