"""招生结果 (统一招生名单) by workbook: the county imports the admission office's result.

The 2014 guide's 招生结果模板 has five columns — 个人标识码(学籍号), 学生姓名, 毕业学校标识码, 录取学校标识码,
教育阶段 — to which an optional 中考成绩 is added here. Every row is checked by the admission
service's own validator (admissions.list_row_values: the student exists with that name, graduated
from that school of the county, the admitting school is the county's and has a plan for the entry
grade). Across the file: one student once. Against the list already stored: a student already
admitted from the list cannot be moved to another school nor its row changed (admissions.list_rows_refused,
the rule save_list_rows enforces, asked here so the row is annotated instead of the whole import failing). The valid rows go through
admissions.save_list_rows: new students added, a changed school or score updated, identical rows
left alone — uploading the same file again changes nothing.

The columns line up with the 导出招生Excel workbook (app/views/admission_export.py): that file,
with 录取学校标识码 and 教育阶段 filled in, imports as it is (extra columns are ignored).
"""
from app.codes import tables
from app.imports import spec as S
from app.imports.spec import Column, SheetSpec
from app.services import admissions, grades

STAGE_TABLE = tables.add_table("admission_stage", "教育阶段",
                               [(grades.STAGE_JUNIOR, "初中"), (grades.STAGE_SENIOR, "高中"),
                                (grades.STAGE_VOCATIONAL, "中职")], standard="招生结果模板")

NUMBER, NAME, FROM_CODE, TO_CODE, STAGE, SCORE = ("个人标识码(学籍号)", "学生姓名", "毕业学校标识码", "录取学校标识码",
                                                  "教育阶段", "中考成绩")

C = Column
COLUMNS = [
    C(NUMBER, "number", S.TEXT, True, example="G360102201303070034", width=24,
      aliases=("个人标识码", "学籍号", "学籍号(或个人标识码)"),
      comment="学生的学籍号（G 加身份证号，或 L 开头的临时学籍号），也可填 14 位个人标识码；本列已设为文本格式"),
    C(NAME, "name", required=True, example="张小明", aliases=("姓名",), comment="须与学籍系统中的姓名一致"),
    C(FROM_CODE, "from_code", S.SCHOOL_CODE, True, example="3601020001", width=16,
      comment="学生毕业学校的 10 位学校标识码，须为本县（区）学校；学生须是该校的毕业生"),
    C(TO_CODE, "to_code", S.SCHOOL_CODE, True, example="3601020002", width=16,
      comment="录取学校的 10 位学校标识码，须为本县（区）已设置本学年招生计划数的学校"),
    C(STAGE, "stage", S.CODE, True, STAGE_TABLE, example="初中",
      comment="升入的教育阶段：小学毕业生填“初中”，初中毕业生填“高中”或“中职”"),
    C(SCORE, "score", S.DECIMAL1, example="612.5", comment="选填；中考成绩，最多一位小数"),
]


def clean_row(session, actor, values):
    """The values to store; every check is the admission service's own."""
    return admissions.list_row_values(session, actor, values)


def check_rows(session, actor, results):
    """One student once per file (by the record found, so a 学籍号 and a 个人标识码 of the same
    student are one student); a row save_list_rows would refuse (the list already had the student
    admitted) is annotated by the service's own rule instead of failing the whole import."""
    first = {}
    for r in results:
        sid = r.record["student_id"]
        if sid in first:
            r.fail("number", f"与本文件第 {first[sid]} 行是同一学生：同一学生只能出现一次")
        else:
            first[sid] = r.number
    rows = [r for r in results if r.ok]
    if not rows:
        return
    refused = admissions.list_rows_refused(session, actor, [r.record for r in rows])
    for r in rows:
        found = refused.get(r.record["student_id"])
        if found is not None:
            r.fail(*found)


def may_use(actor):
    admissions._county_actor(actor, "导入招生结果")


def ready(session, actor):
    admissions.admission_year(session)


def write(session, actor, records, progress):
    added, changed, unchanged = admissions.save_list_rows(session, actor, records)
    return {"added": added, "changed": changed, "unchanged": unchanged,
            "note": f"新增 {added:,} 人，变更 {changed:,} 人，未变 {unchanged:,} 人"}


SPEC = S.register(SheetSpec(
    name="admission_list", label="招生结果", sheet_title="招生结果", columns=COLUMNS,
    clean_row=clean_row, check_rows=check_rows, write=write, may_use=may_use, ready=ready,
    intro="招生结果由县（区）教育局招生部门确定，学籍管理部门按本模板导入：每行一名本县（区）毕业生，"
          "填写个人标识码（学籍号）、学生姓名、毕业学校标识码、录取学校标识码和教育阶段（初中、高中或中职），中考成绩可选填。"
          "系统逐行核对学籍：学生姓名与学籍号相符、是该毕业学校的毕业生，毕业学校和录取学校都是本县（区）学校，"
          "录取学校已设置招生计划数。导入后由录取学校在“统一招生录取”中按名单录取。"
          "“导出招生Excel”导出的毕业生名单填好录取学校标识码和教育阶段后可直接上传；同一文件重复上传不会重复添加。",
))
