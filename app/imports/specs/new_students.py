"""新生注册 by workbook: the national new-student template."""
from app.imports import spec as S
from app.imports.spec import Column, SheetSpec
from app.services import students
from app.services.errors import DomainError

C = Column
COLUMNS = [
    C("姓名", "name", required=True, example="张小明", comment="与户口簿一致"),
    C("性别", "gender", S.CODE, True, "gender", example="男"),
    C("出生日期", "birth_date", S.DATE, True, example="2019-03-07", comment="年-月-日；须与身份证号一致"),
    C("身份证件类型", "id_type", S.CODE, True, "id_type", example="居民身份证"),
    C("身份证件号", "id_number", S.ID_NUMBER, True, example="360102201903070132",
      comment="18 位；请将本列设为“文本”格式，否则 Excel 会把号码变成科学计数法", width=22),
    C("民族", "ethnicity", S.CODE, True, "ethnicity", example="汉族"),
    C("年级", "grade", S.CODE, False, "grade", example="小学一年级"),
    C("班级", "class_name", example="1班"),
    C("入学年月", "enrollment_month", S.MONTH, example="2026-09", comment="年-月"),
    C("入学方式", "enrollment_method", S.CODE, False, "enrollment_method", example="就近入学"),
    C("就读方式", "study_mode", S.CODE, False, "study_mode", example="走读"),
    C("出生地", "birthplace_code", S.REGION, example="360102", comment="6 位行政区划代码（系统自动补足 12 位）"),
    C("户口所在地", "hukou_code", S.REGION, example="360102", comment="6 位行政区划代码（系统自动补足 12 位）"),
    C("籍贯", "native_place", example="江西南昌"),
    C("国籍/地区", "nationality", S.CODE, True, "nationality", example="中国"),
    C("港澳台侨外", "hmt_overseas", S.CODE, True, "hmt_overseas", example="否"),
    C("政治面貌", "political_status", S.CODE, False, "political_status", example="群众"),
    C("健康状况", "health_status", S.CODE, False, "health_status", example="健康或良好"),
    C("户口性质", "hukou_type", S.CODE, False, "hukou_type", example="非农业户口"),
    C("是否独生子女", "only_child", S.BOOL, example="否"),
    C("是否留守儿童", "left_behind", S.BOOL, example="否"),
    C("是否进城务工人员随迁子女", "migrant_child", S.BOOL, example="否", width=22),
    C("是否孤儿", "orphan", S.BOOL, example="否"),
    C("是否烈士或优抚子女", "martyr_child", S.BOOL, example="否", width=18),
    C("上下学距离", "commute_distance", S.DECIMAL1, example="1.5", comment="公里，最多一位小数"),
    C("上下学方式", "commute_mode", S.CODE, False, "commute_mode", example="步行"),
    C("是否需要乘坐校车", "needs_school_bus", S.BOOL, example="否", width=16),
    C("监护人姓名", "guardian_name", required=True, example="张大明"),
    C("监护人关系", "guardian_relation", S.CODE, True, "guardian_relation", example="父亲"),
    C("监护人身份证件类型", "guardian_id_type", S.CODE, False, "id_type", example="居民身份证", width=18),
    C("监护人身份证件号", "guardian_id_number", S.ID_NUMBER, example="360102198805050011", width=22),
    C("监护人联系电话", "guardian_phone", example="13900000000", width=16),
    C("学校标识码", "school_code", S.SCHOOL_CODE, example="3601020001",
      comment="选填；填写时须为本校的 10 位学校标识码（只能导入本校学生）"),
]


DEFAULTS = {"nationality": "CHN", "hmt_overseas": "00"}  # older templates lack these columns


def clean_row(session, actor, values):
    own = getattr(actor.org_unit, "school_code", None)
    if values.get("school_code") and values["school_code"] != own:
        raise DomainError(f"学校标识码 {values['school_code']} 不是本校（{own}），只能导入本校的学生", field="school_code")
    values = {**values, **{k: v for k, v in DEFAULTS.items() if values.get(k) is None}}
    return students.clean_import_row(session, actor, values)


def check_rows(session, actor, results):
    """Against the database: a person with an active record anywhere in the province."""
    held = students.holders_of(session, {r.record["student"]["id_number"] for r in results})
    for r in results:
        where = held.get(r.record["student"]["id_number"])
        if where:
            r.fail("id_number", f"身份证件号：已在 {where[0]} {where[1]} 建立学籍（一人一籍），不能重复注册；"
                                "如已转入本校请办理转学")


def may_use(actor):
    students._school_actor(actor, "批量注册新生")


def ready(session, actor):
    students.bulk_registration_school(session, actor)


def write(session, actor, records, progress):
    return students.register_students_bulk(session, actor, records, progress)


SPEC = S.register(SheetSpec(
    name="new_students", label="新生注册", sheet_title="新生注册", columns=COLUMNS,
    clean_row=clean_row, check_rows=check_rows, write=write, may_use=may_use, ready=ready,
    row_key=lambda v: v.get("id_number") or None,
    duplicate_message="身份证件号与本文件第 {first} 行重复",
    intro="每行一名新生。导入后每名学生生成一条新生注册申请，由县（区）教育局在“审批待办”中核办。"
          "没有身份证件号的学生请在“新生注册”页面单独注册并上传证明。",
))
