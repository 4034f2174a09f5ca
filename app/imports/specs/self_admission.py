"""自主招生 by workbook: a school admits graduates outside the county's list (the guide: “自主招生也
提供模板导入功能”). Each row becomes admissions.self_admit — the same call as the form: across
counties the graduate's home county approves too.

Validated whole before anything is written, like every import: each row is tried through
self_admit itself inside a savepoint that is always rolled back (so every rule of the service —
graduate of the stage before, name, entry grade, plan, calendar, not admitted yet, not locked —
decides, and nothing stays). Across the file: a student once, and seats counted over the whole
file: when a grade has more rows than free seats in its plan (招生计划数 minus the seats held by
pending and approved admissions), the rows beyond them are refused with the figures. By default
any bad row means nothing is admitted; "只导入正确的行" admits the rest. Uploading the same file again
admits nobody twice (each row then says the student is already admitted here).
"""
from app.codes import tables
from app.imports import spec as S
from app.imports.spec import Column, SheetSpec
from app.services import admissions, calendars, grades
from app.services.errors import DomainError

GRADE_TABLE = tables.add_table("admission_grade", "录取年级",
                               [(g, grades.grade_label(g)) for g in admissions.ENTRY_GRADES.values()])

C = Column
COLUMNS = [
    C("学籍号(或个人标识码)", "number", S.TEXT, True, example="G360102201303070034", width=24,
      aliases=("学籍号", "个人标识码", "个人标识码(学籍号)"),
      comment="学生的学籍号（G 加身份证号，或 L 开头的临时学籍号），也可填 14 位个人标识码；本列已设为文本格式"),
    C("姓名", "name", required=True, example="张小明", aliases=("学生姓名",), comment="须与学籍系统中的姓名一致"),
    C("录取年级", "grade", S.CODE, False, GRADE_TABLE, example="初中一年级",
      comment="本校只招收一个年级（如初级中学只招初中一年级）时可不填"),
    C("成绩", "score", S.DECIMAL1, example="598.5", aliases=("中考成绩",), comment="选填；最多一位小数"),
    C("说明", "reason", example="特长生", aliases=("备注", "录取说明"), width=24,
      comment="选填；录取依据等，县（区）核办时可见"),
]


def clean_row(session, actor, values):
    """Try the admission, then undo it: what the service would refuse is refused here."""
    nested = session.begin_nested()
    try:
        adm = admissions.self_admit(session, actor, values.get("number"), values.get("name"),
                                    grade=values.get("grade"), score=values.get("score"), reason=values.get("reason"))
        record = {"number": values.get("number"), "name": values.get("name"), "grade": adm.grade,
                  "score": values.get("score"), "reason": values.get("reason"), "student_id": adm.student_id,
                  "plan_id": adm.plan_id}
    finally:
        nested.rollback()
    return record


def check_rows(session, actor, results):
    """A student once per file; no more rows per entry grade than the plan's free seats."""
    first = {}
    for r in results:
        sid = r.record["student_id"]
        if sid in first:
            r.fail("number", f"与本文件第 {first[sid]} 行是同一学生：同一学生只能出现一次")
        else:
            first[sid] = r.number
    by_plan = {}
    for r in results:
        if r.ok:
            by_plan.setdefault(r.record["plan_id"], []).append(r)
    for plan_id, rows in by_plan.items():
        short = admissions.seats_short(session, plan_id, len(rows))
        if short is None:
            continue
        free, why = short
        label = grades.grade_label(rows[0].record["grade"])
        for r in rows[free:]:
            r.fail("", f"{why}，本文件{label}共 {len(rows)} 行，第 {rows[free].number} 行起超出；"
                       f"请减少录取人数或申请变更招生计划数")


def may_use(actor):
    admissions._school_actor(actor, "自主招生")


def ready(session, actor):
    admissions.admission_year(session)
    calendars.check(session, admissions.WINDOW, "招生入学", actor.org_unit)


def write(session, actor, records, progress):
    """All the file's admissions or none: a row refused now (another admission took the last seat or
    the student meanwhile) undoes the rows before it and names the student."""
    done = 0
    with session.begin_nested():
        for rec in records:
            try:
                admissions.self_admit(session, actor, rec["number"], rec["name"], grade=rec["grade"],
                                      score=rec["score"], reason=rec["reason"])
            except DomainError as exc:
                raise type(exc)(f"{rec['name']}：{exc.message}；本文件未录取任何学生，请重新上传",
                                field=exc.field) from exc
            done += 1
            if done % 200 == 0:
                progress(65 + int(30 * done / len(records)), f"已录取 {done:,}/{len(records):,} 人")
    return {"admitted": done, "note": f"已录取 {done:,} 人，待县（区）核办"}


SPEC = S.register(SheetSpec(
    name="self_admission", label="自主招生", sheet_title="自主招生", columns=COLUMNS,
    clean_row=clean_row, check_rows=check_rows, write=write, may_use=may_use, ready=ready,
    intro="每行一名本校自主录取的毕业生（招生结果名单以外）：按学籍号（或个人标识码）和姓名找到上一学段的毕业生，"
          "录取到所选年级。本县（区）的学生由本县（区）教育局核办，外县（区）的学生还须其毕业学校所在县（区）核办；"
          "外省学生请办理“调取新生档案”。录取人数不能超过本校招生计划数的剩余名额。"
          "文件有误时默认不录取任何学生；同一文件重复上传不会重复录取。",
))
