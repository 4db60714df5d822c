"""The cooperation office's console at /admin: server-rendered pages (Jinja) in Chinese and English.

- Sign-in: the admin pastes an admin API token once; it is checked with
  `accounts.authenticate` and only the account id goes into Flask's signed session cookie
  (HttpOnly, SameSite=Lax, path /admin, Secure when SESSION_COOKIE_SECURE is true). Every
  request reloads the account, so revoking the token ends the session at the next click.
- CSRF: Flask-WTF's CSRFProtect checks every POST under /admin (`views._check_csrf`); it does
  not check by default, so the bearer-token JSON API under /api/v1 is never affected.
- Languages: Flask-Babel with the catalogues in translations/ (zh_Hans_CN and en). The
  compiled .mo files are committed beside their .po; tests/admin/test_translations.py fails
  when one is stale or a string in the code has no translation. After changing strings:

      cd market/admin
      pybabel extract -F babel.cfg -k _l --no-location -o /tmp/market-admin.pot .
      pybabel update -i /tmp/market-admin.pot -d translations -w 120 --ignore-obsolete
      (translate the new entries in translations/*/LC_MESSAGES/messages.po; English repeats the msgid)
      pybabel compile -d translations

Nothing is fetched from elsewhere: the stylesheet and icon are served from static/, and the
charts are SVG drawn on the server (charts.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

HERE = Path(__file__).resolve().parent
TRANSLATIONS = HERE / "translations"
TIME_ZONE = "Asia/Shanghai"  # the office's clock: Zhaoyang and Dongguan share it


def register_admin(app: Flask) -> None:
    from market.admin.charts import JINJA_GLOBALS
    from market.admin.formatting import FILTERS
    from market.admin.i18n import DEFAULT_LANGUAGE, select_locale
    from market.admin.i18n import JINJA_GLOBALS as LABELS
    from market.admin.views import admin

    app.config.update(
        SESSION_COOKIE_NAME="market_admin",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["MARKET_SETTINGS"].session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # The protection is applied by the console's blueprint only, never to the JSON API.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as the signed-in session (12 hours), not one hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LANGUAGE,
        default_timezone=TIME_ZONE,
        default_translation_directories=str(TRANSLATIONS),
    )
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(JINJA_GLOBALS)
    app.jinja_env.globals.update(LABELS)
    app.register_blueprint(admin)
