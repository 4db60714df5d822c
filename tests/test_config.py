import pytest

from market.config import ConfigError, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///market.db"
    assert settings.redis_url == "" and not settings.uses_celery
    assert settings.log_level == "INFO"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://market:s3cret@db:5432/market")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    # Plain postgresql:// is steered to the psycopg 3 driver the project installs.
    assert settings.database_url == "postgresql+psycopg://market:s3cret@db:5432/market"
    assert settings.redacted_database_url() == "postgresql+psycopg://market:***@db:5432/market"
    assert settings.uses_celery and settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL is invalid"),
        ("DATABASE_URL", "mysql://root@localhost/market", "unsupported database 'mysql'"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL is invalid: must start with redis://"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL is invalid"),
    ],
)
def test_a_bad_value_is_one_clear_line(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert words in message and "\n" not in message
