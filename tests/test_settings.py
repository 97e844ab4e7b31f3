"""`Settings`: defaults, environment variables and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from openflows.settings import Settings, SettingsError, parse_bool


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.home == Path("~/.openflows").expanduser()
    assert settings.database_url == f"sqlite:///{Path('~/.openflows').expanduser()}/openflows.db"
    assert settings.public_url is None
    assert settings.emulate_globus_providers is True
    assert settings.max_run_state_bytes == 256 * 1024
    assert settings.max_request_bytes == 1024 * 1024
    assert (settings.poll_initial_seconds, settings.poll_max_seconds) == (1.0, 30.0)
    assert (settings.lease_seconds, settings.worker_threads, settings.run_max_duration_days) == (30.0, 4, 365)


def test_environment_and_overrides(tmp_path: Path) -> None:
    environ = {
        "OPENFLOWS_HOME": str(tmp_path),
        "OPENFLOWS_EMULATE_GLOBUS_PROVIDERS": "no",
        "OPENFLOWS_POLL_MAX_SECONDS": "2.5",
        "OPENFLOWS_WORKER_THREADS": "8",
        "OPENFLOWS_PUBLIC_URL": "",  # empty counts as unset
        "OPENFLOWS_LOG_LEVEL": "debug",
    }
    settings = Settings.from_env(environ, worker_threads=2, public_url=None)
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path}/openflows.db"
    assert settings.emulate_globus_providers is False
    assert settings.poll_max_seconds == 2.5
    assert settings.worker_threads == 2
    assert settings.public_url is None
    assert settings.log_level == "DEBUG"
    explicit = Settings.from_env(
        {"OPENFLOWS_DATABASE_URL": "postgresql+psycopg://h/db", "OPENFLOWS_HOME": "/x"}
    )
    assert explicit.database_url == "postgresql+psycopg://h/db"


def test_bad_values() -> None:
    with pytest.raises(SettingsError, match="OPENFLOWS_WORKER_THREADS must be a number"):
        Settings.from_env({"OPENFLOWS_WORKER_THREADS": "many"})
    with pytest.raises(SettingsError, match="OPENFLOWS_EMULATE_GLOBUS_PROVIDERS must be true or false"):
        Settings.from_env({"OPENFLOWS_EMULATE_GLOBUS_PROVIDERS": "maybe"})
    with pytest.raises(TypeError, match="unknown settings: colour"):
        Settings.from_env({}, colour="blue")


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False)]
)
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.worker_threads = 1  # type: ignore[misc]
    assert settings.replace(worker_threads=1).worker_threads == 1
