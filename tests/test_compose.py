"""docker-compose.yml runs the demo and the tests as the README says."""

import shutil
import subprocess

import pytest
import yaml

from .conftest import REPO


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_demo_service_serves_odoo_19_with_the_addon(compose):
    services = compose["services"]
    assert services["db"]["image"] == "postgres:16"
    odoo = services["odoo"]
    assert odoo["image"] == "odoo:19.0"
    assert "8069:8069" in odoo["ports"]
    assert ".:/mnt/extra-addons:ro" in odoo["volumes"]
    command = odoo["command"]
    assert command[0] == "odoo"
    assert "--init=friendly_dunning" in command
    assert "--with-demo" in command


def test_tests_service_runs_the_readme_test_command(compose):
    tests = compose["services"]["tests"]
    assert tests["image"] == "odoo:19.0"
    assert tests["profiles"] == ["test"]
    assert tests["command"] == ["bash", "/mnt/extra-addons/.ci/odoo-tests"]
    assert tests["environment"]["HOST"] == "db"


def test_compose_file_is_valid_for_docker_compose():
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(
        [binary, "--profile", "test", "config", "--quiet"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
