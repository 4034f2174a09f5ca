"""Fill English msgstrs from a JSON {msgid: english} file: python scripts/fill_en.py FILE.json"""
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

path = Path("translations/en/LC_MESSAGES/messages.po")
with path.open("rb") as fh:
    cat = read_po(fh, locale="en")
todo = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
for msg in cat:
    if msg.id and msg.id in todo and not msg.string:
        msg.string = todo[msg.id]
with path.open("wb") as fh:
    write_po(fh, cat, width=100)
left = [m.id for m in cat if m.id and not m.string]
print("untranslated left:", left)
