"""学年学期、班级、毕业与升级 REST API (/api/v1/school-year/…) from the outside: real HTTP through
the test client with JWT, the services behind it. The province opens years and runs / undoes the
升级, schools keep classes and graduate, counties 驳回 graduates and 补升级; every refusal is a
Chinese 4xx with nothing written (asserted on the database), another county's rows answer 404
exactly like missing ones, and the read-only account reads but never writes. Time is frozen by
monkeypatching app.services.clock.now."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Student
from app.models.school_year import Graduation, PromotionHold, PromotionRun, SchoolClass, SchoolTerm, SchoolYear
from app.services import clock
from tests.conftest import unit
from tests.integration.test_registry_services import enrolled

DT = datetime.datetime
API = "/api/v1/school-year"

DONGHU, DONGHU_JUNIOR, XIHU = "school_3601020001", "school_3601020002", "school_3601030001"
DONGHU_COUNTY, XIHU_COUNTY = "county_360102", "county_360103"
NANCHANG, PROVINCE, VIEWER = "city_360100", "sheng_admin", "sheng_viewer"
NOT_FOUND = "记录不存在或不在您的管辖范围内"
FORBIDDEN = "您没有权限执行此操作"


def cjk(text):
    return any("\u3400" <= ch <= "\u9fff" for ch in text or "")


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture
def call(api_token):
    """call(who, method, url, json=None) -> response; url relative to /api/v1/school-year."""
    clients = {}

    def make(who, method, url, json=None):
        if who not in clients:
            clients[who] = api_token(who)
        c, h = clients[who]
        full = url if url.startswith("/api/") else API + url
        return getattr(c, method)(full, json=json, headers=h)
    return make


@pytest.fixture
def at(monkeypatch):
    """at(datetime): freeze the platform clock there (and move it later in the test)."""
    frozen = {}
    monkeypatch.setattr(clock, "now", lambda: frozen["now"])

    def move(when):
        frozen["now"] = when
    return move


@pytest.fixture
def read(app):
    """read(fn) -> fn(session) in a fresh session: what the database holds now."""
    def run(fn):
        with app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()
    return run


@pytest.fixture
def student(app):
    """student(seq, grade="11", who=DONGHU) -> id of an 在校 student of that grade."""
    def make(seq, grade="11", who=DONGHU):
        with app.app_context():
            s = enrolled(who, seq=seq)
            if s.grade != grade:
                s.grade = grade
                db.session.commit()
            sid = s.id
            db.session.remove()
        return sid
    return make


@pytest.fixture
def school_id(app):
    def find(code):
        with app.app_context():
            uid = unit(db.session, code).id
            db.session.remove()
        return uid
    return find


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def student_row(read, sid):
    return read(lambda s: (lambda st: (st.grade, st.status.value, st.class_id, st.class_name))(s.get(Student, sid)))


def open_year(call, start_year=2026, **extra):
    r = call(PROVINCE, "post", "/years", {"start_year": start_year, **extra})
    assert r.status_code == 201, r.json
    return r.json["result"]


def make_classes(call, grade, n=1, who=DONGHU, **extra):
    r = call(who, "post", "/classes", {"grade": grade, "count": n, **extra})
    assert r.status_code == 201, r.json
    return [c["id"] for c in r.json["result"]]


def assign(call, class_id, ids, who=DONGHU):
    r = call(who, "post", f"/classes/{class_id}/students", {"student_ids": ids})
    assert r.status_code == 200, r.json
    return r


def refused(r, status, text=None):
    """A refusal: the status, a Chinese message (containing `text`)."""
    assert r.status_code == status, (r.status_code, r.json)
    assert cjk(r.json["message"]), r.json
    if text is not None:
        assert text in r.json["message"], r.json["message"]
    return r.json


# ---------------------------------------------------------------- 学年学期

def test_the_province_opens_and_edits_the_school_year(call, at, read):
    at(DT(2026, 11, 25, 10, 0))
    refused(call(DONGHU, "post", "/years", {"start_year": 2026}), 403, "只有省级管理员可以设置学年学期")
    refused(call(VIEWER, "post", "/years", {"start_year": 2026}), 403, FORBIDDEN)
    assert read(lambda s: count(s, SchoolYear)) == 0

    r = call(PROVINCE, "post", "/years", {"start_year": 2026})
    assert r.status_code == 201, r.json
    assert r.json["message"] == "已设置2026-2027学年，升级时点为2027年8月10日24时"
    year = r.json["result"]
    assert year["name"] == "2026-2027学年" and year["current"] is True
    assert (year["starts_on"], year["ends_on"], year["promotion_at"]) == ("2026-09-01", "2027-08-31",
                                                                         "2027-08-11T00:00:00")
    assert [(t["kind"]["name"], t["starts_on"], t["ends_on"]) for t in year["terms"]] == [
        ("秋季学期", "2026-09-01", "2027-01-31"), ("春季学期", "2027-02-01", "2027-08-31")]

    for who in (DONGHU, VIEWER, XIHU_COUNTY):  # every account works by the province's calendar
        listed = call(who, "get", "/years").json
        assert listed["count"] == 1 and listed["current_year_id"] == year["id"]
        assert listed["current_term_id"] == year["terms"][0]["id"] and listed["result"][0]["standing_run"] is None

    # refusals: nothing written
    refused(call(PROVINCE, "post", "/years", {"start_year": 2026}), 422, "2026-2027学年已设置，不能重复设置")
    bad = refused(call(PROVINCE, "post", "/years", {"start_year": 2027, "promotion_at": "明年夏天"}), 422, "升级时点格式")
    assert bad["field"] == "promotion_at"
    refused(call(PROVINCE, "post", "/years", {"start_year": "二〇二七"}), 422, "学年起始年份须为整数")
    refused(call(PROVINCE, "post", "/years", {"start_year": 2027, "starts_on": 20270901}), 400, "starts_on 应为文本")
    refused(call(PROVINCE, "post", "/years", "2027"), 400, "请求内容应为 JSON 对象")
    assert read(lambda s: count(s, SchoolYear)) == 1

    pk = year["id"]
    refused(call(PROVINCE, "put", f"/years/{pk}", {"promotion_at": "2027-08-15 24:00", "expected_version": 7}),
            422, "该记录已被他人修改")
    refused(call(VIEWER, "put", f"/years/{pk}", {"promotion_at": "2027-08-15 24:00"}), 403, FORBIDDEN)
    refused(call(DONGHU_COUNTY, "put", f"/years/{pk}", {"promotion_at": "2027-08-15 24:00"}), 403, "只有省级管理员")
    refused(call(PROVINCE, "put", f"/years/{pk}", {"promotion_at": "2026-10-01 24:00"}), 422, "升级时点须")
    refused(call(PROVINCE, "put", "/years/999999", {"promotion_at": "2027-08-15 24:00"}), 404, NOT_FOUND)
    assert read(lambda s: s.get(SchoolYear, pk).promotion_at) == DT(2027, 8, 11)

    r = call(PROVINCE, "put", f"/years/{pk}", {"promotion_at": "2027-08-15 24:00", "expected_version": year["version"]})
    assert r.status_code == 200, r.json
    assert r.json["result"]["promotion_at_label"] == "2027年8月15日24时" and r.json["version"] == year["version"] + 1
    assert read(lambda s: s.get(SchoolYear, pk).promotion_at) == DT(2027, 8, 16)

    autumn = year["terms"][0]["id"]
    r = call(PROVINCE, "put", f"/terms/{autumn}", {"starts_on": "2026-09-01", "ends_on": "2027-01-20"})
    assert r.status_code == 200 and r.json["result"]["ends_on"] == "2027-01-20", r.json
    refused(call(PROVINCE, "put", f"/terms/{autumn}", {"starts_on": "2026-09-01", "ends_on": "2026-08-01"}), 422,
            "学期结束日期须晚于开始日期")
    refused(call(PROVINCE, "put", f"/terms/{autumn}", {"starts_on": "2026-09-01", "ends_on": "2027-03-01"}), 422,
            "与春季学期的日期重叠")
    refused(call(VIEWER, "put", f"/terms/{autumn}", {"starts_on": "2026-09-01", "ends_on": "2027-01-10"}), 403,
            FORBIDDEN)
    assert read(lambda s: s.get(SchoolTerm, autumn).ends_on) == datetime.date(2027, 1, 20)


# ---------------------------------------------------------------- 班级

def test_a_school_keeps_its_classes(call, at, read, student):
    at(DT(2026, 11, 25, 10, 0))
    r = call(DONGHU, "post", "/classes", {"grade": "11", "count": 2, "head_teachers": ["王老师"]})
    assert r.status_code == 201, r.json
    assert r.json["message"] == "已为东湖第一小学小学一年级新建 2 个班：1班、2班"
    first, second = r.json["result"]
    assert (first["title"], first["head_teacher"], first["cohort_year"]) == ("小学一年级1班（2026级）", "王老师", 2026)
    assert second["head_teacher"] is None and first["grade"] == {"code": "11", "name": "小学一年级"}

    sid = student(1)
    r = assign(call, first["id"], [sid])
    assert r.json["count"] == 1 and r.json["class"]["students"] == 1 and r.json["class"]["boys"] == 1
    assert student_row(read, sid)[2:] == (first["id"], "1班")

    listed = call(DONGHU, "get", "/classes?grade=11").json
    assert listed["count"] == 2 and [c["students"] for c in listed["result"]] == [1, 0]
    assert call(VIEWER, "get", "/classes").json["count"] == 2  # readers read
    assert call(DONGHU, "get", "/classes?grade=12").json["count"] == 0

    # 班号: a clash is refused; not sending head_teacher keeps it; the students' class name follows
    bad = refused(call(DONGHU, "put", f"/classes/{second['id']}", {"class_no": 1}), 422, "2026级已有1班")
    assert bad["field"] == "class_no" and read(lambda s: s.get(SchoolClass, second["id"]).class_no) == 2
    r = call(DONGHU, "put", f"/classes/{first['id']}", {"class_no": 5, "expected_version": first["version"]})
    assert r.status_code == 200, r.json
    assert (r.json["result"]["name"], r.json["result"]["head_teacher"]) == ("5班", "王老师")
    assert student_row(read, sid)[3] == "5班"
    refused(call(DONGHU, "put", f"/classes/{first['id']}", {"class_no": 6, "expected_version": first["version"]}),
            422, "该记录已被他人修改")

    # refusals, nothing written
    before = read(lambda s: count(s, SchoolClass))
    bad = refused(call(DONGHU, "post", "/classes", {"grade": "21", "count": 1}), 422, "没有初中一年级")
    assert bad["field"] == "grade"
    refused(call(DONGHU, "post", "/classes", {"grade": "11", "count": 61}), 422, "班级数须在 1 至 60 之间")
    refused(call(DONGHU, "post", "/classes", {"grade": "11", "count": "两"}), 400, "count 应为整数")
    refused(call(DONGHU, "post", "/classes", {"grade": "11", "count": 1, "head_teachers": "王老师"}), 400,
            "head_teachers 应为班主任姓名列表")
    refused(call(VIEWER, "post", "/classes", {"grade": "11", "count": 1, "school_id": 1}), 403, FORBIDDEN)
    refused(call(DONGHU, "post", f"/classes/{second['id']}/students", {"student_ids": ["张三"]}), 400,
            "student_ids 应为编号列表")
    refused(call(DONGHU, "post", f"/classes/{second['id']}/students", {"student_ids": []}), 400, "请选择要分入本班的学生")
    refused(call(DONGHU, "get", "/classes?grade=七年级"), 400, "不是有效的年级代码")
    refused(call(DONGHU, "delete", f"/classes/{first['id']}"), 422, "还有学生")
    refused(call(VIEWER, "delete", f"/classes/{second['id']}"), 403, FORBIDDEN)
    assert read(lambda s: count(s, SchoolClass)) == before and student_row(read, sid)[2] == first["id"]

    other = student(2, grade="12")
    refused(call(DONGHU, "post", f"/classes/{second['id']}/students", {"student_ids": [other]}), 422,
            "在小学二年级，不能分入")
    assert student_row(read, other)[2] is None

    r = call(DONGHU, "delete", f"/classes/{second['id']}")
    assert r.status_code == 200 and r.json["message"] == "已删除小学一年级2班（2026级）", r.json
    assert read(lambda s: s.get(SchoolClass, second["id"])) is None


def test_another_county_neither_sees_nor_touches_the_classes(call, at, read, student, school_id):
    at(DT(2026, 11, 25, 10, 0))
    (cid,) = make_classes(call, "11")
    sid = student(1)
    donghu = school_id("3601020001")

    refused(call(XIHU_COUNTY, "get", f"/classes?school_id={donghu}"), 404, NOT_FOUND)
    assert call(XIHU_COUNTY, "get", "/classes").json["count"] == 0
    assert call(XIHU, "get", "/classes").json["count"] == 0
    refused(call(XIHU_COUNTY, "post", f"/classes/{cid}/students", {"student_ids": [sid]}), 404, NOT_FOUND)
    refused(call(XIHU, "post", f"/classes/{cid}/students", {"student_ids": [sid]}), 404, NOT_FOUND)
    refused(call(XIHU_COUNTY, "put", f"/classes/{cid}", {"head_teacher": "李老师"}), 404, NOT_FOUND)
    refused(call(XIHU_COUNTY, "delete", f"/classes/{cid}"), 404, NOT_FOUND)
    refused(call(XIHU, "post", "/classes", {"school_id": donghu, "grade": "11", "count": 1}), 404, NOT_FOUND)
    refused(call(DONGHU_COUNTY, "post", "/classes/999999/students", {"student_ids": [sid]}), 404, NOT_FOUND)
    # the school's own class, another school's student: not found either
    xihu_student = student(3, who=XIHU)
    refused(call(DONGHU, "post", f"/classes/{cid}/students", {"student_ids": [xihu_student]}), 404, NOT_FOUND)

    assert read(lambda s: (count(s, SchoolClass), s.get(SchoolClass, cid).head_teacher)) == (1, None)
    assert student_row(read, sid)[2] is None and student_row(read, xihu_student)[2] is None
    seen = call(DONGHU_COUNTY, "get", f"/classes?school_id={donghu}").json
    assert seen["count"] == 1 and seen["school"]["name"] == "东湖第一小学"


# ---------------------------------------------------------------- 毕业

def test_a_school_graduates_a_class_and_keeps_the_graduation_info(call, at, read, student):
    at(DT(2027, 6, 20, 10, 0))
    year = open_year(call)
    a, b = student(1, grade="16"), student(2, grade="16")
    (cid,) = make_classes(call, "16")
    assign(call, cid, [a, b])

    checked = call(DONGHU, "post", "/graduation/check", {"class_ids": [cid]}).json
    assert checked["count"] == 2 and checked["blocked"] is False and checked["open_requests"] == []
    assert all(s["final"] for s in checked["students"]) and checked["message"] == "所选 2 名学生没有在办业务和未处理的问题学籍"

    bad = refused(call(DONGHU, "post", "/graduation", {"class_ids": [cid], "graduated_on": "2027-07-01"}), 422,
                  "毕业日期不能晚于今天")
    assert bad["field"] == "graduated_on"
    assert read(lambda s: count(s, Graduation)) == 0 and student_row(read, a)[1] == "in_school"

    r = call(DONGHU, "post", "/graduation", {"class_ids": [cid], "graduated_on": "2027-06-20"})
    assert r.status_code == 201 and r.json == {"count": 2, "message": "已为 2 名学生办理毕业"}, r.json
    assert [student_row(read, x)[1] for x in (a, b)] == ["graduated", "graduated"]
    assert read(lambda s: s.scalars(select(Graduation.year_id)).all()) == [year["id"], year["id"]]

    listed = call(DONGHU, "get", "/graduates").json
    assert listed["count"] == 2
    g = next(x for x in listed["result"] if x["student"]["id"] == a)
    assert (g["state"]["name"], g["grade"]["name"], g["class_name"], g["year"]["name"], g["graduated_on"]) == (
        "已毕业", "小学六年级", "1班", "2026-2027学年", "2027-06-20")
    assert "*" not in g["student"]["id_number"]  # the school's registrar sees it in full (audited)
    city = call(NANCHANG, "get", "/graduates").json["result"][0]["student"]
    assert "*" in city["id_number"] and "*" in city["xueji_no"]  # the city's officer does not

    # 毕业信息 for both at once
    r = call(DONGHU, "put", "/graduates", {"ids": [x["id"] for x in listed["result"]], "destination": "普通初中",
                                            "certificate_no": "JX2027001"})
    assert r.status_code == 200 and r.json["count"] == 2, r.json
    assert r.json["result"][0]["destination"] == {"code": "09", "name": "普通初中"}
    assert call(DONGHU, "get", "/graduates?destination=09").json["count"] == 2
    assert call(DONGHU, "get", "/graduates?destination=none").json["count"] == 0
    refused(call(DONGHU, "get", "/graduates?destination=火星"), 400, "不是毕业去向代码")

    # a destination outside the national table, a bad certificate number, a reader: nothing changes
    bad = refused(call(DONGHU, "put", "/graduates", {"ids": [g["id"]], "destination": "火星"}), 422, "不在国家代码表中")
    assert bad["field"] == "destination"
    refused(call(DONGHU, "put", "/graduates", {"ids": [g["id"]], "certificate_no": "JX 1"}), 422, "毕业证书编号不能含空格")
    refused(call(DONGHU, "put", "/graduates", {"ids": [g["id"]]}), 422, "请填写要修改的毕业信息")
    refused(call(DONGHU, "put", "/graduates", {"ids": []}), 400, "请选择毕业生")
    refused(call(VIEWER, "put", "/graduates", {"ids": [g["id"]], "destination": "10"}), 403, FORBIDDEN)
    info = read(lambda s: (lambda x: (x.destination, x.certificate_no))(s.get(Graduation, g["id"])))
    assert info == ("09", "JX2027001")

    # 驳回: county and up, with a reason and the version read
    refused(call(DONGHU_COUNTY, "post", f"/graduates/{g['id']}/reject", {"reason": "  "}), 422, "请填写驳回理由")
    refused(call(DONGHU, "post", f"/graduates/{g['id']}/reject", {"reason": "姓名有误"}), 403,
            "只有县级及以上学籍管理员可以驳回毕业生")
    refused(call(VIEWER, "post", f"/graduates/{g['id']}/reject", {"reason": "姓名有误"}), 403, FORBIDDEN)
    refused(call(DONGHU_COUNTY, "post", f"/graduates/{g['id']}/reject", {"reason": "姓名有误", "version": 99}), 422,
            "该记录已被他人修改")
    assert read(lambda s: s.get(Graduation, g["id"]).state.value) == "graduated"
    assert student_row(read, a)[1] == "graduated"

    version = read(lambda s: s.get(Graduation, g["id"]).version)
    r = call(DONGHU_COUNTY, "post", f"/graduates/{g['id']}/reject", {"reason": "姓名有误", "version": version})
    assert r.status_code == 200, r.json
    assert r.json["message"].endswith("的毕业，学籍恢复为在校") and r.json["result"]["state"]["name"] == "已驳回"
    assert student_row(read, a)[1] == "in_school"
    rejected = call(DONGHU, "get", "/graduates?state=rejected").json
    assert rejected["count"] == 1 and rejected["result"][0]["rejected_reason"] == "姓名有误"
    assert rejected["result"][0]["rejected_by"]
    assert call(DONGHU, "get", "/graduates").json["count"] == 1
    refused(call(DONGHU_COUNTY, "post", f"/graduates/{g['id']}/reject", {"reason": "再驳回"}), 422, "该毕业生已被驳回")
    refused(call(DONGHU, "get", "/graduates?state=gone"), 400, "state 的取值")


def test_graduation_refusals_change_nothing(call, at, read, student, school_id):
    at(DT(2027, 6, 20, 10, 0))
    open_year(call)
    final, not_final, busy = student(1, grade="16"), student(2, grade="15"), student(3, grade="16")

    refused(call(DONGHU, "post", "/graduation", {"student_ids": [final, not_final]}), 422,
            "不在毕业年级（本校小学6年，毕业年级为小学六年级），不能毕业")
    assert [student_row(read, x)[1] for x in (final, not_final)] == ["in_school", "in_school"]

    # 在办业务: an open deletion request blocks; the answer lists it
    r = call(DONGHU, "post", f"/api/v1/student/{busy}/deletion", {"reason": "重复录入"})
    assert r.status_code == 201, r.json
    rid = r.json["request_id"]
    checked = call(DONGHU, "post", "/graduation/check", {"student_ids": [final, busy]}).json
    assert checked["blocked"] is True and [q["id"] for q in checked["open_requests"]] == [rid]
    assert checked["open_requests"][0]["type_label"] == "误操作删除" and checked["open_requests"][0]["student"]["id"] == busy
    blocked = refused(call(DONGHU, "post", "/graduation", {"student_ids": [final, busy]}), 422,
                      "1 名学生有在办业务（1 项）")
    assert [q["id"] for q in blocked["open_requests"]] == [rid] and blocked["problem_sides"] == []
    assert [q["student"]["name"] for q in blocked["open_requests"]] == ["张小明"]

    refused(call(DONGHU, "post", "/graduation", {}), 422, "请选择要毕业的班级或学生")
    refused(call(DONGHU, "post", "/graduation", {"class_ids": "全部"}), 400, "class_ids 应为编号列表")
    refused(call(DONGHU_COUNTY, "post", "/graduation", {"student_ids": [final]}), 403, "只有学校学籍管理员可以办理毕业")
    refused(call(VIEWER, "post", "/graduation", {"student_ids": [final]}), 403, FORBIDDEN)
    refused(call(XIHU, "post", "/graduation", {"student_ids": [final]}), 404, NOT_FOUND)
    refused(call(XIHU, "post", "/graduation/check", {"student_ids": [final]}), 404, NOT_FOUND)
    junior_class = make_classes(call, "23", who=DONGHU_JUNIOR)[0]
    refused(call(DONGHU, "post", "/graduation", {"class_ids": [junior_class]}), 404, "班级不存在或不属于本校")

    assert read(lambda s: count(s, Graduation)) == 0
    assert [student_row(read, x)[1] for x in (final, not_final, busy)] == ["in_school"] * 3


def test_another_county_neither_reads_nor_rejects_the_graduates(call, at, read, student, school_id):
    at(DT(2027, 6, 20, 10, 0))
    open_year(call)
    sid = student(1, grade="16")
    assert call(DONGHU, "post", "/graduation", {"student_ids": [sid]}).status_code == 201
    gid = read(lambda s: s.scalar(select(Graduation.id)))
    donghu = school_id("3601020001")

    assert call(XIHU_COUNTY, "get", "/graduates").json["count"] == 0
    assert call(XIHU_COUNTY, "get", f"/graduates?school_id={donghu}").json["count"] == 0
    assert call(XIHU_COUNTY, "get", "/graduates?state=all").json["count"] == 0
    refused(call(XIHU_COUNTY, "post", f"/graduates/{gid}/reject", {"reason": "核实有误"}), 404, NOT_FOUND)
    refused(call(XIHU, "post", f"/graduates/{gid}/reject", {"reason": "核实有误"}), 404, NOT_FOUND)  # not 403
    refused(call(XIHU_COUNTY, "post", "/graduates/999999/reject", {"reason": "核实有误"}), 404, NOT_FOUND)
    refused(call(XIHU, "put", "/graduates", {"ids": [gid], "certificate_no": "X1"}), 404, NOT_FOUND)
    assert read(lambda s: (lambda g: (g.state.value, g.certificate_no))(s.get(Graduation, gid))) == ("graduated", None)
    assert student_row(read, sid)[1] == "graduated"

    assert call(DONGHU_COUNTY, "get", f"/graduates?school_id={donghu}").json["count"] == 1
    assert call(NANCHANG, "get", "/graduates?q=张").json["count"] == 1
    assert call(VIEWER, "get", "/graduates").json["count"] == 1


# ---------------------------------------------------------------- 升级

def test_promotion_run_holds_report_catch_up_and_revert(call, at, read, student, school_id):
    at(DT(2027, 6, 20, 10, 0))
    year = open_year(call)
    moving, unfinished, busy = student(1, grade="11"), student(2, grade="16"), student(3, grade="12")
    elsewhere = student(4, grade="13", who=XIHU)
    (cid,) = make_classes(call, "11")
    assign(call, cid, [moving])
    rid = call(DONGHU, "post", f"/api/v1/student/{busy}/deletion", {"reason": "重复录入"}).json["request_id"]

    at(DT(2027, 8, 11, 0, 5))
    refused(call(DONGHU, "post", "/promotions", {"year_id": year["id"]}), 403, "只有省级管理员可以执行升级")
    refused(call(DONGHU_COUNTY, "post", "/promotions", {"year_id": year["id"]}), 403, "只有省级管理员可以执行升级")
    refused(call(VIEWER, "post", "/promotions", {"year_id": year["id"]}), 403, FORBIDDEN)
    refused(call(PROVINCE, "post", "/promotions", {"year_id": 999999}), 404, "学年不存在")
    refused(call(PROVINCE, "post", "/promotions", {}), 400, "请选择要升级的学年")
    assert read(lambda s: count(s, PromotionRun)) == 0 and student_row(read, moving)[0] == "11"

    r = call(PROVINCE, "post", "/promotions", {"year_id": year["id"]})
    assert r.status_code == 201, r.json
    run = r.json["result"]
    assert (run["promoted"], run["held"], run["state"]["name"], run["year"]["name"]) == (2, 2, "已升级", "2026-2027学年")
    assert run["grace_until"] == "2027-08-25T00:05:00" and run["scheduled"] is False
    assert [student_row(read, x)[0] for x in (moving, unfinished, busy, elsewhere)] == ["12", "16", "12", "14"]
    assert read(lambda s: s.get(SchoolClass, cid).grade) == "12"

    # promote twice: refused, nothing moves again
    refused(call(PROVINCE, "post", "/promotions", {"year_id": year["id"]}), 422, "2026-2027学年已经升级过，不会重复升级")
    assert read(lambda s: count(s, PromotionRun)) == 1 and student_row(read, moving)[0] == "12"
    refused(call(PROVINCE, "put", f"/years/{year['id']}", {"promotion_at": "2027-08-20 24:00"}), 422, "已升级，不能再修改")
    listed = call(VIEWER, "get", "/promotions").json
    assert listed["count"] == 1 and listed["result"][0]["id"] == run["id"]
    assert call(DONGHU, "get", "/years").json["result"][0]["standing_run"]["id"] == run["id"]

    # who stayed, and why (the county's subtree only)
    held = call(DONGHU_COUNTY, "get", f"/promotions/{run['id']}/held").json
    assert held["count"] == 2 and {h["reason"]["name"] for h in held["result"]} == {"毕业年级未毕业", "有在办业务"}
    busy_hold = call(DONGHU_COUNTY, "get", f"/promotions/{run['id']}/held?reason=open_request").json["result"]
    assert [(h["student"]["id"], h["request"]["id"]) for h in busy_hold] == [(busy, rid)]
    refused(call(DONGHU_COUNTY, "get", f"/promotions/{run['id']}/held?reason=lazy"), 400, "reason 的取值")
    assert call(XIHU_COUNTY, "get", f"/promotions/{run['id']}/held").json["count"] == 0
    donghu = school_id("3601020001")
    refused(call(XIHU_COUNTY, "get", f"/promotions/{run['id']}/held?school_id={donghu}"), 404, NOT_FOUND)

    # 学年末统计
    report = call(DONGHU_COUNTY, "get", f"/report?year_id={year['id']}").json
    (row,) = [x for x in report["result"] if x["school"]["school_code"] == "3601020001"]
    assert (row["promoted"], row["not_graduated"], row["open_request"], row["held"]) == (1, 1, 1, 2)
    assert row["county"]["name"] == "东湖区教育体育局" and report["run"]["id"] == run["id"]
    assert all(x["school"]["school_code"].startswith("360102") for x in report["result"])
    xihu = call(XIHU_COUNTY, "get", f"/report?year_id={year['id']}").json
    assert [x["school"]["school_code"] for x in xihu["result"]] == ["3601030001"] and xihu["totals"]["promoted"] == 1
    refused(call(XIHU_COUNTY, "get", "/report?year_id=999999"), 404, NOT_FOUND)

    # 补升级: only once the reason has gone, county and up
    refused(call(DONGHU, "post", f"/promotions/{run['id']}/promote-held", {}), 403, "只有县级及以上管理员可以补升级")
    r = call(DONGHU_COUNTY, "post", f"/promotions/{run['id']}/promote-held", {})
    assert r.status_code == 200 and r.json["count"] == 0 and "没有可以补升级的学生" in r.json["message"], r.json
    assert call(DONGHU, "post", f"/api/v1/request/{rid}/cancel", {}).status_code == 200
    r = call(DONGHU_COUNTY, "post", f"/promotions/{run['id']}/promote-held", {})
    assert r.status_code == 200 and r.json["student_ids"] == [busy] and r.json["message"] == "已补升级 1 名学生", r.json
    assert student_row(read, busy)[0] == "13"

    # 撤销: a reason, the province, within the grace period
    refused(call(PROVINCE, "post", f"/promotions/{run['id']}/revert", {"reason": " "}), 422, "请填写撤销理由")
    refused(call(DONGHU_COUNTY, "post", f"/promotions/{run['id']}/revert", {"reason": "时点设错"}), 403, "只有省级管理员可以撤销升级")
    refused(call(VIEWER, "post", f"/promotions/{run['id']}/revert", {"reason": "时点设错"}), 403, FORBIDDEN)
    refused(call(PROVINCE, "post", "/promotions/999999/revert", {"reason": "时点设错"}), 404, NOT_FOUND)
    at(DT(2027, 8, 25, 0, 6))
    refused(call(PROVINCE, "post", f"/promotions/{run['id']}/revert", {"reason": "时点设错"}), 422,
            "升级已超过可撤销期限（2027年08月25日 00:05 前），不能撤销")
    assert read(lambda s: s.get(PromotionRun, run["id"]).state.value) == "done"
    assert [student_row(read, x)[0] for x in (moving, busy, elsewhere)] == ["12", "13", "14"]

    at(DT(2027, 8, 12, 9, 0))
    r = call(PROVINCE, "post", f"/promotions/{run['id']}/revert", {"reason": "时点设错"})
    assert r.status_code == 200, r.json
    assert r.json["back"] == 3 and r.json["result"]["state"]["name"] == "已撤销"
    assert r.json["result"]["reverted_reason"] == "时点设错"
    assert [student_row(read, x)[0] for x in (moving, unfinished, busy, elsewhere)] == ["11", "16", "12", "13"]
    assert read(lambda s: s.get(SchoolClass, cid).grade) == "11"
    refused(call(PROVINCE, "post", f"/promotions/{run['id']}/revert", {"reason": "再撤销"}), 422, "该次升级已撤销")
    refused(call(DONGHU_COUNTY, "post", f"/promotions/{run['id']}/promote-held", {}), 422, "该次升级已撤销，不能补升级")
    assert read(lambda s: count(s, PromotionHold)) == 2


def test_unauthenticated_and_unknown_routes_answer_in_chinese(app, call):
    c = app.test_client()
    r = c.get(API + "/years")
    assert r.status_code == 401 and cjk(r.json["message"])
    refused(call(VIEWER, "get", "/classes?page=-1"), 400, "page 不能为负数")
    refused(call(VIEWER, "get", "/report"), 404, "还没有设置学年")
    refused(call(DONGHU, "get", "/promotions/999999/held"), 404, NOT_FOUND)


def test_malformed_and_impossible_ids_answer_4xx_and_write_nothing(call, at, read, student):
    """Ids beyond the column's range (PostgreSQL refuses to compare them), pages beyond any table,
    ids that are not whole numbers: a Chinese 400/404, never a 500, nothing written."""
    at(DT(2027, 6, 20, 10, 0))
    year = open_year(call)
    sid = student(1, grade="16")
    (cid,) = make_classes(call, "16")
    before = student_row(read, sid)
    huge = 2 ** 40
    for who, method, url, body in (
            (PROVINCE, "put", f"/years/{huge}", {"starts_on": "2026-09-01"}),
            (PROVINCE, "put", f"/terms/{huge}", {"starts_on": "2026-09-01", "ends_on": "2027-01-20"}),
            (DONGHU, "put", f"/classes/{huge}", {"head_teacher": "王老师"}),
            (DONGHU, "delete", f"/classes/{huge}", None),
            (DONGHU, "post", f"/classes/{huge}/students", {"student_ids": [sid]}),
            (DONGHU_COUNTY, "post", f"/graduates/{huge}/reject", {"reason": "核实有误"}),
            (PROVINCE, "post", f"/promotions/{huge}/revert", {"reason": "时点设错"}),
            (DONGHU_COUNTY, "post", f"/promotions/{huge}/promote-held", {}),
            (DONGHU_COUNTY, "get", f"/promotions/{huge}/held", None),
            (DONGHU, "get", f"/classes?school_id={huge}", None),
            (DONGHU, "get", f"/report?year_id={huge}", None),
            (DONGHU, "post", "/classes", {"grade": "16", "count": 1, "school_id": huge})):
        refused(call(who, method, url, body), 404, NOT_FOUND)
    for who, method, url, body, text in (
            (DONGHU, "get", f"/graduates?school_id={huge}", None, "school_id 应为有效的编号"),
            (DONGHU, "get", "/graduates?school_id=东湖", None, "school_id 应为有效的编号"),
            (DONGHU, "get", f"/classes?page={2 ** 62}", None, "page 超出范围"),
            (DONGHU, "get", "/classes?page_size=all", None, "page_size 应为整数"),
            (DONGHU, "post", "/graduation/check", {"student_ids": [huge]}, "student_ids 应为编号列表"),
            (DONGHU, "post", "/graduation/check", {"student_ids": [sid + 0.5]}, "student_ids 应为编号列表"),
            (DONGHU, "post", "/graduation/check", {"class_ids": [True]}, "class_ids 应为编号列表"),
            (DONGHU, "post", "/graduation", {"student_ids": [sid, huge]}, "student_ids 应为编号列表"),
            (DONGHU, "post", "/graduation", {"class_ids": [cid, -cid]}, "class_ids 应为编号列表"),
            (DONGHU, "put", "/graduates", {"ids": [huge], "certificate_no": "X1"}, "ids 应为编号列表"),
            (DONGHU, "post", f"/classes/{cid}/students", {"student_ids": [huge]}, "student_ids 应为编号列表"),
            (PROVINCE, "post", "/promotions", {"year_id": huge}, "year_id 应为有效的编号"),
            (PROVINCE, "post", "/promotions", {"year_id": "2026学年"}, "year_id 应为整数"),
            (PROVINCE, "put", f"/years/{year['id']}", [], "请求内容应为 JSON 对象")):
        refused(call(who, method, url, body), 400, text)
    assert student_row(read, sid) == before and before[:2] == ("16", "in_school")
    assert read(lambda s: (count(s, Graduation), count(s, PromotionRun), count(s, SchoolClass))) == (0, 0, 1)
    assert read(lambda s: s.get(SchoolYear, year["id"]).version) == year["version"]


def test_openapi_spec_has_the_school_year_paths(call):
    r = call("admin", "get", "/api/v1/_openapi")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    paths = r.json["paths"]
    for p in ("/school-year/years", "/school-year/years/{pk}", "/school-year/graduation",
              "/school-year/graduates/{pk}/reject", "/school-year/promotions/{pk}/revert", "/school-year/report"):
        assert "/api/v1" + p in paths, p
