"""疑似重复学籍 (beyond the guide): adjacent transpositions in ID numbers and same-pinyin names with
the same birth date and guardian phone — found, scoped, shown, never acted on."""
import datetime

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditLog, Request, Student
from app.models.problems import ProblemRecord
from app.models.student import Guardian
from app.services import near_duplicates, problems
from app.services.errors import PermissionDenied
from app.services.identity import build_id_number, mask
from tests.conftest import account
from tests.integration.test_transfers import student_at

D = datetime.date
EAST1, EAST2, WEST1, LIANXI1 = "3601020001", "3601020002", "3601030001", "3604020001"


def acc(username):
    return account(db.session, username)


def plant(student, **values):
    db.session.execute(update(Student).where(Student.id == student.id).values(**values))
    db.session.commit()
    db.session.expire_all()


def set_phone(student, phone):
    db.session.execute(update(Guardian).where(Guardian.student_id == student.id).values(phone=phone))
    db.session.commit()


def swap(number, i):
    return number[:i] + number[i + 1] + number[i] + number[i + 2:]


def report(who):
    return near_duplicates.report(db.session, acc(who))


def found(who):
    """{(kind, frozenset of student ids)}"""
    return {(c.kind, frozenset(c.student_ids)) for c in report(who)}


def state():
    db.session.expire_all()
    return (tuple(db.session.execute(select(Student.id, Student.version, Student.status, Student.id_number, Student.name)
                                     .order_by(Student.id)).all()),
            db.session.scalar(select(func.count()).select_from(Request)),
            db.session.scalar(select(func.count()).select_from(ProblemRecord)),
            db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action != "view")))


@pytest.fixture
def world_pairs(app):
    """A transposition across two counties of 南昌, a same-pinyin pair across 南昌 and 九江, and
    look-alikes that are not candidates. Every test student has the same guardian phone and birth date."""
    with app.app_context():
        a = student_at(EAST1, seq=1, name="王芳")
        b = student_at(WEST1, seq=2, name="李强")
        plant(b, id_number=swap(a.id_number, 13))              # the 14th and 15th characters swapped
        c = student_at(EAST2, seq=3, name="张晓明")
        d = student_at(LIANXI1, seq=4, name="张小明")
        # not candidates: another pinyin; same pinyin but another birth date; same pinyin but another phone
        student_at(EAST1, seq=5, name="张晓敏")
        e = student_at(WEST1, seq=6, name="章小明", birth_date="2019-03-09",
                       id_number=build_id_number("360103", D(2019, 3, 9), 13))
        f = student_at(LIANXI1, seq=7, name="张筱明")
        set_phone(f, "13811112222")
        # a transposition of two equal digits is no change; a deleted record is no candidate
        g = student_at(EAST2, seq=8, name="赵敏")
        plant(g, status="deleted", id_number=swap(c.id_number, 2))
        ids = {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "f": f.id, "g": g.id}
    return ids  # outside the app context: each request of a test client gets its own (and its own g.user)


def test_candidates_of_both_kinds_are_found(app, world_pairs):
    w = world_pairs
    with app.app_context():
        cands = report("sheng_admin")
        assert {(c.kind, frozenset(c.student_ids)) for c in cands} == {
            (near_duplicates.TRANSPOSED, frozenset([w["a"], w["b"]])),
            (near_duplicates.SAME_PINYIN, frozenset([w["c"], w["d"]])),
        }
        t = next(c for c in cands if c.kind == near_duplicates.TRANSPOSED)
        assert t.label == "身份证号相邻两位颠倒" and "第 14、15 位顺序颠倒" in t.reason
        p = next(c for c in cands if c.kind == near_duplicates.SAME_PINYIN)
        assert p.label == "姓名拼音、出生日期、监护人电话相同"
        assert "张晓明" in p.reason and "张小明" in p.reason and "zhang xiao ming" in p.reason
        assert "2019-03-07" in p.reason and "139****0000" in p.reason and "13900000000" not in p.reason
        assert all(e.in_scope for c in cands for e in c.entries)
        # the limit
        assert len(near_duplicates.report(db.session, acc("sheng_admin"), limit=1)) == 1


def test_a_third_record_with_the_same_pinyin_joins_the_group(app, world_pairs):
    w = world_pairs
    with app.app_context():
        h = student_at(WEST1, seq=9, name="张小鸣")
        assert (near_duplicates.SAME_PINYIN, frozenset([w["c"], w["d"], h.id])) in found("sheng_admin")


def test_what_the_three_rules_catch_is_left_to_them(app):
    with app.app_context():
        a = student_at(EAST1, seq=1, name="张晓明")
        b = student_at(WEST1, seq=2, name="张小明")
        plant(b, origin="legacy", id_number=a.id_number)        # 身份证号重复: a 问题学籍 already
        c = student_at(EAST1, seq=3, name="刘洋")
        d = student_at(WEST1, seq=4, name="刘洋")
        plant(c, id_type="Z", id_number=None)
        plant(d, id_type="Z", id_number=None)                   # 无身份证号重复: a 问题学籍 already
        assert found("sheng_admin") == set()
        problems.detect(db.session)
        db.session.commit()
        assert found("sheng_admin") == set()


def test_the_report_changes_nothing(app, world_pairs):
    with app.app_context():
        before = state()
        for who in ("sheng_admin", "city_360100", "county_360102"):
            assert report(who)
        db.session.commit()
        assert state() == before


@pytest.mark.parametrize("who", ["school_3601020001", "school_3604020001"])
def test_schools_are_refused(app, world_pairs, who):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="县级及以上"):
            report(who)


def test_only_candidates_with_a_record_in_scope_are_shown(app, world_pairs):
    w = world_pairs
    with app.app_context():
        transposed = (near_duplicates.TRANSPOSED, frozenset([w["a"], w["b"]]))
        pinyin = (near_duplicates.SAME_PINYIN, frozenset([w["c"], w["d"]]))
        assert found("county_360102") == {transposed, pinyin}
        assert found("county_360103") == {transposed}
        assert found("county_360402") == {pinyin}
        assert found("city_360100") == {transposed, pinyin}
        assert found("city_360400") == {pinyin}
        (cand,) = report("county_360103")
        assert {e.student.id: e.in_scope for e in cand.entries} == {w["a"]: False, w["b"]: True}


# ---------------------------------------------------------------- the screen

def test_the_screen_lists_candidates_with_masked_numbers_and_links(app, world_pairs, as_user):
    w = world_pairs
    with app.app_context():
        students = {k: db.session.get(Student, v) for k, v in w.items()}
        numbers = {k: s.id_number for k, s in students.items()}
    # a county officer: its own record in full with a link, the other county's masked and unlinked
    html = as_user("county_360103").get("/nearduplicateview/list/").get_data(as_text=True)
    assert "疑似重复学籍" in html and "身份证号相邻两位颠倒" in html and "第 14、15 位顺序颠倒" in html
    assert "王芳" in html and "李强" in html and "东湖第一小学" in html and "西湖第一小学" in html
    assert f"/studentview/show/{w['b']}" in html and f"/studentview/show/{w['a']}" not in html
    assert numbers["b"] in html and numbers["a"] not in html and mask(numbers["a"]) in html
    assert "张晓明" not in html  # the pair of 东湖区 and 濂溪区 is none of 西湖区's business
    # a city officer sees ID numbers masked only
    html = as_user("city_360100").get("/nearduplicateview/list/").get_data(as_text=True)
    assert "张晓明" in html and "张小明" in html and "zhang xiao ming" in html
    assert not any(n in html for n in numbers.values())
    assert mask(numbers["c"]) in html
    with app.app_context():  # full numbers shown are audited
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "view", AuditLog.entity_id == str(w["b"]))) >= 1


def test_schools_cannot_open_the_screen(app, world_pairs, as_user):
    resp = as_user("school_3601020001").get("/nearduplicateview/list/")
    assert resp.status_code in (302, 403)
    assert "身份证号相邻两位颠倒" not in resp.get_data(as_text=True)


def test_an_empty_report(app, as_user):
    html = as_user("sheng_admin").get("/nearduplicateview/list/").get_data(as_text=True)
    assert "未发现疑似重复学籍" in html

