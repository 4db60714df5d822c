"""`market serve`: the API under gunicorn, the same server the compose file runs."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from gunicorn.app.base import BaseApplication

from market.app import create_app
from market.config import Settings
from market.runtime import freeze_startup_objects


class _MarketServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app, and so its own database engine, after the fork.
        app = create_app(self._settings)
        freeze_startup_objects()
        return app


def run_gunicorn(settings: Settings, *, host: str, port: int, workers: int) -> None:
    if not settings.secret_key:
        # Chosen once, before the workers fork, so they all sign the console's cookies alike.
        logging.getLogger(__name__).warning(
            "SECRET_KEY is not set: using a random key until this server stops (console sign-ins end with it)"
        )
        settings = settings.model_copy(update={"secret_key": secrets.token_hex(32)})
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": 4,
        "accesslog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 60,
    }
    _MarketServer(settings, options).run()
