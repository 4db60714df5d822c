"""Settings from the environment, read and checked in one place.

A bad value raises `ConfigError` with one line that names the variable; the CLI
and the WSGI entry point print that line and stop instead of showing a traceback.
"""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache

from limits import parse_many
from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///market.db"

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A setting is missing, malformed or points at something unreachable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Empty or unset: background work runs in-process through the same service code.
    redis_url: str = ""
    secret_key: str = ""
    # True behind HTTPS: the browser then sends the console's session cookie over HTTPS only.
    session_cookie_secure: bool = False
    log_level: str = "INFO"
    # Largest page a list endpoint returns, whatever `limit` asks for.
    max_page_size: int = 500
    # How long an Idempotency-Key is remembered (the API promises at least 24 hours).
    idempotency_ttl_hours: int = 48
    max_request_bytes: int = 1024 * 1024
    # The Celery queue the web app sends to and workers take from.
    celery_queue: str = "celery"
    # A contract is fulfilled when the accepted tonnes come within this many percent of the
    # contracted tonnes; no more than that many percent over may be shipped.
    delivery_tolerance_percent: int = 5
    # Beat starts a match run per product this often (0: never; runs are then requested by admins).
    match_interval_minutes: int = 0
    # Approve what a run proposes without an admin's review (for scheduled runs; off by default).
    match_auto_approve: bool = False
    # Requests one account may make to /api/v1, e.g. "600/minute" or "600/minute;20/second" (limits' notation,
    # ";"-separated); empty: no limit. Counted in Redis when REDIS_URL is set, else in memory.
    rate_limit: str = "600/minute"
    # How many match runs one admin account may have queued or running at once.
    max_active_runs_per_admin: int = 3
    # Beat sends `matching.sweep` this often (0: never on a schedule; a worker still sweeps once when it starts).
    match_sweep_interval_seconds: int = 60
    # The sweep sends a queued or running run to the workers again once nothing has happened to it (no audit
    # event on the run, no product written) for this long and no transaction is working on it.
    match_sweep_grace_seconds: int = 300
    # Beat sends `maintenance.seal_audit_log` this often: how long a new audit event waits to join the hash
    # chain (0: never on a schedule; `market audit seal` and `market audit verify` still seal).
    audit_seal_interval_seconds: int = 10
    # Seconds before Redis hands an unacknowledged task to a worker again; 0: the built-in default (the hard
    # time limit plus ten minutes, see workers/__init__.py). Shorter than the time limits only in tests.
    celery_visibility_timeout: int = 0

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip() or DEFAULT_DATABASE_URL
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # psycopg 3 is the driver we install; plain postgresql:// would ask for psycopg2.
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @field_validator("delivery_tolerance_percent")
    @classmethod
    def _tolerance(cls, value: int) -> int:
        if not 0 <= value <= 50:
            raise ValueError("must be a whole number of percent from 0 to 50")
        return value

    @field_validator("match_interval_minutes")
    @classmethod
    def _interval(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 (off) or a number of minutes")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError('not a rate limit: write it like "600/minute;20/second", or leave it empty') from None
        return value

    @field_validator("max_active_runs_per_admin")
    @classmethod
    def _max_active_runs(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be a whole number of runs, at least 1")
        return value

    @field_validator("match_sweep_interval_seconds", "audit_seal_interval_seconds", "celery_visibility_timeout")
    @classmethod
    def _seconds_or_off(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or a whole number of seconds")
        return value

    @field_validator("match_sweep_grace_seconds")
    @classmethod
    def _sweep_grace(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be a whole number of seconds, at least 1")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_celery(self) -> bool:
        return bool(self.redis_url)

    def redacted_database_url(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

    def flask_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        logging.getLogger(__name__).warning(
            "SECRET_KEY is not set: using a random key, so sessions end when the process does"
        )
        return secrets.token_hex(32)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus overrides); a bad value becomes one ConfigError line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name} is invalid: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger().setLevel(settings.log_level)
