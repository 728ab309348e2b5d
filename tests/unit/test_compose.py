"""compose.yaml, read as Docker Compose reads it: the stack README "Deploy" promises, with every
variable the app requires set for each process that runs the app."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.settings import FILE_SUFFIX, SLACK_HTTP, TWILIO, VARIABLES, required_variables

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else str(command).split()


def test_the_stack_has_its_services_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", *APP_SERVICES}
    assert command_of(services["web"]) == ["mass-alert", "serve", "--no-worker"]
    assert command_of(services["worker"]) == ["mass-alert", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert command_of(services["migrate"]) == ["mass-alert", "db", "upgrade"]
    assert services["db"]["image"].startswith("postgres:")
    assert {"postgres", "reports"} <= set(compose["volumes"])
    assert "postgres:/var/lib/postgresql/data" in services["db"]["volumes"]


def test_web_and_workers_start_only_after_the_one_shot_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_required_variable_is_set_for_each_app_service(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    environment = service["environment"]
    mounted = set(service.get("secrets", []))
    # The database must be PostgreSQL in the stack: the default SQLite file allows one dispatcher only.
    for variable in ["DATABASE_URL", *required_variables([SLACK_HTTP, TWILIO])]:
        assert variable in VARIABLES.values()
        if variable + FILE_SUFFIX in environment:
            secret = Path(environment[variable + FILE_SUFFIX])
            assert secret.parent == Path("/run/secrets") and secret.name in mounted, variable
            assert secret.name in compose["secrets"], variable
        else:
            assert environment.get(variable), f"{variable} is not set for {name}"
    unknown = {key.removesuffix(FILE_SUFFIX) for key in environment} - set(VARIABLES.values())
    assert not unknown, f"{name} sets variables the app does not read: {unknown}"


def test_the_app_services_share_the_reports_volume_and_public_url(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker"):
        assert "reports:/var/lib/mass-alert/reports" in services[name]["volumes"]
        assert services[name]["environment"]["REPORTS_DIR"] == "/var/lib/mass-alert/reports"
        assert services[name]["environment"]["PUBLIC_BASE_URL"]
    assert services["web"]["environment"]["HOST"] == "0.0.0.0"


def test_the_database_password_is_a_secret_file(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in db["environment"]
    assert compose["secrets"]["postgres_password"] == {"file": "./secrets/postgres_password"}


def test_the_image_installs_through_the_one_install_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "scripts/install-prod.sh" in dockerfile
    assert "requirements.lock" in (ROOT / "scripts" / "install-prod.sh").read_text(encoding="utf-8")
    assert 'CMD ["mass-alert", "serve"]' in dockerfile
    assert "HOST=0.0.0.0" in dockerfile
    assert "\nUSER mass-alert\n" in dockerfile
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "scripts/install-prod.sh" in makefile
    assert "scripts/install-prod.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = {line.split("==")[0] for line in lock.splitlines() if line and line[0].isalpha()}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert name is not None and name.group().lower().replace("_", "-") in pins, requirement
    entries = lock.split("==")[1:]
    assert entries and all("--hash=sha256:" in entry for entry in entries)
