"""WSGI entry point for gunicorn: `gunicorn market.wsgi:app`."""

from __future__ import annotations

import sys

from market.app import create_app
from market.config import ConfigError, configure_logging, get_settings
from market.runtime import freeze_startup_objects

try:
    _settings = get_settings()
    if not _settings.secret_key:
        # Each gunicorn worker would pick its own random key, and console sign-ins would break at random.
        raise ConfigError("SECRET_KEY is not set: every worker must sign sessions with the same key")
    configure_logging(_settings)
    app = create_app(_settings, check_database=True)
    freeze_startup_objects()
except ConfigError as exc:
    # One line, then stop. Exit status 3 is gunicorn's "worker failed to boot": the master
    # shuts down instead of restarting the worker for ever.
    print(f"market: error: {exc}", file=sys.stderr)
    sys.exit(3)
