"""毕业信息 by workbook: the school fills in 毕业日期, 毕业证书编号 and 毕业去向 of its graduates.

Each row finds the school's standing graduation by 学籍号 and 姓名 (graduation.graduation_for_import)
and changes it through graduation.update_info, the same service call as the 毕业生查询 screen. Empty
cells leave the stored value as it is, so a sheet with only the 去向 column does not wipe the
certificate numbers; uploading the same file again changes nothing (idempotent).
"""
from app.imports import spec as S
from app.imports.spec import Column, SheetSpec
from app.services import graduation
from app.services.errors import DomainError

C = Column
COLUMNS = [
    C("学籍号", "xueji_no", required=True, example="G360102201003070034", width=22,
      comment="本校毕业生的学籍号（G 加身份证号，或 L 开头的临时学籍号）；本列已设为文本格式"),
    C("姓名", "name", required=True, example="张小明", comment="须与系统中的姓名一致"),
    C("毕业日期", "graduated_on", S.DATE, example="2027-06-30", comment="年-月-日；留空则不修改，不能晚于今天"),
    C("毕业证书编号", "certificate_no", example="3601022027000123", width=20,
      comment="留空则不修改；不能含空格，最长 40 个字符"),
    C("毕业去向", "destination", S.CODE, False, "graduation_destination", example="普通初中",
      comment="留空则不修改"),
]
INFO_FIELDS = ("graduated_on", "certificate_no", "destination")


def clean_row(session, actor, values):
    """(graduation id, the 毕业信息 to set) of one row; the service's own validators decide."""
    xueji_no = (values.get("xueji_no") or "").strip().upper()
    g = graduation.graduation_for_import(session, actor, xueji_no, values.get("name"))
    data = {k: values[k] for k in INFO_FIELDS if values.get(k) not in (None, "")}
    if not data:
        raise DomainError("请至少填写毕业日期、毕业证书编号、毕业去向中的一项")
    return g.id, graduation.clean_info(data)


def may_use(actor):
    graduation._school_actor(actor, "导入毕业信息")


def write(session, actor, records, progress):
    changed = 0
    for n, (graduation_id, info) in enumerate(records, start=1):
        graduation.update_info(session, actor, [graduation_id], info)
        changed += 1
        if n % 1000 == 0:
            progress(65 + int(30 * n / len(records)), f"已写入 {n:,}/{len(records):,} 行")
    return {"updated": changed}


SPEC = S.register(SheetSpec(
    name="graduation_info", label="毕业信息", sheet_title="毕业信息", columns=COLUMNS,
    clean_row=clean_row, write=write, may_use=may_use,
    row_key=lambda v: (v.get("xueji_no") or "").strip().upper() or None,
    duplicate_message="学籍号与本文件第 {first} 行重复",
    intro="每行一名本校毕业生：按学籍号和姓名找到已毕业的学生，填写其毕业日期、毕业证书编号和毕业去向；"
          "留空的单元格不修改原有信息，同一文件可以重复上传。毕业去向由招生录取自动回填的，导入后以导入的为准。",
))
