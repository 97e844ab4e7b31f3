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


def test_http_timeouts() -> None:
    defaults = Settings.from_env({})
    assert (defaults.header_timeout_seconds, defaults.body_timeout_seconds, defaults.keep_alive_seconds) == (
        10.0,
        30.0,
        5.0,
    )
    settings = Settings.from_env(
        {
            "OPENFLOWS_HEADER_TIMEOUT_SECONDS": "1.5",
            "OPENFLOWS_BODY_TIMEOUT_SECONDS": "2",
            "OPENFLOWS_KEEP_ALIVE_SECONDS": "75",
        }
    )
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (1.5, 2.0)
    assert settings.keep_alive_seconds == 75.0
    for value in ("0", "-1", "inf", "nan"):
        with pytest.raises(SettingsError, match="must be a positive number of seconds"):
            Settings.from_env({"OPENFLOWS_HEADER_TIMEOUT_SECONDS": value})


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


def test_auth_settings_and_the_secret_key_stays_out_of_repr() -> None:
    defaults = Settings.from_env({})
    assert (defaults.access_token_seconds, defaults.refresh_token_idle_days, defaults.auth_code_seconds) == (
        172800,
        180,
        600,
    )
    assert defaults.secret_key is None
    settings = Settings.from_env(
        {
            "OPENFLOWS_SECRET_KEY": "k" * 40 + ",old-key-" + "o" * 30,
            "OPENFLOWS_ACCESS_TOKEN_SECONDS": "3600",
            "OPENFLOWS_REFRESH_TOKEN_IDLE_DAYS": "0",
            "OPENFLOWS_AUTH_CODE_SECONDS": "60",
        }
    )
    assert settings.access_token_seconds == 3600 and settings.refresh_token_idle_days == 0
    assert settings.auth_code_seconds == 60 and settings.secret_key.startswith("k" * 40)
    assert "kkkk" not in repr(settings) and "old-key" not in repr(settings)


def test_sign_in_settings() -> None:
    defaults = Settings.from_env({})
    assert (defaults.oidc_issuer, defaults.oidc_scopes, defaults.oidc_username_claim) == (
        None,
        "openid profile email",
        "preferred_username",
    )
    assert defaults.local_accounts is True and defaults.local_admin_signin is True
    assert (defaults.session_hours, defaults.signin_max_failures, defaults.signin_window_seconds) == (
        12.0,
        5,
        900.0,
    )
    settings = Settings.from_env(
        {
            "OPENFLOWS_OIDC_ISSUER": "https://idp.example.org/realms/lab",
            "OPENFLOWS_OIDC_CLIENT_ID": "openflows",
            "OPENFLOWS_OIDC_CLIENT_SECRET": "do-not-print-me",
            "OPENFLOWS_OIDC_USERNAME_CLAIM": "eppn",
            "OPENFLOWS_LOCAL_ACCOUNTS": "false",
            "OPENFLOWS_LOCAL_ADMIN_SIGNIN": "no",
            "OPENFLOWS_SIGNIN_MAX_FAILURES_PER_ADDRESS": "7",
        }
    )
    assert settings.oidc_client_secret == "do-not-print-me"
    assert "do-not-print-me" not in repr(settings)
    assert settings.oidc_username_claim == "eppn" and settings.signin_max_failures_per_address == 7
    assert settings.local_accounts is False and settings.local_admin_signin is False
    with pytest.raises(SettingsError, match="OPENFLOWS_OIDC_ISSUER must be an http"):
        Settings.from_env({"OPENFLOWS_OIDC_ISSUER": "idp.example.org"})


def test_map_max_concurrency() -> None:
    assert Settings.from_env({}).map_max_concurrency == 1000
    assert Settings.from_env({"OPENFLOWS_MAP_MAX_CONCURRENCY": "25"}).map_max_concurrency == 25
    for value in ("0", "-3"):
        with pytest.raises(SettingsError, match="must be at least 1"):
            Settings.from_env({"OPENFLOWS_MAP_MAX_CONCURRENCY": value})
    with pytest.raises(SettingsError, match="must be a number"):
        Settings.from_env({"OPENFLOWS_MAP_MAX_CONCURRENCY": "many"})
