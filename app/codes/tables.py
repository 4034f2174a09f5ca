"""National code tables (民族, 证件类型, 毕业去向 …): data in data/national.json, one loader.
Stored as codes everywhere; shown with their names."""
import json
from functools import lru_cache
from pathlib import Path

_DATA = Path(__file__).with_name("data") / "national.json"


@lru_cache(maxsize=1)
def _tables():
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    return {name: {"label": t["label"], "standard": t["standard"], "items": dict(t["items"])}
            for name, t in raw.items() if not name.startswith("_")}


def add_table(name, label, items, standard=""):
    """A feature's own small code table (e.g. 教育阶段 of the admission templates), in the shape of
    the national ones, so import templates (dropdowns, 代码表) and normalisers treat it alike.
    A name already there is kept (idempotent; a national table is never replaced)."""
    _tables().setdefault(name, {"label": label, "standard": standard, "items": dict(items)})
    return name


def names():
    return list(_tables())


def table(name):
    """{code: name} in the standard's order."""
    return _tables()[name]["items"]


def title(name):
    return _tables()[name]["label"]


def label(name, code, default=""):
    if code in (None, ""):
        return default
    return table(name).get(str(code), str(code))


def choices(name, blank=False):
    items = list(table(name).items())
    return ([("", "—")] if blank else []) + items


def is_valid(name, code):
    return code is not None and str(code) in table(name)


def code_for(name, text):
    """Reverse lookup by name (imports accept either the code or the name)."""
    text = (text or "").strip()
    if text in table(name):
        return text
    for code, n in table(name).items():
        if n == text:
            return code
    return None
