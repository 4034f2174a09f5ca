"""学生分班 (issue 9 item 7): new 初中一年级 students of 东湖第二中学 without a class are placed by
hand or automatically (sizes and boys/girls balanced, optionally scores and previous schools),
reproducible with a seed, previewed and applied with a token; capacities, 重复招生, stale previews
and other schools are refused with nothing written; the screens, the print pages."""
import datetime
import re
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, SchoolClass, Student, StudentStatus
from app.models.admission import (Admission, AdmissionKind, AdmissionState, DuplicateAdmission, DuplicateState,
                                  EnrollmentPlan)
from app.services import class_assignment as ca
from app.services import school_years
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.identity import build_id_number
from tests.conftest import account, unit
from tests.integration.test_registry_services import enrolled

JUNIOR = "school_3601020002"        # 东湖区 junior school (初中一年级 = 21)
PRIMARY = "3601020001"
WEST_JUNIOR = "school_3601030002"   # 西湖区
WEST_PRIMARY = "3601030001"
COUNTY = "county_360102"
BORN = datetime.date(2013, 3, 7)
DIGITS = "零一二三四五六七八九"
START = school_years.year_start_of(datetime.date.today())
ENGLISH = re.compile(r">\s*(None|List|Show|Edit|Delete|Add|Save|Back|Search|Actions?|Record|Records|True|False)\s*<")


def acc(who):
    return account(db.session, who)


def name_of(k):
    return "王" + DIGITS[k // 10 % 10] + DIGITS[k % 10]


def newcomers(n, boys, who=JUNIOR, first=1):
    """n pending 初中一年级 students (在校, no class) of the school: the first `boys` are boys."""
    ids = []
    region = "360102" if who.startswith("school_360102") else "360103"
    for k in range(first, first + n):
        boy = k - first < boys
        s = enrolled(who=who, seq=k, name=name_of(k), gender="1" if boy else "2", birth_date=BORN.isoformat(),
                     id_number=build_id_number(region, BORN, 2 * k + 1 if boy else 2 * k),
                     grade="21", class_name="")
        assert s.status == StudentStatus.IN_SCHOOL and s.class_id is None
        ids.append(s.id)
    return ids


def classes(n, who=JUNIOR, capacity=None):
    made = school_years.create_classes(db.session, acc(who), None, "21", n, capacity=capacity)
    db.session.commit()
    return [c.id for c in made]


def pending_count(who=JUNIOR):
    school = acc(who).org_unit
    return db.session.scalar(select(func.count()).select_from(ca.pending_query(school, "21").subquery()))


def members(class_id):
    return db.session.execute(select(Student.id, Student.gender).where(Student.class_id == class_id)).all()


def open_year():
    year = school_years.open_year(db.session, acc("sheng_admin"), {"start_year": START})
    db.session.commit()
    return year


def admitted(year, student_ids, scores, origins, who=JUNIOR):
    """Admitted admissions (with 中考 scores and previous schools) of these students."""
    school = acc(who).org_unit
    plan = EnrollmentPlan(year_id=year.id, school_id=school.id, school_path=school.path, grade="21",
                          quota=len(student_ids), used=len(student_ids))
    db.session.add(plan)
    db.session.flush()
    for sid, score, origin in zip(student_ids, scores, origins):
        s = db.session.get(Student, sid)
        frm = unit(db.session, origin)
        db.session.add(Admission(year_id=year.id, kind=AdmissionKind.SELF, state=AdmissionState.ADMITTED,
                                 student_id=sid, name=s.name, school_id=school.id, school_path=school.path,
                                 grade="21", from_school_id=frm.id, from_path=frm.path, plan_id=plan.id,
                                 score=score))
    db.session.commit()


def contested(year, student_id):
    case = DuplicateAdmission(year_id=year.id, student_id=student_id, state=DuplicateState.OPEN,
                              paths="/36/3601/360102/3601020002/|/36/3601/360103/3601030002/")
    db.session.add(case)
    db.session.commit()
    return case


def spread(values):
    return max(values) - min(values)


# ---------------------------------------------------------------- the balance

def test_auto_assignment_balances_sizes_and_gender_and_is_applied_set_based(app):
    with app.app_context():
        ids = newcomers(23, boys=13)
        c1, c2, c3, c4 = classes(4)
        me = acc(JUNIOR)
        ca.assign(db.session, me, c1, ids[:2])  # two boys already in 1班 by hand
        db.session.commit()
        p = ca.plan(db.session, me, None, "21", [c1, c2, c3, c4], seed=7)
        assert p["count"] == 21 and p["boys"] == 11 and p["seed"] == 7 and not p["seed_generated"]
        rows = p["classes"]
        assert [r["before"] for r in rows] == [2, 0, 0, 0] and [r["before_boys"] for r in rows] == [2, 0, 0, 0]
        assert spread([r["after"] for r in rows]) <= 1 and sum(r["after"] for r in rows) == 23
        assert spread([r["boys"] for r in rows]) <= 1 and spread([r["girls"] for r in rows]) <= 1
        assert p["size_spread"] <= 1 and p["boys_spread"] <= 1
        assert sorted(a["student_id"] for a in p["assignments"]) == sorted(ids[2:])
        assert pending_count() == 21  # a preview writes nothing
        version = db.session.get(Student, ids[5]).version

        done = ca.apply(db.session, me, None, "21", [c1, c2, c3, c4], seed=7, token=p["token"])
        db.session.commit()
        assert done["token"] == p["token"] and pending_count() == 0
        placed = {a["student_id"]: a["class_id"] for a in p["assignments"]}
        for cid, r in zip((c1, c2, c3, c4), rows):
            got = members(cid)
            assert len(got) == r["after"] and sum(g == "1" for _i, g in got) == r["boys"]
        s = db.session.get(Student, ids[5])
        cls = db.session.get(SchoolClass, placed[ids[5]])
        assert (s.class_id, s.class_name) == (cls.id, cls.name) and s.version == version + 1
        assert s.history[-1].class_name == cls.name and s.history[-1].reason.startswith("自动分班")
        assert s.history[-2].valid_to is not None and s.history[-1].valid_to is None
        entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "bulk", AuditLog.entity == "student")).all()
        assert len(entries) == 4 and all("随机种子 7" in e.reason and e.actor_name == JUNIOR for e in entries)
        assert sum(int(e.new_value) for e in entries) == 21

        # the double click: the same token again finds nobody pending
        with pytest.raises(DomainError, match="名单或班级已变化，请重新预览"):
            ca.apply(db.session, me, None, "21", [c1, c2, c3, c4], seed=7, token=p["token"])
        db.session.rollback()


def test_the_same_seed_gives_the_same_assignment_another_seed_another(app):
    with app.app_context():
        newcomers(16, boys=8)
        cids = classes(3)
        me = acc(JUNIOR)
        one = ca.plan(db.session, me, None, "21", cids, seed=2026)
        again = ca.plan(db.session, me, None, "21", cids, seed="2026")
        other = ca.plan(db.session, me, None, "21", cids, seed=2027)
        assert one["assignments"] == again["assignments"] and one["token"] == again["token"]
        assert one["assignments"] != other["assignments"] and one["token"] != other["token"]
        assert [r["after"] for r in one["classes"]] == [r["after"] for r in other["classes"]]  # the balance is the same
        drawn = ca.plan(db.session, me, None, "21", cids)
        assert drawn["seed_generated"] and 100000 <= drawn["seed"] <= 999999
        assert ca.plan(db.session, me, None, "21", cids, seed=drawn["seed"])["assignments"] == drawn["assignments"]
        with pytest.raises(DomainError, match="随机种子须为"):
            ca.plan(db.session, me, None, "21", cids, seed="abc")
        # only the ticked students, across two classes
        ticked = [a["student_id"] for a in one["assignments"]][:5]
        part = ca.plan(db.session, me, None, "21", cids[:2], seed=1, student_ids=[str(i) for i in ticked])
        assert sorted(a["student_id"] for a in part["assignments"]) == sorted(ticked)
        assert sorted(r["after"] for r in part["classes"]) == [2, 3]


def test_scores_are_balanced_and_previous_schools_spread(app):
    with app.app_context():
        year = open_year()
        ids = newcomers(12, boys=6)
        scores = [100, 95, 90, 85, 80, 75, 70, 65, 60, 55, 50, 45]
        origins = [PRIMARY] * 6 + [WEST_PRIMARY] * 6
        admitted(year, ids, scores, origins)
        cids = classes(3)
        me = acc(JUNIOR)
        p = ca.plan(db.session, me, None, "21", cids, seed=3, balance_scores=True, spread_origin=True)
        assert p["has_scores"] and p["has_origins"]
        for r in p["classes"]:
            assert r["after"] == 4 and r["boys"] == 2
            assert r["largest_origin"]["count"] == 2  # six of each primary school over three classes
        averages = [r["avg_score"] for r in p["classes"]]
        assert spread(averages) <= 5, averages  # 72.5 on average; a random split would differ far more
        by_name = {a["name"]: a for a in p["assignments"]}
        assert by_name[name_of(1)]["score"] == 100 and by_name[name_of(1)]["origin"] == "东湖第一小学"
        plain = ca.plan(db.session, me, None, "21", cids, seed=3)
        assert plain["token"] != p["token"]  # the options are part of the token


# ---------------------------------------------------------------- refusals: nothing written

def test_capacity_is_never_exceeded(app):
    with app.app_context():
        ids = newcomers(13, boys=7)
        cids = classes(3, capacity=4)
        me = acc(JUNIOR)
        with pytest.raises(DomainError, match=r"待分班学生 13 名，所选班级只剩 12 个名额（1班额定 4 人，已有 0 人"):
            ca.plan(db.session, me, None, "21", cids, seed=1)
        db.session.rollback()
        assert pending_count() == 13
        with pytest.raises(DomainError, match="1班额定 4 人，已有 0 人，不能再分入 5 人"):
            ca.assign(db.session, me, cids[0], ids[:5])
        db.session.rollback()
        assert pending_count() == 13 and not members(cids[0])
        ca.assign(db.session, me, cids[0], ids[:3])
        db.session.commit()
        with pytest.raises(DomainError, match="1班额定 4 人，已有 3 人，不能再分入 2 人"):
            school_years.assign_students(db.session, me, cids[0], ids[3:5])
        db.session.rollback()
        with pytest.raises(DomainError, match="额定人数不能少于现有人数"):
            school_years.update_class(db.session, me, cids[0], {"capacity": "2"})
        db.session.rollback()
        with pytest.raises(DomainError, match="额定人数须在 1 至 80 之间"):
            school_years.update_class(db.session, me, cids[1], {"capacity": "81"})
        db.session.rollback()
        # one class without a limit: everyone fits, the capped classes stay within 4
        school_years.update_class(db.session, me, cids[2], {"capacity": ""})
        db.session.commit()
        p = ca.plan(db.session, me, None, "21", cids, seed=1)
        after = {r["class_id"]: r["after"] for r in p["classes"]}
        assert after[cids[0]] == 4 and after[cids[1]] == 4 and after[cids[2]] == 5


def test_a_stale_preview_is_refused(app):
    with app.app_context():
        ids = newcomers(8, boys=4)
        cids = classes(2)
        me = acc(JUNIOR)
        p = ca.plan(db.session, me, None, "21", cids, seed=11)
        ca.assign(db.session, me, cids[0], [ids[0]])  # someone assigns a student meanwhile
        db.session.commit()
        with pytest.raises(DomainError, match="名单或班级已变化，请重新预览"):
            ca.apply(db.session, me, None, "21", cids, seed=11, token=p["token"])
        db.session.rollback()
        assert pending_count() == 7
        p = ca.plan(db.session, me, None, "21", cids, seed=11)
        school_years.update_class(db.session, me, cids[1], {"capacity": "40"})  # a class changed
        db.session.commit()
        with pytest.raises(DomainError, match="名单或班级已变化，请重新预览"):
            ca.apply(db.session, me, None, "21", cids, seed=11, token=p["token"])
        db.session.rollback()
        with pytest.raises(DomainError, match="名单或班级已变化，请重新预览"):
            ca.apply(db.session, me, None, "21", cids, seed=11, token="forged")
        db.session.rollback()
        assert pending_count() == 7
        p = ca.plan(db.session, me, None, "21", cids, seed=11)
        ca.apply(db.session, me, None, "21", cids, seed=11, token=p["token"])
        db.session.commit()
        assert pending_count() == 0


def test_two_confirmations_at_the_same_moment_place_the_students_once(app):
    with app.app_context():
        ids = newcomers(9, boys=4)
        cids = classes(3)
        me = acc(JUNIOR)
        p = ca.plan(db.session, me, None, "21", cids, seed=5)
        token, me_id = p["token"], me.id
        db.session.rollback()
        db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        with app.app_context():
            from app.models import Account
            actor = db.session.get(Account, me_id)
            actor.org_unit, actor.roles  # loaded before racing
            barrier.wait()
            try:
                ca.apply(db.session, actor, None, "21", cids, seed=5, token=token)
                db.session.commit()
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes)[0] == "ok" and outcomes.count("ok") == 1, outcomes
    assert "名单或班级已变化，请重新预览" in [o for o in outcomes if o != "ok"][0]
    with app.app_context():
        assert pending_count() == 0 and sum(len(members(c)) for c in cids) == 9
        placed = db.session.scalars(select(Student).where(Student.id.in_(ids))).all()
        assert all(len([h for h in s.history if h.reason and h.reason.startswith("自动分班")]) == 1 for s in placed)
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "bulk",
                                                                                 AuditLog.entity == "student")) == 3


def test_a_contested_admission_blocks_placement(app):
    with app.app_context():
        year = open_year()
        ids = newcomers(6, boys=3)
        cids = classes(2)
        contested(year, ids[0])
        me = acc(JUNIOR)
        with pytest.raises(DomainError, match=f"{name_of(1)}：该生被多所学校录取（重复招生）尚未解决，不能分班"):
            ca.assign(db.session, me, cids[0], ids[:2])
        db.session.rollback()
        with pytest.raises(DomainError, match=f"{name_of(1)} 暂不能分班"):
            ca.plan(db.session, me, None, "21", cids, seed=1, student_ids=ids[:3])
        db.session.rollback()
        assert pending_count() == 6 and not members(cids[0])
        # all pending: the contested student is left out and named
        p = ca.plan(db.session, me, None, "21", cids, seed=1)
        assert [s["student_id"] for s in p["skipped"]] == [ids[0]] and p["count"] == 5
        ca.apply(db.session, me, None, "21", cids, seed=1, token=p["token"])
        db.session.commit()
        assert db.session.get(Student, ids[0]).class_id is None and pending_count() == 1
        with pytest.raises(DomainError, match="没有待分班的学生（1 名因重复招生未解决暂不能分班）"):
            ca.plan(db.session, me, None, "21", cids, seed=1)


def test_a_school_touches_only_its_own_classes_and_superiors_only_read(app):
    with app.app_context():
        mine = newcomers(4, boys=2)
        theirs = newcomers(2, boys=1, who=WEST_JUNIOR, first=50)
        my_classes = classes(2)
        their_class = classes(1, who=WEST_JUNIOR)[0]
        me = acc(JUNIOR)
        with pytest.raises(NotFound, match="班级不存在或不属于本校"):
            ca.plan(db.session, me, None, "21", my_classes + [their_class], seed=1)
        with pytest.raises(NotFound):
            ca.assign(db.session, me, their_class, mine[:1])
        with pytest.raises(NotFound):
            ca.plan(db.session, me, None, "21", my_classes, seed=1, student_ids=mine[:1] + theirs[:1])
        with pytest.raises(NotFound):  # another school's id as the school
            ca.plan(db.session, me, unit(db.session, "3601030002").id, "21", [their_class], seed=1)
        with pytest.raises(DomainError, match="学生分班用于起始年级的新生"):
            ca.plan(db.session, me, None, "22", my_classes, seed=1)
        junior_id = me.org_unit_id
        for who in (COUNTY, "city_360100", "sheng_admin"):
            with pytest.raises(PermissionDenied, match="上级单位只能查看"):
                ca.plan(db.session, acc(who), junior_id, "21", my_classes, seed=1)
            with pytest.raises(PermissionDenied):
                ca.apply(db.session, acc(who), junior_id, "21", my_classes, seed=1, token="x")
            with pytest.raises(PermissionDenied):
                ca.assign(db.session, acc(who), my_classes[0], mine[:1])
        db.session.rollback()
        assert pending_count() == 4 and pending_count(WEST_JUNIOR) == 2
        # reading: the county reads its school's list, not another county's
        ca.assign(db.session, me, my_classes[0], mine[:2])
        db.session.commit()
        r = ca.roster(db.session, acc(COUNTY), my_classes[0])
        assert [s["name"] for s in r["students"]] == [name_of(2), name_of(1)]  # by pinyin: wang ling er, … yi
        assert r["students"][0]["xueji_no"].startswith("G")
        viewer = ca.roster(db.session, acc("sheng_viewer"), my_classes[0])
        assert "*" in viewer["students"][0]["xueji_no"]  # masked for a read-only account
        with pytest.raises(NotFound):
            ca.roster(db.session, acc("county_360103"), my_classes[0])
        school, rosters = ca.grade_rosters(db.session, acc(COUNTY), junior_id, "21")
        assert school.id == junior_id and [len(r["students"]) for r in rosters] == [2, 0]
        with pytest.raises(NotFound):
            ca.grade_rosters(db.session, acc("county_360103"), junior_id, "21")
        with pytest.raises(NotFound, match="请选择学校"):
            ca.grade_rosters(db.session, acc(COUNTY), "abc", "21")
        # a ticked student already placed is named; another school's is not found (nor named)
        with pytest.raises(DomainError, match=f"{name_of(1)}.*不在初中一年级待分班名单中"):
            ca.plan(db.session, me, None, "21", my_classes, seed=1, student_ids=[mine[0], mine[2]])
        with pytest.raises(NotFound) as hidden:
            ca.plan(db.session, me, None, "21", my_classes, seed=1, student_ids=[mine[0], theirs[0]])
        assert name_of(50) not in hidden.value.message
        db.session.rollback()


# ---------------------------------------------------------------- the screens

def page(resp):
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200, (resp.status_code, text[:2000])
    assert "Traceback" not in text and not ENGLISH.search(text), ENGLISH.search(text)
    return text


def test_screens_preview_apply_and_print(app, as_user):
    with app.app_context():
        ids = newcomers(10, boys=5)
        cids = classes(3)
        their_class = classes(1, who=WEST_JUNIOR)[0]
        db.session.get(SchoolClass, cids[0]).head_teacher = "李老师"
        db.session.commit()
    c = as_user(JUNIOR)
    text = page(c.get("/classassignmentview/list/"))
    assert "学生分班" in text and "待分班学生" in text and name_of(1) in text and "自动分班预览" in text
    assert "初中一年级" in text and "1班" in text and "李老师" in text

    # 手工分班 of two ticked students
    resp = c.post("/classassignmentview/assign", data={"grade": "21", "student_id": [ids[0], ids[1]],
                                                        "target_class": cids[0]}, follow_redirects=True)
    assert "已将 2 名学生分入初中一年级1班" in page(resp)
    with app.app_context():
        assert {s.id for s in members(cids[0])} == {ids[0], ids[1]} and pending_count() == 8
    # 额定人数 from this screen, then more students than seats
    for cid in cids:
        with app.app_context():
            version = db.session.get(SchoolClass, cid).version
        resp = c.post(f"/classassignmentview/capacity/{cid}", data={"grade": "21", "capacity": "3",
                                                                    "version": version}, follow_redirects=True)
        assert "额定人数已设为 3 人" in page(resp)
        with app.app_context():
            assert db.session.get(SchoolClass, cid).capacity == 3
    form = {"grade": "21", "class_id": cids, "seed": "42", "scope": "all"}
    text = page(c.post("/classassignmentview/preview", data=form))
    assert "待分班学生 8 名，所选班级只剩 7 个名额" in text and 'id="form-error"' in text
    with app.app_context():
        for cid in cids:
            school_years.update_class(db.session, acc(JUNIOR), cid, {"capacity": ""})
        db.session.commit()

    # 自动分班: preview, then 确认分班
    text = page(c.post("/classassignmentview/preview", data=form))
    assert "自动分班预览" in text and "确认分班" in text and "随机种子：42" in text and "分班后" in text
    assert "各班人数最多相差 1 人" in text or "各班人数最多相差 0 人" in text
    token = re.search(r'name="token" value="([0-9a-f]+)"', text).group(1)
    with app.app_context():
        assert pending_count() == 8
    resp = c.post("/classassignmentview/apply", data={**form, "token": token}, follow_redirects=True)
    text = page(resp)
    assert "分班完成：8 名学生已分入 3 个班（随机种子 42）" in text and "没有待分班的学生" in text
    with app.app_context():
        assert pending_count() == 0
        sizes = sorted(len(members(cid)) for cid in cids)
        assert sizes == [3, 3, 4]
    # the double click: the second post changes nothing and says why
    resp = c.post("/classassignmentview/apply", data={**form, "token": token}, follow_redirects=True)
    assert "名单或班级已变化，请重新预览" in page(resp)
    # another school's class in the form or the URL: not found
    assert c.post("/classassignmentview/preview", data={**form, "class_id": cids + [their_class]}).status_code == 404
    assert c.post("/classassignmentview/assign", data={"grade": "21", "student_id": [ids[2]],
                                                       "target_class": their_class}).status_code == 404
    assert c.get(f"/classassignmentview/roster/{their_class}").status_code == 404
    # ids beyond the column's range: not found either, never a 500
    huge = "9" * 30
    assert c.post("/classassignmentview/assign", data={"grade": "21", "student_id": [huge],
                                                       "target_class": cids[0]}).status_code == 404
    assert c.post("/classassignmentview/preview", data={**form, "class_id": [huge]}).status_code == 404
    assert c.post(f"/classassignmentview/capacity/{huge}", data={"capacity": "1"}).status_code == 404
    assert c.get(f"/classassignmentview/roster/{huge}").status_code == 404
    assert c.get(f"/classassignmentview/print?school={huge}&grade=21").status_code == 404
    with app.app_context():
        assert ids[2] not in {s.id for s in members(their_class)} and pending_count() == 0

    # printable lists: one class, the whole grade
    text = page(c.get(f"/classassignmentview/roster/{cids[0]}"))
    assert "打印" in text and "学生名单" in text and name_of(1) in text and name_of(2) in text and "@media print" in text
    assert "班主任：李老师" in text
    text = page(c.get("/classassignmentview/print?grade=21"))
    for k in range(1, 11):
        assert name_of(k) in text
    assert text.count('class="roster"') == 3

    # superiors: a clear refusal, not a 500; they may read a list in their area
    county = as_user(COUNTY)
    assert "学生分班由学校学籍管理员办理" in page(county.get("/classassignmentview/list/"))
    resp = county.post("/classassignmentview/apply", data={**form, "token": token})
    assert resp.status_code == 403 and "学生分班由学校学籍管理员办理" in resp.get_data(as_text=True)
    assert name_of(1) in page(county.get(f"/classassignmentview/roster/{cids[0]}"))
    assert as_user("county_360103").get(f"/classassignmentview/roster/{cids[0]}").status_code == 404
