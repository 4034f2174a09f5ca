"""Export jobs: workbooks of what the actor may see, streamed (write-only) so size is no issue."""
import datetime
import os

from flask import current_app
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy import func, select

from app.jobs import job_kind
from app.models.org import OrgUnit, Region
from app.services import scope


def result_path(job_name):
    folder = os.path.join(current_app.config["JOB_RESULT_DIR"], datetime.date.today().isoformat())
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, job_name)


ORG_HEADERS = ["名称", "机构类型", "学校标识码", "办学类型", "办学性质", "行政区划", "区划代码", "上级机构", "地址", "可招生", "启用"]


@job_kind("export_org_units", _l("导出机构与学校名录"))
def export_org_units(session, actor, params, progress):
    total = session.scalar(select(func.count()).select_from(OrgUnit).where(scope.clause(actor, OrgUnit))) or 0
    parent = OrgUnit.__table__.alias("parent")
    stmt = (
        select(OrgUnit, Region.full_name, parent.c.name)
        .join(Region, Region.code == OrgUnit.region_code)
        .outerjoin(parent, parent.c.id == OrgUnit.parent_id)
        .where(scope.clause(actor, OrgUnit))
        .order_by(OrgUnit.path)
        .execution_options(yield_per=2000)
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("机构与学校")
    ws.append(ORG_HEADERS)
    for i, (unit, region_name, parent_name) in enumerate(session.execute(stmt), start=1):
        ws.append([
            unit.name, str(unit.kind.label), unit.school_code or "",
            str(unit.school_type.label) if unit.school_type else "",
            str(unit.ownership.label) if unit.ownership else "",
            region_name, unit.region_code, parent_name or "", unit.address or "",
            "是" if unit.may_enroll else "否", "是" if unit.active else "否",
        ])
        if i % 2000 == 0 and total:
            progress(i * 100 // total, f"已写入 {i}/{total} 行")
    path = result_path(f"机构与学校名录_{actor.username}_{datetime.datetime.now():%Y%m%d%H%M%S}.xlsx")
    wb.save(path)
    return {"result_file": path, "message": f"共导出 {total} 个机构"}
