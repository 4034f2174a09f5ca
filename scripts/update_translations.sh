#!/usr/bin/env bash
# Re-extract user-facing strings and update the zh/en catalogues (see docs/i18n.md).
#   scripts/update_translations.sh
# 1. pybabel extract: app/**.py, config.py, app/templates/**.html -> translations/messages.pot
# 2. merge the template into translations/{zh,en}/LC_MESSAGES/messages.po:
#    - new Chinese msgids get msgstr = msgid in zh (the source language is Chinese);
#      everything else new is left empty for a translator (tests/integration/test_i18n.py fails
#      until it is filled in);
#    - strings no longer in the source are dropped, EXCEPT the entries marked
#      "# FAB override" in the zh catalogue (Chinese for Flask-AppBuilder's own English msgids),
#      which are kept at the end of the file.
# The .mo files are compiled at app start (app/i18n.py) and are not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYBABEL=${PYBABEL:-.venv/bin/pybabel}

"$PYBABEL" extract -F babel.cfg -k _l -k lazy_gettext --add-location=file --sort-by-file \
    --project "registry" --copyright-holder "registry" --msgid-bugs-address "-" \
    -o translations/messages.pot . 2>/dev/null

"$PY" - <<'PYEOF'
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path("translations")
MARK = "FAB override"
CJK = re.compile(r"[\u4e00-\u9fff]")

for lang in ("zh", "en"):
    with (ROOT / "messages.pot").open("rb") as fh:
        template = read_po(fh)  # fresh per language: Catalog.update shares message objects
    po_path = ROOT / lang / "LC_MESSAGES" / "messages.po"
    if po_path.exists():
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
    else:
        po_path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale=lang, project="registry", fuzzy=False)
    fab = [m for m in catalog if m.id and any(MARK in c for c in m.user_comments)]
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    for m in fab:
        if m.id in catalog:
            continue  # our own source now uses the same msgid
        catalog[m.id] = m
    catalog.fuzzy = False
    for m in catalog:
        if lang == "zh" and m.id and not m.string and isinstance(m.id, str) and CJK.search(m.id):
            m.string = m.id
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, include_previous=False)
    todo = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    print(f"{po_path}: {len([m for m in catalog if m.id])} entries, {len(todo)} untranslated")
    for mid in todo:
        print(f"   TODO: {mid!r}")
PYEOF
