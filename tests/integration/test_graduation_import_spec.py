"""The 毕业信息 import spec: its template, its row rules (the graduation service's own), who may use it."""
import datetime
import io

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.imports import spec as specs
from app.imports.specs import graduation_info
from app.imports.template import write_template
from app.models import Graduation
from app.services.errors import DomainError, PermissionDenied
from tests.conftest import account
from tests.integration.test_graduation_screens import DAY, SCHOOL, graduated, name_of, students, xueji


def test_registered_with_its_columns():
    sheet = specs.get("graduation_info")
    assert sheet is graduation_info.SPEC and sheet.label == "毕业信息"
    assert [(c.header, c.field, c.required) for c in sheet.columns] == [
        ("学籍号", "xueji_no", True), ("姓名", "name", True), ("毕业日期", "graduated_on", False),
        ("毕业证书编号", "certificate_no", False), ("毕业去向", "destination", False)]
    destination = sheet.column("destination")
    assert destination.kind == specs.CODE and destination.table == "graduation_destination"
    assert sheet.column("graduated_on").kind == specs.DATE
    assert list(specs.SPECS)[:2] == ["new_students", "graduation_info"]


def test_template_has_the_destination_dropdown(app):
    out = io.BytesIO()
    with app.app_context():
        write_template(out, graduation_info.SPEC)
    wb = load_workbook(io.BytesIO(out.getvalue()))
    assert wb.sheetnames == ["毕业信息", "说明", "代码表"]
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == ["学籍号*", "姓名*", "毕业日期", "毕业证书编号", "毕业去向"]
    assert ws.max_row == 1
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert any("普通初中" in (f or "") for f in lists)
    codes = " ".join(str(c.value) for row in wb["代码表"].iter_rows() for c in row if c.value)
    assert "赴港澳台" in codes and "待就业" in codes


def test_row_rules(app):
    ids = students(app, 1)
    gid = graduated(app, ids)[0]
    with app.app_context():
        school = account(db.session, SCHOOL)
        no = xueji(app, ids[0])
        got = graduation_info.clean_row(db.session, school, {
            "xueji_no": " " + no.lower() + " ", "name": name_of(1), "graduated_on": "2025-07-01",
            "certificate_no": None, "destination": "09"})
        assert got == (gid, {"graduated_on": datetime.date(2025, 7, 1), "destination": "09"})
        cases = [
            ({"xueji_no": "G000", "name": name_of(1), "destination": "09"}, "本校没有该学籍号的毕业生", "xueji_no"),
            ({"xueji_no": no, "name": "别人", "destination": "09"}, "姓名与学籍号不符", "name"),
            ({"xueji_no": no, "name": name_of(1)}, "请至少填写毕业日期、毕业证书编号、毕业去向中的一项", None),
            ({"xueji_no": no, "name": name_of(1), "graduated_on": "2999-01-01"}, "毕业日期不能晚于今天", "graduated_on"),
            ({"xueji_no": no, "name": name_of(1), "certificate_no": "A B"}, "不能含空格", "certificate_no"),
        ]
        for values, message, field in cases:
            with pytest.raises(DomainError, match=message) as exc:
                graduation_info.clean_row(db.session, school, values)
            assert exc.value.field == field, values
        assert graduation_info.SPEC.row_key({"xueji_no": no.lower()}) == graduation_info.SPEC.row_key({"xueji_no": no})
        # write goes through update_info.
        graduation_info.write(db.session, school, [got], lambda *a: None)
        db.session.commit()
        g = db.session.get(Graduation, gid)
        assert (g.graduated_on.isoformat(), g.destination) == ("2025-07-01", "09") and DAY != "2025-07-01"


@pytest.mark.parametrize("who", ["county_360102", "city_360100", "sheng_admin"])
def test_only_school_officers_may_use_it(app, who):
    with app.app_context():
        with pytest.raises(PermissionDenied, match="只有学校学籍管理员可以导入毕业信息"):
            graduation_info.may_use(account(db.session, who))
        graduation_info.may_use(account(db.session, SCHOOL))
