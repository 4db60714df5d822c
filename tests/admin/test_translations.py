"""The message catalogues: every string of the console is translated, and the committed .mo files are current.

The .mo files are committed (compiled with `pybabel compile`, see market/admin/__init__.py) so
that an installed package needs no build step; these tests fail when someone edits a .po, or a
string in the code or templates, and forgets to update or recompile.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import market.admin

ADMIN = Path(market.admin.__file__).parent
TRANSLATIONS = ADMIN / "translations"
LOCALES = ["zh_Hans_CN", "en"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _po(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def _messages(catalog) -> dict[str, str]:
    return {message.id: message.string for message in catalog if message.id}


def _source_strings() -> set[str]:
    with (ADMIN / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message
        for _, _, message, _, _ in extract_from_dir(ADMIN, method_map, options_map, keywords=KEYWORDS)
        if isinstance(message, str)
    }


@pytest.mark.parametrize("locale", LOCALES)
def test_the_committed_mo_matches_its_po(locale):
    po = _po(locale)
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)
    expected = {key: value for key, value in _messages(po).items() if value}
    stale = "recompile: cd market/admin && pybabel compile -d translations"
    assert _messages(compiled) == expected, stale


@pytest.mark.parametrize("locale", LOCALES)
def test_every_string_in_the_console_is_translated(locale):
    po = _po(locale)
    messages = _messages(po)
    in_source = _source_strings()
    assert len(in_source) > 150
    missing = sorted(in_source - messages.keys())
    assert not missing, f"strings with no {locale} entry (run pybabel extract/update, then translate): {missing}"
    untranslated = sorted(key for key, value in messages.items() if not value)
    assert not untranslated, f"untranslated in {locale}: {untranslated}"
    fuzzy = sorted(message.id for message in po if message.id and message.fuzzy)
    assert not fuzzy, f"fuzzy entries in {locale}: {fuzzy}"
    obsolete = sorted(messages.keys() - in_source)
    assert not obsolete, f"entries no longer in the code, in {locale}: {obsolete}"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_survive_translation(locale):
    errors = [(message.id, [str(error) for error in found]) for message, found in _po(locale).check() if found]
    assert not errors


def test_chinese_is_chinese():
    messages = _messages(_po("zh_Hans_CN"))
    for key in ("Apple", "Awaiting review", "By product", "Unmatched orders", "Approve the run"):
        assert any("\u4e00" <= char <= "\u9fff" for char in messages[key]), key
