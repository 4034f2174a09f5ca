"""Translations: compile translations/*.po to .mo at start-up when the .po is newer (.mo files are
not committed), and let the catalogue in translations/ cover WTForms validation messages too."""
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compile_catalogs(translations_dir):
    for po_path in Path(translations_dir).glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        tmp.replace(mo_path)


def merge_into_wtforms_translations():
    """Flask-WTF translates validation messages with WTForms' own catalogue only, so messages of
    FAB's fields and validators ("Not a valid choice", "Already exists.") and WTForms strings its
    zh catalogue lacks would show in English. Merge our catalogue (translations/) over WTForms'
    for each request so that the entries there win. Idempotent."""
    import flask_wtf.i18n as wtf_i18n
    from babel import support
    from flask import current_app, request
    from flask_babel import get_locale

    original = wtf_i18n._get_translations
    if getattr(original, "merges_app_catalogue", False):
        return

    def _get_translations():
        translations = original()
        if translations is not None and hasattr(translations, "merge") \
                and not getattr(request, "app_catalogue_merged", False):
            # FAB prepends its own directory: "<fab>/translations;<ours>"; ours is the last one.
            ours = current_app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";")[-1]
            translations.merge(support.Translations.load(ours, [get_locale()], "messages"))
            request.app_catalogue_merged = True
        return translations

    _get_translations.merges_app_catalogue = True
    wtf_i18n._get_translations = _get_translations
